"""The generic episode runner with no browser: a guess-a-number text game played by scripted agents
over a pool of spawned workers. The records and step logs hold exactly what the game produced; a
hung agent is killed by the per-step timeout and its episode relaunched on a fresh worker; a worker
that dies mid-episode is relaunched; a rerun skips completed episodes and reruns errored ones; the
record store round-trips through state_dict / load_state_dict as an online loop's host state."""
import dataclasses
import json
import math
import os
import subprocess
import sys
import time

import psutil
import pytest

from jaxllm.episodes import (GymRunner, Limits, RecordStore, RunnerFactory, Scheduler, plan,
                             run_episode, summarize)
from jaxllm.episodes.spec import EpisodeSpec, episode_dir

HERE = __name__  # the workers import this module by name to build the game and the agents


# ---------------------------------------------------------------- the game and its agents
class GuessNumber:
  """Task "guess.<n>": find a secret in 1..n (1 + (5 seed + 2) mod n). Each wrong guess gets
  "higher" or "lower" and reward -0.1; the right one "correct", reward 1 and terminates."""

  def __init__(self, task_id: str):
    name, _, n = task_id.partition(".")
    if name != "guess" or not n.isdigit():
      raise ValueError(f"no such game {task_id!r}")
    self.task = int(n)  # what the agent's reset(task) gets: the range

  def reset(self, seed: int):
    self.secret = 1 + (5 * seed + 2) % self.task
    return f"guess a number from 1 to {self.task}", {"n": self.task}

  def step(self, action):
    guess = int(action)
    if guess == self.secret:
      return "correct", 1.0, True, False, {"guess": guess}
    return ("higher" if guess < self.secret else "lower"), -0.1, False, False, {"guess": guess}


class Bisect:
  """Binary search; answers with the bare action (an int)."""

  def reset(self, task):
    self.lo, self.hi, self.guess = 1, task, None

  def act(self, obs):
    if obs == "higher":
      self.lo = self.guess + 1
    elif obs == "lower":
      self.hi = self.guess - 1
    self.guess = (self.lo + self.hi) // 2
    return self.guess


@dataclasses.dataclass
class Decision:
  action: int
  think: str


class Linear:
  """Counts up from 1; answers with a decision object (action and thinking). Raises on the
  ranges in `refuse` (an agent error)."""

  def __init__(self, refuse=()):
    self.refuse = set(refuse)

  def reset(self, task):
    self.n, self.guess = task, 0

  def act(self, obs):
    if self.guess == 0 and self.n in self.refuse:
      raise ValueError(f"guess.{self.n} is not for me")
    self.guess += 1
    return Decision(self.guess, f"try {self.guess}")


def _first_time(flag: str) -> bool:
  """True for exactly one caller across all processes (creates `flag`)."""
  try:
    os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
    return True
  except FileExistsError:
    return False


class Faulty(Bisect):
  """Bisect that, the first time any worker reaches decision `at_step`, hangs or exits."""

  def __init__(self, flag: str, fault: str, at_step: int = 1):
    self.flag, self.fault, self.at_step, self.steps = flag, fault, at_step, 0

  def reset(self, task):
    super().reset(task)
    self.steps = 0

  def act(self, obs):
    if self.steps == self.at_step and _first_time(self.flag):
      if self.fault == "hang":
        time.sleep(120)
      os._exit(3)
    self.steps += 1
    return super().act(obs)


def factory(agents, max_steps=6):
  return RunnerFactory("jaxllm.episodes:GymRunner",
                       {"env": f"{HERE}:GuessNumber", "max_steps": max_steps,
                        "agents": {k: (f"{HERE}:{cls}", kw) for k, (cls, kw) in agents.items()}})


class Events:
  def __init__(self):
    self.events = []

  def __call__(self, kind, spec, worker, payload):
    if kind != "beat":
      self.events.append((kind, spec.key, worker.pid, payload))

  def of(self, kind):
    return [e for e in self.events if e[0] == kind]


# secrets: guess.8 seeds 0, 1, 2 -> 3, 8, 5; guess.16 -> 3, 8, 13
BISECT_TURNS = {"guess.8": [3, 4, 3], "guess.16": [4, 1, 4]}


# ---------------------------------------------------------------- tests
def test_pool_records_exactly_what_the_game_produced(tmp_path):
  specs = plan(["bisect", "linear"], ["guess.8", "guess.16"], range(3))
  events = Events()
  records = Scheduler(str(tmp_path), specs, factory({"bisect": ("Bisect", {}),
                                                     "linear": ("Linear", {})}),
                      num_workers=2, on_event=events, verbose=False).run()
  assert [r["key"] for r in records] == [s.key for s in specs]
  assert all(r["status"] == "completed" and r["attempts"] == 1 for r in records)
  assert len({r["pid"] for r in records}) == 2 and len(events.of("start")) == 12
  by = {(r["agent"], r["task_id"]): [] for r in records}
  for r in records:
    by[(r["agent"], r["task_id"])].append(r)
  for task, turns in BISECT_TURNS.items():
    assert [r["steps"] for r in by[("bisect", task)]] == turns
    assert [r["return"] for r in by[("bisect", task)]] == pytest.approx(
        [1 - 0.1 * (t - 1) for t in turns])
    assert all(r["success"] and r["terminated"] and r["reward"] == 1.0
               for r in by[("bisect", task)])
  # Linear needs `secret` turns; six is the limit, so 8 and 13 are truncated failures.
  linear = by[("linear", "guess.8")] + by[("linear", "guess.16")]
  assert [r["steps"] for r in linear] == [3, 6, 5, 3, 6, 6]
  assert [r["success"] for r in linear] == [True, False, True, True, False, False]
  assert [r["truncated"] for r in linear] == [False, True, False, False, True, True]
  assert linear[1]["return"] == pytest.approx(-0.6) and linear[1]["reward"] == -0.1

  rows = summarize(records)
  assert rows["bisect / ALL"] == {"episodes": 6, "success": 1.0, "stderr": 0.0, "errored": 0,
                                  "mean_steps": pytest.approx(19 / 6)}
  assert rows["linear / ALL"] == {"episodes": 6, "success": 0.5,
                                  "stderr": pytest.approx(math.sqrt(0.25 / 6)), "errored": 0,
                                  "mean_steps": pytest.approx(29 / 6)}
  assert rows["linear / guess.16"]["success"] == pytest.approx(1 / 3)

  def steps(agent, task, seed):
    path = os.path.join(episode_dir(str(tmp_path), EpisodeSpec(agent, task, seed)), "steps.jsonl")
    with open(path, encoding="utf-8") as f:
      return [json.loads(line) for line in f]

  rows16 = steps("bisect", "guess.16", 0)  # secret 3: 8 lower, 4 lower, 2 higher, 3 correct
  assert [(s["step"], s["observation"], s.get("action"), s.get("reward"), s.get("info"))
          for s in rows16] == [
      (0, "guess a number from 1 to 16", 8, -0.1, {"guess": 8}),
      (1, "lower", 4, -0.1, {"guess": 4}), (2, "lower", 2, -0.1, {"guess": 2}),
      (3, "higher", 3, 1.0, {"guess": 3}), (4, "correct", None, None, None)]
  assert rows16[3]["terminated"] and rows16[-1]["final"] and rows16[0]["think"] == ""
  lin = steps("linear", "guess.8", 1)
  assert [s.get("think") for s in lin] == [f"try {k}" for k in range(1, 7)] + [None]
  assert lin[-1] == {"step": 6, "observation": "higher", "final": True}
  assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 12


def _faulty_study(tmp_path, fault, task, seeds, **kwargs):
  """Runs Faulty agents (one fault in the whole study) on 2 workers: (records, events)."""
  events = Events()
  agents = {"faulty": ("Faulty", {"flag": str(tmp_path / "fault.flag"), "fault": fault})}
  records = Scheduler(str(tmp_path / "run"), plan(["faulty"], [task], seeds), factory(agents),
                      num_workers=2, on_event=events, verbose=False, **kwargs).run()
  return records, events


def test_hung_agent_is_killed_and_its_episode_relaunched(tmp_path):
  records, events = _faulty_study(tmp_path, "hang", "guess.16", range(3),
                                  limits=Limits(agent_s=2.0))
  (kill,) = events.of("kill")
  assert kill[3] == "agent decision timeout: step 1 hung for more than 2s"
  assert not psutil.pid_exists(kill[2]) or psutil.Process(kill[2]).status() == "zombie"
  assert [r["steps"] for r in records] == BISECT_TURNS["guess.16"]
  assert all(r["status"] == "completed" and r["success"] for r in records)
  hung = next(r for r in records if r["key"] == kill[1])
  assert hung["attempts"] == 2 and hung["attempt_errors"] == [kill[3]]
  assert hung["pid"] != kill[2]  # finished on the replacement worker
  assert len(events.of("start")) == 4 and len(events.of("retry")) == 1


def test_worker_that_dies_mid_episode_is_relaunched(tmp_path):
  records, events = _faulty_study(tmp_path, "exit", "guess.8", range(2))
  assert [r["steps"] for r in records] == BISECT_TURNS["guess.8"][:2]
  assert all(r["status"] == "completed" and r["success"] for r in records)
  (retry,) = events.of("retry")
  assert retry[3] == "worker process exited (code 3)"
  died = next(r for r in records if r["key"] == retry[1])
  assert died["attempts"] == 2 and died["attempt_errors"] == ["worker process exited (code 3)"]
  assert not events.of("kill")


def test_rerun_skips_completed_and_reruns_errored(tmp_path):
  specs = plan(["linear"], ["guess.8", "guess.16", "guess.x"], [0])
  run = lambda refuse, events: Scheduler(  # noqa: E731
      str(tmp_path), specs, factory({"linear": ("Linear", {"refuse": refuse})}),
      num_workers=2, max_retries=1, on_event=events, verbose=False).run()
  first = Events()
  records = {r["task_id"]: r for r in run([8], first)}
  assert records["guess.16"]["status"] == "completed"
  agent, env = records["guess.8"], records["guess.x"]
  assert agent["status"] == "errored" and agent["error_kind"] == "agent"
  assert agent["error"].startswith("ValueError: guess.8 is not for me") and agent["attempts"] == 1
  assert env["error_kind"] == "env" and env["attempts"] == 2  # relaunched once, then final
  assert env["error"].startswith("ValueError: no such game 'guess.x'")

  second = Events()
  records = {r["task_id"]: r for r in run([], second)}
  assert sorted(e[1] for e in second.of("start")) == ["linear/guess.8/0", "linear/guess.x/0",
                                                      "linear/guess.x/0"]
  assert records["guess.8"]["status"] == "completed" and records["guess.8"]["steps"] == 3
  assert records["guess.x"]["status"] == "errored"
  assert len(RecordStore(str(tmp_path)).completed()) == 2
  assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 3 + 2

  third = Events()
  run([], third)
  assert [e[1] for e in third.of("start")] == ["linear/guess.x/0"] * 2


def test_record_store_state_dict_round_trip(tmp_path):
  files = str(tmp_path / "files")
  store = RecordStore(str(tmp_path))
  rec = lambda key, status: {"key": key, "status": status}  # noqa: E731
  store.append(rec("a", "completed"))
  store.append(rec("b", "errored"))
  saved = json.loads(json.dumps(store.state_dict(files)))
  assert saved == {"path": str(tmp_path / "episodes.jsonl"), "completed": ["a"],
                   "offset": os.path.getsize(tmp_path / "episodes.jsonl")}
  store.append(rec("b", "completed"))  # after the checkpoint: lost with the updates that used it
  with open(tmp_path / "episodes.jsonl", "a", encoding="utf-8") as f:
    f.write('{"key": "c", "sta')  # a line cut short by a kill
  store.append(rec("d", "completed"))  # stands on its own line after the cut one
  assert sorted(RecordStore(str(tmp_path)).completed()) == ["a", "b", "d"]

  restored = RecordStore(str(tmp_path))
  restored.load_state_dict(saved, files)
  assert sorted(restored.completed()) == ["a"] and restored.records["b"]["status"] == "errored"
  assert restored.state_dict(files) == saved
  assert sorted(RecordStore(str(tmp_path)).completed()) == ["a"]  # the file agrees
  os.truncate(tmp_path / "episodes.jsonl", 3)
  with pytest.raises(ValueError, match="the checkpoint recorded"):
    RecordStore(str(tmp_path)).load_state_dict(saved, files)


def test_gym_runner_in_process_and_factory_errors(tmp_path):
  runner = factory({"bisect": ("Bisect", {})}, max_steps=2).build()
  out = run_episode(runner, EpisodeSpec("bisect", "guess.16", 2), str(tmp_path))
  assert (out["status"], out["steps"], out["truncated"], out["success"]) == (
      "completed", 2, True, False)
  assert out["return"] == pytest.approx(-0.2) and out["pid"] == os.getpid()
  runner.close()
  with pytest.raises(ValueError, match="cannot import 'no.such'"):
    RunnerFactory("no.such:Runner").check()
  with pytest.raises(ValueError, match="has no 'Nope'"):
    Scheduler(str(tmp_path), [], RunnerFactory("jaxllm.episodes:Nope"))
  assert GymRunner  # the public name


def test_episodes_import_no_browser():
  code = ("import sys, jaxllm.episodes, jaxllm.episodes.pool; "
          "print([m for m in sys.modules if m.split('.')[0] in ('playwright', 'experiments') "
          "or m.startswith('jaxllm.web')])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]"


def test_ray_backend(tmp_path):
  pytest.importorskip("ray")
  specs = plan(["bisect"], ["guess.8"], range(3))
  records = Scheduler(str(tmp_path), specs, factory({"bisect": ("Bisect", {})}), num_workers=2,
                      backend="ray", verbose=False).run()
  assert [r["steps"] for r in records] == BISECT_TURNS["guess.8"]
  assert (tmp_path / "episodes/bisect/guess.8/seed2/steps.jsonl").read_text().count("\n") == 4
