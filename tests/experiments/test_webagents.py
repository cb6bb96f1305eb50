"""Web-agent studies through the runner: the oracle and the LLM agent (against a fake
OpenAI-compatible endpoint) on a sandbox task in parallel workers, with screenshots, step records,
results table and resume; bad agent/task/backend choices fail with one line."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import jaxllm.web as web
from experiments.configs import webagents as webagents_config
from experiments.errors import UserError
from tests.jaxllm.web.chromium import needs_chromium
from tests.jaxllm.web.fake_openai import FakeOpenAI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout=240):
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  return subprocess.run([sys.executable, "-m", "experiments.main",
                         "--config=experiments/configs/webagents.py:smoke", *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


def _answer(request):
  """A model that reads the code from the prompt, else opens the mail that holds it."""
  page = request["messages"][1]["content"]
  code = re.search(r"code is (\d{6})", page)
  if code:
    found = code.group(1)
    return f"<think>The mail says {found}.</think><action>send_msg_to_user('{found}')</action>"
  bid = re.search(r"\[(\d+)\] link 'Your verification code", page)
  return f"<think>Open the mail.</think><action>click('{bid.group(1) if bid else '0'}')</action>"


@needs_chromium
def test_oracle_and_llm_agent_study_with_screenshots_then_resume(tmp_path):
  with FakeOpenAI(["no action here", _answer]) as server:
    args = [f"--workdir={tmp_path}", "--config.agents=oracle,generic",
            "--config.tasks=mail.verification_code", "--config.num_seeds=1",
            "--config.screenshots=True", f"--config.agent.base_url={server.url}",
            "--config.agent.model=fake"]
    res = _run(args)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:]
    out = json.loads((tmp_path / "results.json").read_text())
    assert out["episodes"] == 2 and out["completed"] == 2 and out["errored"] == 0
    assert out["success_rate"] == {"oracle": 1.0, "generic": 1.0}
    assert out["rows"]["generic / mail.verification_code"]["mean_steps"] == 2
    assert re.search(r"generic / mail.verification_code\s+1\s+1\s+0\s+0\s+2", res.stdout)
    n_requests = len(server.requests)
    assert n_requests == 3  # one malformed reply retried, then two good steps
    assert "# Goal\nWhat is the verification code" in server.requests[0]["messages"][1]["content"]

    ep = tmp_path / "episodes/generic/mail.verification_code/seed0"
    steps = [json.loads(line) for line in (ep / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [0, 1, 2]
    assert steps[0]["agent_info"]["parse_errors"] == ["no <action>...</action> section in your "
                                                      "answer"]
    assert steps[1]["action"] == "send_msg_to_user('583914')" and steps[1]["reward"] == 1.0
    assert steps[1]["think"] == "The mail says 583914."
    for s in steps:
      assert (ep / s["screenshot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[-1]["study/success_rate"] == 1.0

    res = _run(args)  # resume: the loop restores the finished study, nothing runs again
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[study] resumed from" in res.stdout
    assert re.search(r"generic / mail.verification_code\s+1\s+1\s+0\s+0\s+2", res.stdout)
    assert len(server.requests) == n_requests


@pytest.mark.parametrize("override, message", [
  ({"agents": "gpt"}, "unknown agent 'gpt'; valid: generic, oracle"),
  ({"agents": "generic"}, "needs an OpenAI-compatible endpoint: pass --config.agent.base_url"),
  ({"tasks": "shop.nope"}, "unknown task 'shop.nope'"),
  ({"backend": "dask"}, "unknown backend 'dask'; valid: process, ray"),
  ({"num_seeds": 0}, "must be >= 1"),
])
def test_bad_choices_are_one_line(tmp_path, override, message):
  from experiments.trainers import webagents  # pylint: disable=import-outside-toplevel
  config = webagents_config.get_config("smoke")
  config.update(override)
  with pytest.raises(UserError, match=re.escape(message)):
    webagents.train_and_evaluate(config, str(tmp_path))
  assert not os.listdir(tmp_path)  # nothing started


def test_ray_backend_missing_names_the_extra(tmp_path):
  try:
    import ray  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    pytest.skip("ray is installed")
  except ImportError:
    pass
  from experiments.trainers import webagents  # pylint: disable=import-outside-toplevel
  config = webagents_config.get_config("smoke")
  config.backend = "ray"
  with pytest.raises(UserError, match=re.escape("pip install -e '.[ray]'")):
    webagents.train_and_evaluate(config, str(tmp_path))


def test_presets():
  for preset in webagents_config.PRESETS:
    config = webagents_config.get_config(preset)
    assert config.trainer == "webagents"
  assert webagents_config.get_config("llm").agents == "generic"
  assert webagents_config.get_config("oracle").num_seeds >= 3
