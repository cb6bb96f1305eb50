"""SRT trainer: testbed -> base model -> base votes -> one online-RL run per arm -> test -> table.

Sections: checks and mesh -> testbed splits -> base model (SFT from scratch through the sft
trainer, resumable, in base.dir; or a local HF checkpoint) -> base model's scores and votes
(cached) -> arms -> results and plots.

Each arm is one `runtime.train` run in `<workdir>/<arm>/` whose `advance` is one
`jaxllm.rl.OnlineRL.step` (P prompts x n rollouts sampled with the current parameters, rewards
on the host, KL-shaped RLOO advantages, one PPO-clip update); host state = the prompt sampler's
numpy Generator and the early-stopping record, so a killed arm resumes to the same parameters.
Every `train.eval_every` steps the labelled validation split is scored (n samples at T = 1:
accuracy, majority-vote accuracy, confidence thresholds); the best-validation parameters are kept
in `<arm>/best/`. At the end the test split is scored for the final and the best-validation
parameters (the early-stopping mitigation); test is never used to choose anything.
"""
from __future__ import annotations

import json
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import runtime
from experiments.configs.srt import ARMS
from experiments.errors import UserError
from experiments.plotting import plot_runs
from experiments.results import write_results
from experiments.runtime import optim, paths
from experiments.trainers import llm_base
from experiments.trainers import sft as sft_trainer
from experiments.trainers.llm_base import cached
from jaxllm.models import model_shardings
from jaxllm.reasoning import ReasoningSpec, make_splits, sft_chat
from jaxllm.rewards import GroupVote
from jaxllm.rl import OnlineRL, PGConfig
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.sharding import train_state_shardings
from jaxllm.srt import EarlyStopping, RewardSpec, easiest, evaluate, prompt_ids

ARM_REWARDS = {"ground_truth": "ground_truth", "srt": "self_consistency",
               "srt_soft": "self_consistency", "srt_threshold": "self_consistency",
               "srt_pseudo_label": "pseudo_label", "srt_curriculum": "self_consistency",
               "srt_online_filter": "self_consistency"}
PROGRESS = ("reward", "gt/accuracy", "sc/labelled_fraction", "sc/correct_label_fraction",
            "sc/top_answer_share", "entropy", "kl_ref", "response_length")
CURVES = ("{run}/reward", "{run}/gt/accuracy", "{run}_eval/accuracy",
          "{run}_eval/majority_accuracy", "{run}/sc/correct_label_fraction",
          "{run}/sc/labelled_fraction", "{run}/sc/top_answer_share",
          "{run}/sc/distinct_majorities", "{run}/entropy", "{run}/response_length",
          "{run}/kl_ref", "{run}/sc/no_answer_fraction")


# ---------------------------------------------------------------------------------------------
# checks, testbed
# ---------------------------------------------------------------------------------------------
def parse_arms(config) -> list[str]:
  arms = [a.strip() for a in config.arms.split(",") if a.strip()]
  bad = [a for a in arms if a not in ARMS]
  if not arms or bad:
    raise UserError(f"arms={config.arms!r}; valid: comma-separated {', '.join(ARMS)}")
  return list(dict.fromkeys(arms))


def testbed(config):
  d = config.data
  spec = ReasoningSpec(tasks=tuple((n, dict(k)) for n, k in d.tasks),
                       sizes=(("sft", d.sft_size if not config.model_path else 0),
                              ("rl", d.rl_size), ("val", d.val_size), ("test", d.test_size)))
  try:
    return make_splits(spec, d.seed)
  except ValueError as e:
    raise UserError(f"data: {e}") from None


# ---------------------------------------------------------------------------------------------
# base model
# ---------------------------------------------------------------------------------------------
def build_base(config, mesh, rules, splits, base_dir):
  """(graphdef, params, tokenizer): SFT from scratch on the sft split's solutions, or loaded."""
  return llm_base.build_base(config, mesh, rules, base_dir,
                             lambda: [sft_chat(p, config.data.suffix) for p in splits["sft"]],
                             name="srt")


def score(sampler, tokenizer, problems, config, n, seed):
  return evaluate(sampler, tokenizer, problems, config.data.suffix, n=n,
                  max_new_tokens=config.rl.max_new_tokens, temperature=config.rl.temperature,
                  seed=seed)


# ---------------------------------------------------------------------------------------------
# one arm
# ---------------------------------------------------------------------------------------------
def run_arm(arm, config, workdir, mesh, rules, graphdef, base_params, tokenizer, splits,
            base_votes):
  r, t = config.rl, config.train
  arm_dir = paths.join(workdir, arm)
  pool = splits["rl"]
  if arm == "srt_curriculum":
    pool = easiest(pool, [base_votes[p.key] for p in pool], r.curriculum_fraction)
  labels = ({p.key: base_votes[p.key].majority for p in pool}
            if arm == "srt_pseudo_label" else None)
  spec = RewardSpec(ARM_REWARDS[arm], min_majority=r.min_majority if arm == "srt_threshold"
                    else 0.0, soft=arm == "srt_soft",
                    online_keep_fraction=r.online_keep_fraction if arm == "srt_online_filter"
                    else 1.0)
  if r.prompts_per_step > len(pool):
    raise UserError(f"rl.prompts_per_step={r.prompts_per_step} exceeds the {len(pool)} prompts "
                    f"of arm {arm}")
  ids = prompt_ids(tokenizer, pool, config.data.suffix)

  # ---------------------------------------------------------------- state, shardings, step
  tx = optim.make_optimizer(r.optim, t.num_steps, prefix="rl.optim")
  param_sharding = model_shardings(jax.eval_shape(lambda: base_params), mesh, rules)

  def init_fn():
    # A copy: the update donates the train state, and base_params stay the frozen reference.
    return optim.init_train_state(jax.tree.map(jnp.copy, base_params), tx, config.seed)

  state_sharding = train_state_shardings(jax.eval_shape(init_fn), param_sharding, mesh)
  sampling = SamplingParams(max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                            n=r.samples_per_prompt)
  pg = PGConfig(kl_coef=r.kl_coef, entropy_coef=r.entropy_coef, clip_eps=r.clip_eps,
                num_minibatches=r.num_minibatches, num_epochs=r.num_epochs,
                old_logprobs=r.old_logprobs)
  try:
    pg.validate(r.prompts_per_step * r.samples_per_prompt, r.samples_per_prompt)
  except ValueError as e:
    raise UserError(f"rl: {e}") from None
  rl = OnlineRL(graphdef, base_params, tokenizer, sampling, pg, tx, spec.build(labels),
                mesh=mesh, state_sharding=state_sharding, length_bucket=r.length_bucket)

  # ---------------------------------------------------------------- host state, advance, eval
  rng = runtime.RngState([config.seed, ARMS.index(arm)])
  stopper = EarlyStopping(patience=r.patience)
  best = runtime.Checkpointer(arm_dir, keep=2, async_save=False, subdir="best")
  samples_path = paths.join(arm_dir, "samples.jsonl")

  def advance(state, step):
    idx = np.sort(rng.generator.choice(len(pool), r.prompts_per_step, replace=False))
    state, m, rollouts, scored = rl.step(state, base_params, [pool[i] for i in idx],
                                         [ids[i] for i in idx], seed=config.seed * 100003 + step)
    if step % max(t.log_every * 10, 1) == 0 and jax.process_index() == 0:
      with open(samples_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, "question": pool[idx[0]].question,
                            "answer": pool[idx[0]].answer,
                            "rollouts": rollouts.groups()[0][:4],
                            "rewards": scored.rewards[:4].tolist()}) + "\n")
    return state, m

  def eval_fn(state, step):
    rl.sampler.update(state["params"])
    ev = score(rl.sampler, tokenizer, splits["val"], config, r.val_samples, seed=10 ** 6 + step)
    stopper.update(ev.metrics["accuracy"], step)
    if stopper.best_step == step:
      best.save(step, state["params"])
    return dict(ev.metrics, best_accuracy=stopper.best)

  stop_fn = (lambda: stopper.since >= stopper.patience) if r.patience > 0 else None
  t0 = time.perf_counter()
  result = runtime.train(workdir=arm_dir, mesh=mesh, init_fn=init_fn, advance=advance,
                         state_sharding=state_sharding, host={"prompts": rng,
                                                              "early_stopping": stopper},
                         eval_fn=eval_fn, stop_fn=stop_fn, name=arm, progress_keys=PROGRESS,
                         meta={"config": config.to_dict()}, **runtime.loop_args(t))
  seconds = time.perf_counter() - t0

  # ---------------------------------------------------------------- test: final and best-val
  def test(params, tag):
    def go():
      rl.sampler.update(params)
      return score(rl.sampler, tokenizer, splits["test"], config, r.test_samples,
                   seed=2 * 10 ** 6).metrics
    return cached(paths.join(arm_dir, f"test_{tag}.json"), {"step": result.step, "tag": tag,
                                                            "n": r.test_samples}, go)

  out = {"final": test(result.state["params"], "final"), "steps": result.step,
         "best_val_step": stopper.best_step, "best_val_accuracy": stopper.best,
         "seconds": seconds, "steps_per_second": result.steps_per_second}
  if stopper.best_step >= 0 and stopper.best_step in best.all_steps():
    params, _ = best.restore(runtime.abstract_like(jax.eval_shape(lambda: base_params),
                                                   param_sharding), stopper.best_step)
    out["best_val"] = test(params, f"best{stopper.best_step}")
  best.close()
  return out


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  arms = parse_arms(config)
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every, eval_every=t.eval_every)
  if t.steps_per_call != 1:
    raise UserError("train.steps_per_call must be 1 for online RL (one RL step per call)")
  # ---------------------------------------------------------------- mesh, testbed
  mesh = runtime.make_mesh(config.mesh)
  rules = sft_trainer.sharding_rules(config, mesh)
  splits = testbed(config)
  base_dir = config.base.dir or paths.join(workdir, "base")
  print("[srt] testbed: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + f"; arms: {', '.join(arms)}", flush=True)

  # ---------------------------------------------------------------- base model and its votes
  graphdef, base_params, tokenizer = build_base(config, mesh, rules, splits, base_dir)
  sampler = Sampler(nnx.merge(graphdef, base_params), tokenizer)
  key = {"data": config.data.to_dict(), "base": config.base.to_dict(),
         "model_path": config.model_path, "max_new": config.rl.max_new_tokens,
         "temperature": config.rl.temperature}

  def base_eval():
    out = {}
    for split, n in (("val", config.rl.val_samples), ("test", config.rl.test_samples)):
      out[split] = score(sampler, tokenizer, splits[split], config, n, seed=3 * 10 ** 6).metrics
    return out

  base_scores = cached(paths.join(base_dir, "base_scores.json"), key, base_eval)
  print(f"[srt] base model: test accuracy {base_scores['test']['accuracy']:.3f}, majority-vote "
        f"{base_scores['test']['majority_accuracy']:.3f}", flush=True)
  base_votes = {}
  if {"srt_pseudo_label", "srt_curriculum"} & set(arms):
    def votes():
      ev = score(sampler, tokenizer, splits["rl"], config, config.base.eval_samples, seed=7)
      return {p.key: [v.majority, v.majority_fraction] for p, v in zip(splits["rl"], ev.votes)}
    raw = cached(paths.join(base_dir, "rl_votes.json"), dict(key, n=config.base.eval_samples),
                 votes)
    base_votes = {k: GroupVote((), m, f, m is not None, ()) for k, (m, f) in raw.items()}

  # ---------------------------------------------------------------- arms
  results = {"base": base_scores, "arms": {}}
  for arm in arms:
    results["arms"][arm] = run_arm(arm, config, workdir, mesh, rules, graphdef, base_params,
                                   tokenizer, splits, base_votes)

  # ---------------------------------------------------------------- results and plots
  rows = {"base model": {"test_acc": base_scores["test"]["accuracy"],
                         "test_maj_acc": base_scores["test"]["majority_accuracy"]}}
  for arm, o in results["arms"].items():
    rows[arm] = {"test_acc": o["final"]["accuracy"],
                 "test_maj_acc": o["final"]["majority_accuracy"],
                 "steps": o["steps"], "best_val_step": o["best_val_step"],
                 "best_val_test_acc": o.get("best_val", {}).get("accuracy", float("nan"))}
  plot = plot_runs(paths.join(workdir, "curves.png"), {a: paths.join(workdir, a) for a in arms},
                   CURVES, title=f"SRT arms, seed {config.seed}")
  results["plot"] = plot
  write_results(workdir, results, rows, title=f"SRT (seed {config.seed}): accuracy on the "
                                              f"{len(splits['test'])} test prompts, "
                                              f"{config.rl.test_samples} samples each")
  return results
