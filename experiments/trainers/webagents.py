"""Web-agent studies through the runner: config -> episode plan -> worker pool -> results table.

The machinery lives in jaxllm.web (`study.Study` schedules on `jaxllm.episodes`' worker pools,
`episode.BrowserRunner` runs and records one episode, `agents` holds the agents); this
file turns a config into a study, checks the user's choices up front (one line each), runs it on
the experiments loop and writes `results.json` with a table of success rates and standard errors
per agent x task.

On the loop, one step is one final episode: `advance` takes the next record the study's workers
produce (`Study.records(skip="final")`), the episode record store is the host state saved with
each checkpoint (every episode), and metrics (success rate so far, errored episodes, mean steps)
go to metrics.jsonl / TensorBoard. SIGTERM checkpoints, kills the workers and exits 143; a rerun
resumes with the episodes that were final at the last checkpoint (episodes in flight run again).
Episodes that errored after their retries stay final for this workdir.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from jaxllm.web import BrowserNotFoundError, find_chromium
from jaxllm.web.agents import AGENTS
from jaxllm.episodes.records import RecordStore
from jaxllm.web.study import BACKENDS, Limits, Study, plan, select_tasks, summarize

AGENT_KEYS = ("base_url", "model", "api_key_env", "temperature", "max_tokens", "use_thinking",
              "max_retries", "max_obs_chars", "max_history", "request_timeout_s")


def agent_table(config: ml_collections.ConfigDict) -> dict[str, tuple[str, dict]]:
  """label -> (agent name, kwargs) for every agent the config names."""
  names = [a.strip() for a in config.agents.split(",") if a.strip()]
  if not names:
    raise UserError("no agents selected; set --config.agents=oracle (or generic)")
  table = {}
  for name in names:
    if name not in AGENTS:
      raise UserError(f"unknown agent '{name}'; valid: {', '.join(sorted(AGENTS))} "
                      "(--config.agents=NAME[,NAME])")
    if name == "generic":
      if not config.agent.base_url:
        raise UserError("agent 'generic' needs an OpenAI-compatible endpoint: pass "
                        "--config.agent.base_url=http://HOST:PORT/v1 (e.g. python -m jaxllm.serve)")
      table[name] = (name, {k: config.agent[k] for k in AGENT_KEYS})
    else:
      table[name] = (name, {})
  return table


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  # ---------------------------------------------------------------- checks
  if config.backend not in BACKENDS:
    raise UserError(f"unknown backend '{config.backend}'; valid: {', '.join(BACKENDS)} "
                    "(--config.backend=process)")
  if config.backend == "ray":
    try:
      import ray  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
      raise UserError("backend 'ray' needs Ray: pip install -e '.[ray]'") from None
  if config.num_seeds < 1 or config.num_workers < 1:
    raise UserError(f"num_seeds={config.num_seeds} and num_workers={config.num_workers} must be "
                    ">= 1")
  try:
    tasks = select_tasks(config.tasks)
  except ValueError as e:
    raise UserError(str(e)) from None
  agents = agent_table(config)
  try:
    find_chromium()
  except BrowserNotFoundError as e:
    raise UserError(str(e)) from None

  # ---------------------------------------------------------------- study
  seeds = range(config.seed, config.seed + config.num_seeds)
  specs = plan(agents, tasks, seeds)
  t = config.timeouts
  store = RecordStore(workdir)
  study = Study(workdir, specs, agents, store=store, num_workers=config.num_workers, backend=config.backend,
                limits=Limits(t.action_s, t.agent_s, t.episode_s, t.startup_s),
                max_retries=config.max_retries, max_steps=config.max_steps,
                timeout_ms=config.browser_timeout_ms, screenshots=config.screenshots,
                headless=config.headless, ray_address=config.ray_address or None)
  print(f"web study: {len(agents)} agent(s) x {len(tasks)} task(s) x {len(seeds)} seed(s) = "
        f"{len(specs)} episodes on {config.num_workers} {config.backend} worker(s)", flush=True)
  records = run_on_loop(study, specs, workdir)

  # ---------------------------------------------------------------- results
  rows = summarize(records)
  out = {"episodes": len(records),
         "completed": sum(r["status"] == "completed" for r in records),
         "errored": sum(r["status"] == "errored" for r in records),
         "success_rate": {a: rows[f"{a} / ALL"]["success"] for a in agents},
         "relaunched": sum(r["attempts"] > 1 for r in records),
         "wall_s": study.wall_s, "rows": rows,
         "errors": {r["key"]: f"{r['error_kind']}: {r['error']}" for r in records
                    if r["status"] == "errored"}}
  write_results(workdir, out, rows, title=f"web study: success rate (errored episodes count as "
                                          f"failures), {len(seeds)} seed(s), workdir {workdir}")
  return out


def run_on_loop(study: Study, specs, workdir: str) -> list[dict]:
  """Runs the study as `runtime.train` steps, one per final episode (module docstring)."""
  mesh = runtime.make_mesh({"data": 1}, devices=jax.local_devices()[:1])
  source = None

  def advance(state, step):
    nonlocal source
    if source is None:  # after the loop restored the store: what is final is skipped
      source = study.records(skip="final")
    next(source, None)  # None: the store already holds every episode (a resumed, finished run)
    finals = list(study.store.finals().values())
    done = [r for r in finals if r["status"] == "completed"]
    return {"episodes": state["episodes"] + 1}, {
        "episodes": float(len(finals)), "errored": float(len(finals) - len(done)),
        "success_rate": float(np.mean([bool(r["success"]) for r in finals])) if finals else 0.0,
        "mean_steps": float(np.mean([r["steps"] for r in finals])) if finals else 0.0}

  init_fn = lambda: {"episodes": jnp.zeros((), jnp.int32)}
  try:
    runtime.train(workdir=workdir, mesh=mesh, init_fn=init_fn, advance=advance,
                  state_sharding=runtime.replicated_sharding(jax.eval_shape(init_fn), mesh),
                  num_steps=len(specs), host={"episodes": study.store}, log_every=1,
                  checkpoint_every=1, keep_checkpoints=2, name="study",
                  progress_keys=("success_rate", "errored"), async_checkpoint=False)
  finally:
    if source is not None:
      source.close()  # kills the workers if the loop stopped early (SIGTERM, an error)
  finals = study.store.finals()
  return [finals[s.key] for s in specs if s.key in finals]

