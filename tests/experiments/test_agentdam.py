"""AgentDAM through the runner: both oracles on two forum tasks, judged (utility 1 for both,
leakage 1 and 0), resumable; every bad choice fails with one line naming the fix."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from experiments.configs import agentdam as agentdam_config
from experiments.errors import UserError
from experiments.trainers import agentdam
from tests.jaxllm.web.chromium import needs_chromium

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout=300):
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  return subprocess.run([sys.executable, "-m", "experiments.main",
                         "--config=experiments/configs/agentdam.py:smoke", *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


@needs_chromium
def test_oracle_study_judges_every_action_then_resumes(tmp_path):
  args = [f"--workdir={tmp_path}", "--config.tasks=agentdam.forum.*", "--config.per_intent=1",
          "--config.train.enabled=False"]
  res = _run(args)
  assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:]
  out = json.loads((tmp_path / "results.json").read_text())
  assert out["episodes"] == 4 and out["tasks"] == 2
  assert out["utility"] == {"minimal": 1.0, "leaky": 1.0}
  assert out["leakage"] == {"offline": {"minimal": 0.0, "leaky": 1.0}}
  assert out["rows"]["leaky / forum"]["leakage_offline_se"] == 0.0
  leaks = json.loads((tmp_path / "leaks.json").read_text())
  for task, by_agent in leaks.items():
    assert by_agent["minimal"]["offline"] == []
    assert by_agent["leaky"]["offline"], task
  judged = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
  assert len(judged) == 4 and all(s["scores"].keys() == {"offline"} for j in judged
                                  for s in j["steps"])
  assert (tmp_path / "privacy.png").stat().st_size > 1000
  again = _run(args)  # a rerun resumes: nothing is run or judged twice
  assert again.returncode == 0, again.stderr[-3000:]
  assert json.loads((tmp_path / "results.json").read_text())["rows"] == out["rows"]
  assert len((tmp_path / "judgments.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("overrides, message", [
  ({"agents": "minimal,greedy"}, "unknown agent 'greedy'; valid: minimal, leaky"),
  ({"agents": "llm"}, "agent 'llm' needs an OpenAI-compatible endpoint"),
  ({"agents": " , "}, "no agents selected"),
])
def test_agent_choices_fail_with_one_line(overrides, message):
  config = agentdam_config.get_config("smoke")
  config.update(overrides)
  with pytest.raises(UserError, match=message):
    agentdam.agent_table(config)


def test_task_and_host_choices_fail_with_one_line(tmp_path):
  config = agentdam_config.get_config("smoke")
  config.tasks = "shop.cart_add"
  with pytest.raises(UserError, match="not an AgentDAM task; set --config.tasks=agentdam"):
    agentdam.choose_tasks(config)
  config.tasks = "agentdam.nowhere.*"
  with pytest.raises(UserError, match="unknown task 'agentdam.nowhere.\\*'"):
    agentdam.choose_tasks(config)
  config.tasks, config.per_intent = "agentdam", 1
  ids, init = agentdam.choose_tasks(config)
  assert len(ids) == 8 and init is None
  config.task_dir = str(tmp_path)
  with pytest.raises(UserError, match="no AgentDAM task files"):
    agentdam.choose_tasks(config)
  assert agentdam.parse_hosts("__REDDIT__=http://h:9999/") == {"forum": "http://h:9999"}
  with pytest.raises(UserError, match="bad hosts entry 'reddit=http://h'"):
    agentdam.parse_hosts("reddit=http://h")


def test_unknown_preset():
  with pytest.raises(ValueError, match="unknown preset 'big'; valid: smoke, oracle, train"):
    agentdam_config.get_config("big")
