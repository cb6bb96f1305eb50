"""RACTD pipeline: dataset -> EDM teacher -> reward model -> reward-aware CTM student -> evaluation.

Sections: task and mesh -> dataset (load, or generate/reuse via jaxrl.behavior) -> on-device data
-> networks -> teacher -> reward -> student -> evaluation -> results.

Every training stage is one `experiments.runtime.run` with its own checkpoint directory under the
workdir (teacher/, reward/, student/), so a rerun restores each finished stage from its last
checkpoint (nothing retrains) and continues the interrupted one from its latest checkpoint. A
stage's config section gives its optimiser (`<stage>.optim`, runtime.optim.make_optimizer), EMA
decay, batch size and the loop's cadence (runtime.loop_args).
Evaluations are cached as eval_teacher.json / eval_student.json, keyed by the stage's step and the
evaluation settings. results.json holds, for `teacher` (Heun, 2 * bins - 1 NFE) and `student`
(CTM, `student_steps` NFE): normalized_score, score_stderr, nfe, seconds_per_action (batch-1
latency of one jitted policy call; for Maze2D, of one plan), plus raw returns and timings.
"""
from __future__ import annotations

import json
import os
import time

import flax.nnx as nnx
import jax
import ml_collections

from experiments import runtime
from experiments.configs import datasets as datasets_config
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import optim, paths
from experiments.trainers import datasets as datasets_trainer
from jaxdiff import edm
from jaxrl import data as jdata
from jaxrl.evaluation import Evaluator
from jaxrl.ractd import data as rdata
from jaxrl.ractd import losses, maze, networks, policy, train


def parse_task(task: str) -> tuple[str, str]:
  """(jaxrl env name, data kind) for 'hopper-medium', 'maze2d-large', ..."""
  if task.startswith("maze2d-"):
    return "pointmaze-" + task.split("-", 1)[1], "states"
  env = task.split("-", 1)[0]
  if env not in ("hopper", "walker2d", "halfcheetah"):
    raise UserError(f"config.task={task!r}: expected <hopper|walker2d|halfcheetah>-<level> or "
                    "maze2d-<umaze|medium|large>")
  return env, "chunks"


def load_dataset(config: ml_collections.ConfigDict, env: str) -> jdata.OfflineDataset:
  if config.data.path:
    try:
      return jdata.load(config.data.path, env=env)
    except jdata.DatasetError as e:
      raise UserError(str(e)) from None
  preset = config.data.preset or config.task
  if preset not in datasets_config.PRESETS:
    raise UserError(f"config.data.preset={preset!r} is not a datasets.py preset; valid: "
                    f"{', '.join(datasets_config.PRESETS)}; or give config.data.path")
  dcfg = datasets_config.get_config(preset)
  dcfg.data_dir = config.data.data_dir
  spec = datasets_trainer.make_spec(dcfg)
  if spec.env != env:
    raise UserError(f"config.data.preset={preset!r} makes {spec.env} data but config.task="
                    f"{config.task!r} needs {env}")
  s = dcfg.sac  # the behaviour SAC runs on the loop: an interrupted build resumes
  path, _ = datasets_trainer.generate(spec, config.data.data_dir or None, s.log_every,
                                      s.checkpoint_every, s.keep_checkpoints)
  return jdata.load(path, env=env)


STAGES = ("teacher", "reward", "student")


def stage_of(config: ml_collections.ConfigDict, name: str) -> train.Stage:
  """The library's Stage for config.<name>: batch size, EMA decay, optimiser from <name>.optim."""
  s = config[name]
  return train.Stage(batch_size=s.batch_size, ema_decay=s.ema_decay,
                     tx=optim.make_optimizer(s.optim, s.num_steps, prefix=f"{name}.optim"))


def build_networks(config, prep: rdata.Prepared):
  """(teacher, student, reward) FunctionalNets with fresh parameters."""
  m = config.model
  kw = dict(down_dims=m.down_dims, kernel_size=m.kernel_size, emb_dim=m.emb_dim,
            cond_embed_dim=m.cond_embed_dim, dropout_rate=m.dropout)
  teacher = networks.FunctionalNet(networks.chunk_unet(
      prep.channels, prep.cond_dim, student=False, seed=config.seed, **kw))
  student = networks.FunctionalNet(networks.chunk_unet(
      prep.channels, prep.cond_dim, student=True, seed=config.seed + 1, **kw))
  reward = networks.FunctionalNet(networks.RewardMLP(
      prep.reward_in, m.reward_widths, rngs=nnx.Rngs(config.seed + 2)))
  return teacher, student, reward


def _check(config) -> dict[str, train.Stage]:
  """UserError for a bad setting, before any work; the three stages otherwise."""
  for name in STAGES:
    s = config[name]
    runtime.check_schedule(s.num_steps, s.steps_per_call, log_every=s.log_every,
                           checkpoint_every=s.checkpoint_every)
  stages = {name: stage_of(config, name) for name in STAGES}
  if config.student.dsm_stop not in ("t", "sigma_min"):
    raise UserError(f"student.dsm_stop={config.student.dsm_stop!r}: choose 't' or 'sigma_min'")
  if config.eval.student_steps < 1 or config.eval.teacher_bins < 2:
    raise UserError("eval.student_steps must be >= 1 and eval.teacher_bins >= 2")
  return stages


def _run_stage(name, config, workdir, mesh, init_fn, step_fn, consts):
  state_sharding = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
  t0 = time.perf_counter()
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, consts=consts, name=name,
                       checkpoint_subdir=name, meta={"config": config.to_dict()},
                       **runtime.loop_args(config[name]))
  return result, time.perf_counter() - t0


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  stages = _check(config)
  env, kind = parse_task(config.task)
  if kind == "chunks" and config.model.horizon % 2 ** (len(config.model.down_dims) - 1):
    raise UserError(f"model.horizon={config.model.horizon} must be divisible by "
                    f"2^(len(model.down_dims)-1)")
  # ---------------------------------------------------------------- mesh
  mesh = runtime.make_mesh(config.mesh)
  paths.makedirs(workdir)

  # ---------------------------------------------------------------- dataset
  t0 = time.perf_counter()
  ds = load_dataset(config, env)
  print(f"[ractd] {ds.summary()}", flush=True)
  prep = rdata.prepare(ds, kind, config.model.horizon, config.data.gamma, mesh=mesh)
  if jax.process_index() == 0:
    paths.write_text(paths.join(workdir, "normalizers.json"), prep.scalers_json())
  seconds = {"dataset": time.perf_counter() - t0}
  ecfg = edm.EDMConfig.from_config(config.edm)
  teacher_net, student_net, reward_net = build_networks(config, prep)

  # ---------------------------------------------------------------- teacher
  init_fn, step_fn = train.make_teacher(prep, teacher_net, stages["teacher"], ecfg, config.seed,
                                        mesh)
  teacher, seconds["teacher"] = _run_stage("teacher", config, workdir, mesh, init_fn, step_fn,
                                           prep.data)
  teacher_params = teacher.state["ema"] if "ema" in teacher.state else teacher.state["params"]

  # ---------------------------------------------------------------- reward model
  init_fn, step_fn = train.make_reward(prep, reward_net, stages["reward"], config.seed + 3, mesh)
  reward, seconds["reward"] = _run_stage("reward", config, workdir, mesh, init_fn, step_fn,
                                         prep.data)

  # ---------------------------------------------------------------- student
  s = config.student
  weights = losses.StudentLoss(alpha=s.alpha, beta=s.beta, reward_weight=s.reward_weight,
                               num_heun_steps=s.num_heun_steps, dsm_stop=s.dsm_stop)
  init_params = networks.student_params_from_teacher(student_net.init_params, teacher_params,
                                                     config.model.emb_dim)
  init_fn, step_fn = train.make_student(prep, student_net, teacher_net, reward_net, init_params,
                                        stages["student"], ecfg, weights, config.seed + 4, mesh)
  consts = {"data": prep.data, "teacher": teacher_params, "reward": reward.state["params"]}
  student, seconds["student"] = _run_stage("student", config, workdir, mesh, init_fn, step_fn,
                                           consts)
  student_params = student.state["ema"] if "ema" in student.state else student.state["params"]

  # ---------------------------------------------------------------- evaluation
  e = config.eval
  shape = (config.model.horizon, prep.channels)
  rows, results = {}, {"task": config.task, "env": env, "dataset": ds.summary(),
                       "steps": {"teacher": teacher.step, "reward": reward.step,
                                 "student": student.step},
                       "train_steps_per_second": {"teacher": teacher.steps_per_second,
                                                  "reward": reward.steps_per_second,
                                                  "student": student.steps_per_second}}
  for who, net, params in (("teacher", teacher_net, teacher_params),
                           ("student", student_net, student_params)):
    if who == "teacher" and e.skip_teacher:
      continue
    sample = policy.make_sampler(who, net, shape, ecfg, num_bins=e.teacher_bins,
                                 steps=e.student_steps, gamma=e.gamma)
    step = teacher.step if who == "teacher" else student.step
    t0 = time.perf_counter()
    out = _cached_eval(workdir, who, {"step": step, "eval": e.to_dict()},
                       lambda: _evaluate(env, kind, sample, params, prep, config))
    seconds[f"eval_{who}"] = time.perf_counter() - t0
    out["nfe"] = policy.nfe(who, e.teacher_bins, e.student_steps)
    results[who] = out
    rows[f"{who} ({out['nfe']} NFE)"] = {k: out[k] for k in (
        "normalized_score", "score_stderr", "return", "nfe", "seconds_per_action")}
  if "teacher" in results:
    results["speedup"] = (results["teacher"]["seconds_per_action"]
                          / results["student"]["seconds_per_action"])
    results["student_over_teacher_score"] = (results["student"]["normalized_score"]
                                             / max(results["teacher"]["normalized_score"], 1e-9))
  results["seconds"] = seconds
  results["student_config"] = {"alpha": s.alpha, "beta": s.beta, "reward_weight": s.reward_weight,
                               "dsm_stop": s.dsm_stop, "num_heun_steps": s.num_heun_steps}
  write_results(workdir, results, rows,
                title=f"RACTD {config.task}: {e.episodes} episodes each (D4RL-normalised)")
  return results


def _evaluate(env, kind, sample, params, prep: rdata.Prepared, config) -> dict:
  e = config.eval
  key = jax.random.PRNGKey(e.seed)
  if kind == "chunks":
    pol = policy.chunk_policy(sample, prep.obs_scaler.shift, prep.obs_scaler.scale)
    kwargs = {"max_episode_steps": e.max_episode_steps} if e.max_episode_steps else {}
    evaluator = Evaluator(env, e.episodes, seed=e.seed, **kwargs)
    try:
      res = evaluator(pol, params, key)
    finally:
      evaluator.close()
    latency = policy.seconds_per_action(pol, params, prep.cond_dim, e.latency_repeats)
  else:
    res, _ = maze.evaluate_planner(env, sample, params, prep.obs_scaler, e.episodes, e.seed, key)
    latency = policy.seconds_per_action(lambda p, c, k: sample(p, c, k), params, prep.cond_dim,
                                        e.latency_repeats)
  s = res.summary()
  return {"normalized_score": s["score"], "score_stderr": s["score_stderr"],
          "return": s["return"], "return_stderr": s["return_stderr"],
          "episode_length": s["length"], "episodes": s["episodes"],
          "scores": [float(x) for x in res.scores], "seconds_per_action": latency}


def _cached_eval(workdir: str, who: str, key: dict, fn) -> dict:
  """Runs fn() unless eval_<who>.json holds a result for the same key (stage step + settings)."""
  path = paths.join(workdir, f"eval_{who}.json")
  if paths.exists(path):
    cached = json.loads(paths.read_text(path))
    if cached.get("key") == json.loads(json.dumps(key)):
      print(f"[ractd] reusing {path}", flush=True)
      return cached["result"]
  result = fn()
  if jax.process_index() == 0:
    paths.write_text(path, json.dumps({"key": key, "result": result}, indent=1, default=float))
  return result


__all__ = ["train_and_evaluate", "parse_task", "load_dataset", "build_networks"]
