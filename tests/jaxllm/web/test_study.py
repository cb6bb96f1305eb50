"""The study runner over a pool of browser worker processes: the oracle solves every sandbox task
over several seeds while a Chromium is killed mid-study; a crashed worker is recorded with its
reason; a hung worker is killed by the per-step timeout and its episode relaunched; reruns skip
completed episodes; no Chromium outlives the study."""
import json
import os
import re
import signal

import psutil
import pytest

import jaxllm.web as web
from jaxllm.episodes import Heartbeat, Limits
from jaxllm.episodes.pool import process_tree
from jaxllm.web.episode import browser_pids
from jaxllm.web.study import Study, load_records, plan, select_tasks, summarize
from tests.jaxllm.web.chromium import needs_chromium


pytestmark = needs_chromium

ORACLE = {"oracle": ("oracle", {})}


class Watch:
  """An on_event hook: remembers every process below the workers, and runs `act` once, at the
  first heartbeat of the given phase and step."""

  def __init__(self, at=("env", 1), act=None):
    self.at, self.act = at, act
    self.procs: dict[int, psutil.Process] = {}
    self.fired: list[str] = []
    self.events: list[tuple[str, str]] = []

  def __call__(self, kind, spec, worker, payload):
    self.events.append((kind, spec.key))
    for p in process_tree(worker.pid):
      self.procs.setdefault(p.pid, p)
    if kind == "beat" and tuple(payload) == self.at and self.act and not self.fired:
      self.fired.append(spec.key)
      self.act(worker)

  def leftovers(self):
    """Processes seen during the study that still run (zombies waiting to be reaped aside)."""
    alive = []
    for p in self.procs.values():
      try:
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
          alive.append((p.pid, p.name()))
      except psutil.NoSuchProcess:
        pass
    return alive


def _kill_browser(worker):
  pids = browser_pids(worker.pid)
  assert pids, "the worker has no Chromium"
  os.kill(pids[0], signal.SIGKILL)  # the main browser process; its renderers go with it


def test_oracle_solves_every_sandbox_task_while_a_browser_is_killed(tmp_path):
  tasks = select_tasks("sandbox")
  assert len(tasks) == 9
  watch = Watch(at=("env", 1), act=_kill_browser)
  study = Study(str(tmp_path), plan(["oracle"], tasks, range(2)), ORACLE, num_workers=2,
                on_event=watch, verbose=False)
  records = study.run()
  assert len(watch.fired) == 1 and watch.procs
  assert len(records) == 18 and len({r["key"] for r in records}) == 18
  assert all(r["status"] == "completed" and r["success"] for r in records), \
    [r for r in records if not r["success"]]
  killed = next(r for r in records if r["key"] == watch.fired[0])
  assert killed["attempts"] == 2 and len(killed["attempt_errors"]) == 1
  assert killed["attempt_errors"][0], killed  # e.g. "TargetClosedError: ... has been closed"
  assert sum(r["attempts"] for r in records) == 19
  rows = summarize(records)
  assert rows["oracle / ALL"] == {"episodes": 18, "success": 1.0, "stderr": 0.0, "errored": 0,
                                  "mean_steps": pytest.approx(24 / 9)}
  assert len(load_records(str(tmp_path))) == 18
  steps = [json.loads(line) for line in
           (tmp_path / "episodes/oracle/shop.cart_add/seed1/steps.jsonl").read_text().splitlines()]
  assert [s["step"] for s in steps] == [0, 1, 2, 3] and steps[-1]["final"]
  assert "[10] link 'Kitchen'" in steps[0]["observation"]
  assert steps[0]["action"] == "click('10')"
  assert steps[2]["reward"] == 1.0 and steps[2]["terminated"] and steps[2]["action_error"] == ""
  assert watch.leftovers() == []


def test_crashed_and_hung_workers_are_replaced_and_reruns_resume(tmp_path):
  specs = plan(["oracle"], ["shop.cart_add", "forum.upvote"], [0])
  # 1) A worker process dies mid-episode while the other works on; with no retries left its
  #    episode is recorded as errored with the reason.
  crash = Watch(at=("env", 1), act=lambda w: os.kill(w.pid, signal.SIGKILL))
  records = Study(str(tmp_path), specs, ORACLE, num_workers=2, max_retries=0, on_event=crash,
                  verbose=False).run()
  by_key = {r["key"]: r for r in records}
  assert len(by_key) == 2 and len(crash.fired) == 1
  crashed = by_key.pop(crash.fired[0])
  (other,) = by_key.values()
  assert crashed["status"] == "errored" and crashed["error_kind"] == "crash"
  assert "SIGKILL" in crashed["error"] and crashed["attempts"] == 1
  assert other["status"] == "completed" and other["success"]
  assert crash.leftovers() == []

  # 2) Rerun: only the errored episode runs again. Its worker hangs (SIGSTOP) during its second
  #    step; the per-step timeout kills it and a relaunch succeeds. (The limit leaves room for a
  #    slow but live step on a loaded machine; a spare retry absorbs one more timeout.)
  hang = Watch(at=("env", 1), act=lambda w: os.kill(w.pid, signal.SIGSTOP))
  records = Study(str(tmp_path), specs, ORACLE, num_workers=2, max_retries=2, on_event=hang,
                  limits=Limits(action_s=6.0, agent_s=6.0), verbose=False).run()
  assert {k for kind, k in hang.events if kind == "start"} == {crashed["key"]}
  kills = [k for kind, k in hang.events if kind == "kill"]
  assert kills[0] == crashed["key"] and set(kills) == {crashed["key"]}
  by_key = {r["key"]: r for r in records}
  rerun = by_key[crashed["key"]]
  assert rerun["status"] == "completed" and rerun["success"]
  assert rerun["attempts"] == 1 + len(kills) and len(rerun["attempt_errors"]) == len(kills)
  assert re.search(r"(env step|agent decision) timeout: step 1 hung for more than 6s",
                   rerun["attempt_errors"][0]), rerun["attempt_errors"]
  assert by_key[other["key"]] == other  # kept from the first run
  assert hang.leftovers() == []

  # 3) Rerun again: nothing left to do, no worker starts.
  idle = Watch()
  assert Study(str(tmp_path), specs, ORACLE, on_event=idle, verbose=False).run() == records
  assert idle.events == []
  assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 3


@pytest.mark.paper
def test_oracle_solves_every_task_with_a_script_over_five_seeds(tmp_path):
  tasks = select_tasks("sandbox,miniwob-oracle")
  records = Study(str(tmp_path), plan(["oracle"], tasks, range(5)), ORACLE, num_workers=2,
                  verbose=False).run()
  assert len(records) == 5 * len(tasks)
  assert summarize(records)["oracle / ALL"]["success"] == 1.0


def test_overdue_rules():
  """Which limit applies when (the heartbeat clock, driven by hand)."""
  limits = Limits(action_s=10, agent_s=100, episode_s=300, startup_s=60)
  clock, now = Heartbeat(), 1000.0
  clock.start(now=now - 50)
  assert clock.overdue(limits, now=now) == ""
  clock.start(now=now - 61)
  assert clock.overdue(limits, now=now).startswith("worker start-up timeout")
  clock.beat("agent", 3, now=now - 50)
  assert clock.overdue(limits, now=now) == ""  # a 50 s decision is within agent_s
  clock.beat("env", 3, now=now - 50)
  assert clock.overdue(limits, now=now) == "env step timeout: step 3 hung for more than 10s"
  clock.beat("agent", 3, now=now - 1)
  assert clock.overdue(limits, now=now + 251) == "episode timeout: no result after 300s"


def test_select_tasks():
  assert select_tasks("shop.*") == ["shop.cart_add", "shop.wishlist_add"]
  assert select_tasks("mail.reply, shop.*,mail.reply")[0] == "mail.reply"
  assert select_tasks("miniwob-oracle")[0].startswith("miniwob.")
  with pytest.raises(ValueError, match="unknown task 'shop.nope'"):
    select_tasks("shop.nope")
  with pytest.raises(ValueError, match="no tasks selected"):
    select_tasks(" , ")


def test_ray_backend(tmp_path):
  pytest.importorskip("ray")
  watch = Watch()
  records = Study(str(tmp_path), plan(["oracle"], ["forum.upvote", "mail.reply"], [0]), ORACLE,
                  num_workers=2, backend="ray", on_event=watch, verbose=False).run()
  assert [r["success"] for r in records] == [True, True]
