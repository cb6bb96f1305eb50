"""Browser environment step latency against BrowserGym, and study throughput with 1/2/4 workers.

  python -m experiments.bench.web [--steps 10] [--seeds 2] [--workers 1,2,4] [--no-browsergym]

Step latency: one `env.step` (the action, then the observation the agent gets: AX tree, DOM
snapshot, element properties, plus the task's validation) on the sandbox shop's front page; the
action is `fill(<search box>, 'query k')`, which stays on the page, repeated `steps` times after
one warm-up step; the table gives the mean and median. Rows:
  ours                    jaxllm.web env, default options (no screenshot)
  ours+screenshot         the same with screenshot=True (BrowserGym always takes one)
  browsergym              BrowserGym's own BrowserEnv running the same task
                          (jaxllm.web.bgym), default settings: its task default slow_mo of
                          1000 ms and its fixed 0.5 s wait after each action
  browsergym slow_mo=0    the same with slow_mo=0 (BrowserGym's fastest setting)
Both drive the same system Chromium. If BrowserGym cannot run, its rows say why and the ratios
that need it are left out.

Throughput: the scripted oracle over every sandbox task x `seeds` seeds through
`jaxllm.web.study.Study` (process workers), wall time from the first worker's spawn to the last
result, for each worker count; episodes per minute.

Ratios (last line, JSON): BrowserGym's mean step time over ours (default vs default, and
like-for-like: slow_mo=0 vs ours+screenshot), and throughput with n workers over 1 worker.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from experiments.bench.common import print_ratios, print_table
import jaxllm.web as web

TASK = "shop.wishlist_add"  # starts on the shop's front page, which has the search box


def _time_steps(env, obs, steps: int) -> list[float]:
  box = web.find_bid(_ours(obs), "textbox", "Search products")
  env.step(f"fill({box!r}, 'warm up')")
  times = []
  for k in range(steps):
    t0 = time.perf_counter()
    obs, _, _, _, _ = env.step(f"fill({box!r}, 'query {k}')")
    times.append(time.perf_counter() - t0)
    assert not obs["last_action_error"], obs["last_action_error"]
  return times


def _ours(obs):
  if "axtree_text" in obs:
    return obs
  from jaxllm.web import bgym  # pylint: disable=import-outside-toplevel
  return bgym.to_jaxllm_obs(obs)


def ours_latency(steps: int, screenshot: bool) -> list[float]:
  env = web.make_env(TASK, screenshot=screenshot)
  try:
    obs, _ = env.reset(seed=0)
    return _time_steps(env, obs, steps)
  finally:
    env.close()


def browsergym_latency(steps: int, slow_mo: int | None) -> list[float]:
  import gymnasium as gym  # pylint: disable=import-outside-toplevel
  from jaxllm.web import bgym  # pylint: disable=import-outside-toplevel
  bgym.prepare_browsers_path()
  (env_id,) = bgym.register_tasks([TASK])
  kwargs = {} if slow_mo is None else {"slow_mo": slow_mo}
  env = gym.make(env_id, pw_chromium_kwargs={"executable_path": web.find_chromium()}, **kwargs)
  try:
    obs, _ = env.reset(seed=0)
    return _time_steps(env, obs, steps)
  finally:
    env.close()


def _stop_browsergym_driver() -> None:
  """BrowserGym keeps a global Playwright driver; stop it so this thread can start ours."""
  try:
    import browsergym.core as core  # pylint: disable=import-outside-toplevel
  except ImportError:
    return
  if core._PLAYWRIGHT is not None:  # pylint: disable=protected-access
    core._PLAYWRIGHT.stop()  # pylint: disable=protected-access
    core._set_global_playwright(None)  # pylint: disable=protected-access


def study_rate(workers: int, seeds: int) -> tuple[float, int, float]:
  from jaxllm.web.study import Study, plan, select_tasks  # pylint: disable=import-outside-toplevel
  workdir = tempfile.mkdtemp(prefix="bench-web-")
  try:
    specs = plan(["oracle"], select_tasks("sandbox"), range(seeds))
    study = Study(workdir, specs, {"oracle": ("oracle", {})}, num_workers=workers, verbose=False)
    t0 = time.perf_counter()
    records = study.run()
    wall = time.perf_counter() - t0
    success = sum(r["success"] for r in records) / len(records)
    return len(records) / wall * 60.0, len(records), success
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--seeds", type=int, default=2)
  parser.add_argument("--workers", default="1,2,4")
  parser.add_argument("--no-browsergym", action="store_true")
  args = parser.parse_args()

  rows, means = [], {}

  def add(name, times):
    means[name] = statistics.mean(times)
    rows.append([name, len(times), 1e3 * means[name], 1e3 * statistics.median(times)])

  add("ours", ours_latency(args.steps, screenshot=False))
  add("ours+screenshot", ours_latency(args.steps, screenshot=True))
  if args.no_browsergym:
    rows.append(["browsergym", "skipped (--no-browsergym)", "", ""])
  else:
    for name, slow_mo in (("browsergym", None), ("browsergym slow_mo=0", 0)):
      try:
        add(name, browsergym_latency(args.steps, slow_mo))
      except Exception as e:  # pylint: disable=broad-except
        rows.append([name, f"skipped: {type(e).__name__}: {str(e).splitlines()[0][:80]}", "", ""])
    _stop_browsergym_driver()
  print_table(f"step latency on the sandbox shop's front page ({TASK}, fill + observation; "
              f"{os.cpu_count()} CPUs)", ["env", "steps", "mean ms", "median ms"], rows)

  rates, study_rows = {}, []
  for n in [int(w) for w in args.workers.split(",")]:
    rate, episodes, success = study_rate(n, args.seeds)
    rates[n] = rate
    study_rows.append([n, episodes, success, rate])
  print_table(f"oracle study throughput over the sandbox tasks ({args.seeds} seeds; wall time "
              "includes worker start-up)", ["workers", "episodes", "success", "episodes/min"],
              study_rows)

  ratios = {}
  if "browsergym" in means:
    ratios["step_speedup_vs_browsergym_default"] = means["browsergym"] / means["ours"]
  if "browsergym slow_mo=0" in means:
    ratios["step_speedup_vs_browsergym_slowmo0_with_screenshots"] = (
      means["browsergym slow_mo=0"] / means["ours+screenshot"])
  base = rates.get(1)
  for n, rate in rates.items():
    if base and n != 1:
      ratios[f"episodes_per_min_{n}w_over_1w"] = rate / base
  print_ratios(ratios)


if __name__ == "__main__":
  main()
