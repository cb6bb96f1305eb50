"""PAPRIKA trainer: scenario pools -> scripted BC data -> base model -> arms x rounds -> table.

Sections: groups and pools -> base model (SFT from scratch on the scripted noisy legal-move
policy's trajectories, resumable, in base.dir; or a local HF checkpoint) -> the base model scored
on the eval scenarios (round 0, cached) -> arms -> results and plots.

An arm is `train.rounds` rounds, each in `<workdir>/<arm>/round<r>/`:
  1. choose `collect.scenarios_per_round` train scenarios: a category (group/difficulty) per
     scenario, by UCB on the learning potential (rpo_ucb) or in proportion to the categories'
     sizes (sft, rpo), then a scenario of that category uniformly;
  2. collect `collect.samples_per_scenario` trajectories of each with the current parameters
     (`jaxllm.paprika.collect`: every live game in one batched generate per turn), saved as
     trajectories.jsonl (a rerun reuses them, and replays the curriculum's updates from them);
  3. pairs (`jaxllm.paprika.pairs`: chosen = the fewest-turn success, ...), saved as pairs.jsonl;
  4. one `runtime.run` of `epochs` passes over the round's data (resumable, checkpointed): RPO on
     the pairs with the round's starting parameters as the reference (log-probs precomputed), or
     SFT on the chosen chats (agent tokens only), a fresh optimiser per round (cosine, 4% warm-up);
  5. the new parameters scored on every group's eval scenarios (eval.json, cached).
Nothing is selected on the eval scenarios: the rounds, learning rates and sizes are config values.
"""
from __future__ import annotations

import json
import math
import time

import flax.nnx as nnx
import jax
import numpy as np

from experiments import runtime
from experiments.configs.paprika import ARMS
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import paths
from experiments.trainers import llm_base, preference
from experiments.trainers import sft as sft_trainer
from jaxllm import train as llm_train
from jaxllm.paprika import games as _games  # noqa: F401  (registers every group)
from jaxllm.paprika.collect import (CollectConfig, collect, make_sampler, read_jsonl,
                                    write_jsonl)
from jaxllm.paprika.curriculum import (ProportionalCurriculum, UCBCurriculum,
                                       learning_potential)
from jaxllm.paprika.evaluate import summarize
from jaxllm.paprika.games.base import GROUPS, Scenario
from jaxllm.paprika.pairs import group_by_scenario, select_pairs, training_messages
from jaxllm.paprika.policies import ScriptedAgent, play


# ---------------------------------------------------------------------------------------------
# groups and pools
# ---------------------------------------------------------------------------------------------
def parse_list(text: str, valid, what: str) -> list[str]:
  items = [a.strip() for a in text.split(",") if a.strip()]
  bad = [a for a in items if a not in valid]
  if not items or bad:
    raise UserError(f"{what}={text!r}; valid: comma-separated {', '.join(valid)}")
  return list(dict.fromkeys(items))


def groups_of(config) -> tuple[list[str], list[str]]:
  """(training groups, evaluated groups)."""
  groups = parse_list(config.data.groups, tuple(GROUPS), "data.groups")
  hold = config.data.holdout
  if hold and hold not in groups:
    raise UserError(f"data.holdout={hold!r} is not one of data.groups ({', '.join(groups)})")
  train = [g for g in groups if g != hold]
  if not train:
    raise UserError("no group is left to train on; drop data.holdout or add groups")
  return train, groups


def group_options(config, field: str = "options") -> dict:
  text = config.data[field]
  try:
    opts = json.loads(text or "{}")
  except json.JSONDecodeError as e:
    raise UserError(f"data.{field} is not JSON ({e}); e.g. '{{\"mastermind\": {{\"length\": 5}}}}'"
                    ) from None
  if not isinstance(opts, dict) or any(g not in GROUPS or not isinstance(v, dict)
                                       for g, v in opts.items()):
    raise UserError(f"data.{field} must map group names to option dicts; got {opts!r}")
  return opts


def scenario_pools(config, groups) -> dict[str, dict[str, list[Scenario]]]:
  opts, eval_opts = group_options(config), group_options(config, "eval_options")
  pools = {"train": {}, "eval": {}}
  for g in groups:
    for split, n in (("train", config.data.train_scenarios), ("eval", config.data.eval_scenarios)):
      o = dict(opts.get(g, {}), **(eval_opts.get(g, {}) if split == "eval" else {}))
      try:
        pools[split][g] = GROUPS[g].scenarios(split, n=n, seed=config.data.seed, **o)
      except (TypeError, ValueError) as e:
        raise UserError(f"data options for {g} ({o}): {e}") from None
  return pools


def bc_chats(config, pools, train_groups) -> list:
  """The scripted noisy legal-move policy's trajectories on the training groups' train pools."""
  lo, hi = config.base.noise
  rng = np.random.default_rng([config.data.seed, 7])
  chats, won = [], []
  for g in train_groups:
    for s in pools["train"][g]:
      for _ in range(config.base.bc_per_scenario):
        agent = ScriptedAgent(float(rng.uniform(lo, hi)), seed=int(rng.integers(2**31)))
        rec = play(s, agent, terse=config.data.terse)
        won.append(rec["success"])
        chats.append(training_messages(rec))
  print(f"[paprika] BC data: {len(chats)} scripted trajectories over {len(train_groups)} groups, "
        f"{100 * np.mean(won):.0f}% won", flush=True)
  return chats


# ---------------------------------------------------------------------------------------------
# collection and evaluation
# ---------------------------------------------------------------------------------------------
def collect_config(config, seed: int, evaluation: bool = False) -> CollectConfig:
  c, e = config.collect, config.eval
  return CollectConfig(
      samples_per_scenario=e.samples_per_scenario if evaluation else c.samples_per_scenario,
      max_new_tokens=c.max_new_tokens, temperature=e.temperature if evaluation else c.temperature,
      min_p=e.min_p if evaluation else c.min_p, max_context=c.max_context, terse=config.data.terse,
      max_invalid=c.max_invalid, env_workers=c.env_workers, seed=seed)


def evaluate_params(sampler, tokenizer, params, config, pools, groups, seed) -> dict:
  sampler.update(params)
  scen = [s for g in groups for s in pools["eval"][g]]
  t0 = time.perf_counter()
  recs = collect(sampler, tokenizer, scen, collect_config(config, seed, evaluation=True),
                 make_game=game_factory(config))
  table = summarize(recs)
  table["ALL"]["seconds"] = time.perf_counter() - t0
  return dict(table)


def arm_name(group: str, difficulty: str, arms_by: str) -> str:
  return group if arms_by == "group" else f"{group}/{difficulty}"


def categories(pools, groups, arms_by: str = "category") -> dict[str, list[Scenario]]:
  """Curriculum arm -> its train scenarios; arms are (group, difficulty) or whole groups."""
  if arms_by not in ("category", "group"):
    raise UserError(f"train.arms_by={arms_by!r}; valid: category, group")
  out: dict[str, list[Scenario]] = {}
  for g in groups:
    for s in pools["train"][g]:
      out.setdefault(arm_name(g, s.difficulty, arms_by), []).append(s)
  return out


def game_factory(config):
  """scenario -> a fresh game: terse or verbose text, simulated groups on the env endpoint if
  data.env_base_url is set."""
  endpoint = None
  if config.data.env_base_url:
    from jaxllm.client import ChatClient
    if not config.data.env_model:
      raise UserError("data.env_base_url is set but data.env_model is empty; give the model name "
                      "the endpoint serves")
    endpoint = ChatClient(config.data.env_base_url, config.data.env_model)

  def make(s: Scenario):
    spec = GROUPS[s.group]
    if spec.simulated and endpoint is not None:
      return spec.make(verbose=not config.data.terse, endpoint=endpoint)
    return spec.make(verbose=not config.data.terse)

  return make


# ---------------------------------------------------------------------------------------------
# one round's update
# ---------------------------------------------------------------------------------------------
def round_batches(arm, config, tokenizer, pairs, logits_fn, params, pad_id):
  """(arrays [N, T] of the round's examples, N): `preference.example_arrays` with this config."""
  return preference.example_arrays(arm, tokenizer, pairs, logits_fn, params, pad_id,
                                   max_len=config.collect.max_context,
                                   batch_size=config.train.batch_size,
                                   exclude=eos_ids(config, tokenizer), name="paprika")


def eos_ids(config, tokenizer) -> tuple[int, ...]:
  """Token ids the DPO log-ratio skips (train.exclude_eos)."""
  return preference.eos_ids(tokenizer) if config.train.exclude_eos else ()


def train_round(arm, config, round_dir, mesh, rules, graphdef, params, arrays, n, seed, exclude):
  return preference.train_round(arm, config.train, round_dir, mesh, rules, graphdef, params,
                                arrays, n, seed, exclude, meta={"config": config.to_dict()})


# ---------------------------------------------------------------------------------------------
# one arm
# ---------------------------------------------------------------------------------------------
def run_arm(arm, config, workdir, mesh, rules, graphdef, base_params, tokenizer, sampler, pools,
            train_groups, eval_groups, base_eval):
  c = config.collect
  cats = categories(pools, train_groups, config.train.arms_by)
  names = sorted(cats)
  cur = (UCBCurriculum(names, alpha=config.train.ucb_alpha) if arm == "rpo_ucb"
         else ProportionalCurriculum(names, [len(cats[a]) for a in names]))
  logits_fn = llm_train.nnx_logits_fn(graphdef)
  params = base_params
  rounds = [{"round": 0, "trajectories": 0, "eval": base_eval}]
  sampled = 0
  for r in range(1, config.train.rounds + 1):
    rdir = paths.join(workdir, arm, f"round{r}")
    paths.makedirs(rdir)
    rng = np.random.default_rng([config.seed, ARMS.index(arm), r])
    tpath = paths.join(rdir, "trajectories.jsonl")
    if paths.exists(tpath):
      trajs = read_jsonl(tpath)
    else:
      picks = cur.choose_batch(c.scenarios_per_round, rng)
      scen = [cats[a][int(rng.integers(len(cats[a])))] for a in picks]
      sampler.update(params)
      t0 = time.perf_counter()
      trajs = collect(sampler, tokenizer, scen, collect_config(config, seed=config.seed * 1000 + r),
                      make_game=game_factory(config))
      print(f"[paprika] {arm} round {r}: {len(trajs)} trajectories in "
            f"{time.perf_counter() - t0:.0f}s, {100 * np.mean([t['success'] for t in trajs]):.0f}%"
            " won", flush=True)
      if jax.process_index() == 0:
        write_jsonl(tpath, trajs)
    sampled += len(trajs)
    for key, group in group_by_scenario(trajs).items():
      s = group[0]["scenario"]
      cur.update(arm_name(s["group"], s["difficulty"], config.train.arms_by),
                 learning_potential([t["turns"] for t in group], [t["success"] for t in group],
                                    group[0]["max_turns"]))
    pairs = select_pairs(trajs, np.random.default_rng([config.seed, r, 11]),
                         config.collect.threshold)
    if jax.process_index() == 0:
      write_jsonl(paths.join(rdir, "pairs.jsonl"), pairs)
    arrays, n = round_batches(arm, config, tokenizer, pairs, logits_fn, params, sampler.pad_id)
    info = {"round": r, "trajectories": sampled, "pairs": len(pairs),
            "pairs_same": int(sum(p["same"] for p in pairs)),
            "collect_success": float(np.mean([t["success"] for t in trajs]))}
    if n == 0:
      print(f"[paprika] {arm} round {r}: no successful trajectory, nothing to train on",
            flush=True)
    else:
      params, tinfo = train_round(arm, config, rdir, mesh, rules, graphdef, params, arrays, n,
                                  config.seed * 1000 + r, eos_ids(config, tokenizer))
      info.update(tinfo)
    key = {"arm": arm, "round": r, "eval": config.eval.to_dict(), "seed": config.seed,
           "collect": config.collect.to_dict(),
           "pools": [config.data.seed, config.data.eval_scenarios, config.data.options,
                     config.data.eval_options]}
    info["eval"] = llm_base.cached(
        paths.join(rdir, "eval.json"), key,
        lambda: evaluate_params(sampler, tokenizer, params, config, pools, eval_groups,
                                seed=config.seed * 1000 + 500 + r))
    if arm == "rpo_ucb":
      info["curriculum"] = cur.state()
    rounds.append(info)
    a = info["eval"]["ALL"]
    print(f"[paprika] {arm} round {r}: eval success {a['success']:.3f} +- {a['success_se']:.3f}, "
          f"turns {a['turns']:.2f}", flush=True)
  return rounds


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
def train_and_evaluate(config, workdir: str) -> dict:
  arms = parse_list(config.arms, ARMS, "arms")
  train_groups, eval_groups = groups_of(config)
  mesh = runtime.make_mesh(config.mesh)
  rules = sft_trainer.sharding_rules(config, mesh)
  divisor = runtime.mesh.batch_size_divisor(mesh)
  if config.train.batch_size % divisor:
    raise UserError(f"train.batch_size={config.train.batch_size} is not divisible by the "
                    f"{divisor} devices on mesh axes data x fsdp; change it or the mesh")
  pools = scenario_pools(config, eval_groups)
  base_dir = config.base.dir or paths.join(workdir, "base")
  graphdef, base_params, tokenizer = llm_base.build_base(
      config, mesh, rules, base_dir, lambda: bc_chats(config, pools, train_groups),
      name="paprika")
  sampler = make_sampler(nnx.merge(graphdef, base_params), tokenizer,
                         collect_config(config, config.seed))
  key = {"eval": config.eval.to_dict(), "collect": config.collect.to_dict(),
         "pools": [config.data.seed, config.data.eval_scenarios, config.data.options,
                   config.data.eval_options],
         "groups": eval_groups, "seed": config.seed}
  base_eval = llm_base.cached(
      paths.join(workdir, "base_eval.json"), key,
      lambda: evaluate_params(sampler, tokenizer, base_params, config, pools, eval_groups,
                              seed=config.seed * 1000 + 500))
  a = base_eval["ALL"]
  print(f"[paprika] base model: eval success {a['success']:.3f} +- {a['success_se']:.3f}, "
        f"turns {a['turns']:.2f}", flush=True)
  results = {"seed": config.seed, "train_groups": train_groups, "eval_groups": eval_groups,
             "holdout": config.data.holdout, "base": base_eval, "arms": {}}
  for arm in arms:
    results["arms"][arm] = run_arm(arm, config, workdir, mesh, rules, graphdef, base_params,
                                   tokenizer, sampler, pools, train_groups, eval_groups,
                                   base_eval)
  rows = {"base model": row(base_eval, eval_groups, config.data.holdout)}
  for arm, rounds in results["arms"].items():
    rows[f"{arm} (round {rounds[-1]['round']})"] = row(rounds[-1]["eval"], eval_groups,
                                                        config.data.holdout)
  results["plot"] = plot_rounds(paths.join(workdir, "rounds.png"), results, eval_groups)
  write_results(workdir, results, rows,
                title=f"PAPRIKA (seed {config.seed}): eval success rate per group, "
                      f"{config.data.eval_scenarios} held-out scenarios x "
                      f"{config.eval.samples_per_scenario} samples")
  return results


def row(table, groups, holdout) -> dict:
  out = {"ALL": table["ALL"]["success"], "turns": table["ALL"]["turns"]}
  for g in groups:
    if g in table:
      out[g + ("*" if g == holdout else "")] = table[g]["success"]
  return out


def plot_rounds(path, results, groups) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  keys = ["ALL"] + list(groups)
  cols = min(4, len(keys))
  nrows = math.ceil(len(keys) / cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
  for ax, k in zip(axes.flat, keys):
    for arm, rounds in results["arms"].items():
      xs = [r["trajectories"] for r in rounds]
      ys = [r["eval"][k]["success"] for r in rounds if k in r["eval"]]
      es = [r["eval"][k]["success_se"] for r in rounds if k in r["eval"]]
      if len(ys) == len(xs):
        ax.errorbar(xs, ys, yerr=es, marker="o", ms=3, capsize=2, label=arm)
    ax.set_title(k + (" (held out)" if k == results["holdout"] else ""), fontsize=9)
    ax.set_xlabel("trajectories sampled", fontsize=8)
    ax.set_ylabel("eval success", fontsize=8)
  for ax in list(axes.flat)[len(keys):]:
    ax.axis("off")
  axes.flat[0].legend(fontsize=7)
  fig.tight_layout()
  if jax.process_index() == 0:
    fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
