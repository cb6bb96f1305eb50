"""InSTA's proposer, agent, judge and pipeline stages, with scripted models (no real model).

Unit tests use a stub chat client and a stub session client; the end-to-end test runs the session
server as a subprocess on the system Chromium against the sandbox forum, with one FakeOpenAI
endpoint playing proposer, agent and judge (routed by system prompt).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from jaxllm.client import ChatClient
from jaxllm.data.corpus import load_chats
from jaxllm.insta import agent as agent_mod
from jaxllm.insta.agent import (AGENT_SYSTEM_PROMPT, InstaAgent, USER_TEMPLATE, observation_text,
                                run_episode)
from jaxllm.insta.client import SessionClient
from jaxllm.insta.judge import JUDGE_SYSTEM_PROMPT, judge_messages, keep, parse_judgment
from jaxllm.insta.pipeline import (agent_stage, export_sft, judge_stage, propose_stage,
                                   read_judgment, read_proposal, read_trajectory, stage_path,
                                   write_judgment, write_proposal, write_trajectory)
from jaxllm.insta.proposer import PROPOSER_SYSTEM_PROMPT, Proposal, parse_proposal, propose
from tests.jaxllm.web.chromium import needs_chromium
from tests.jaxllm.web.fake_openai import FakeOpenAI


def _fenced(obj: Any) -> str:
  return f"```json\n{json.dumps(obj)}\n```"


def _act(key: str, kwargs: dict | None = None, target: int | None = None) -> str:
  return "Analysis: going on.\n" + _fenced(
      {"action_key": key, "action_kwargs": kwargs or {}, "target_element_id": target})


class StubChat:
  """A chat client whose replies are scripted; records the messages it was sent."""

  def __init__(self, replies: list[str]):
    self.replies = list(replies)
    self.calls: list[dict[str, Any]] = []

  def chat_completion(self, messages, **sampling):
    self.calls.append({"messages": [dict(m) for m in messages], **sampling})
    text = self.replies[min(len(self.calls), len(self.replies)) - 1]
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


class StubSession:
  """A session client over a list of pages (one metadata list each); actions advance the page."""

  def __init__(self, pages: list[list[dict]]):
    self.pages, self.page, self.acted, self.closed = pages, 0, [], False

  def start(self, **_: Any) -> str:
    return "s1"

  def goto(self, sid: str, url: str) -> str:
    return url

  def observation(self, sid: str) -> dict:
    return {"metadata": self.pages[min(self.page, len(self.pages) - 1)],
            "current_url": f"http://site/p{self.page}"}

  def act(self, sid: str, action) -> dict | None:
    self.acted.append(action)
    self.page += 1
    return {"ok": True, "completed": 1, "error": None, "current_url": f"http://site/p{self.page}"}

  def close(self, sid: str) -> bool:
    self.closed = True
    return True


def _link(i: int, text: str) -> dict:
  return {"id": str(i), "tag": "a", "role": "", "name": "", "text": text, "interactive": True,
          "in_viewport": True}


# -- proposer ------------------------------------------------------------------------------------
def test_parse_proposal_valid_null_and_invalid():
  good = {"proposed_task": "Find the title of the newest post in f/cooking.",
          "task_is_feasible": True, "estimated_difficulty": "easy", "estimated_steps": 3}
  p = parse_proposal("The site is a forum.\n```json\n{\"a\": 1}\n```\nFinal:\n" + _fenced(good))
  assert p == Proposal(good["proposed_task"], True, "easy", 3, safe=True, valid=True)
  assert p.usable
  bare = parse_proposal("Here it is: " + json.dumps(good) + " done")
  assert bare.valid and bare.proposed_task == good["proposed_task"]

  unsafe = parse_proposal(_fenced({k: None for k in good}))
  assert unsafe.valid and not unsafe.safe and not unsafe.usable and unsafe.proposed_task is None

  for text, reason in [("no json here", "no JSON object"),
                       ("```json\n{\"proposed_task\": \n```", "not valid JSON"),
                       (_fenced({**good, "estimated_steps": "three"}), "estimated_steps"),
                       (_fenced({"proposed_task": "x"}), "missing key"),
                       (_fenced({**good, "task_is_feasible": None}), "task_is_feasible"),
                       (_fenced([1, 2]), "JSON object")]:
    p = parse_proposal(text)
    assert not p.valid and not p.usable and reason in p.reason, (text, p)
  assert not parse_proposal(_fenced({**good, "task_is_feasible": False})).usable


def test_propose_sends_system_prompt_and_site():
  chat = StubChat([_fenced({"proposed_task": "Find X.", "task_is_feasible": True,
                            "estimated_difficulty": "medium", "estimated_steps": 4})])
  p = propose(chat, "http://site/", page_summary="A shop.")
  assert p.usable and p.estimated_steps == 4
  (call,) = chat.calls
  assert call["temperature"] == 0.5
  assert call["messages"][0] == {"role": "system", "content": PROPOSER_SYSTEM_PROMPT}
  assert "http://site/" in call["messages"][1]["content"]
  assert "A shop." in call["messages"][1]["content"]
  assert "null" in PROPOSER_SYSTEM_PROMPT and "log" in PROPOSER_SYSTEM_PROMPT


# -- judge ---------------------------------------------------------------------------------------
def test_parse_judgment_clamps_and_flags_missing():
  j = parse_judgment("Criteria: ...\n" + _fenced({"success": 1.7, "efficiency": -0.2,
                                                  "self_correction": 0.3}))
  assert (j["success"], j["efficiency"], j["self_correction"], j["valid"]) == (1.0, 0.0, 0.3, True)
  j = parse_judgment(_fenced({"success": 0.8, "efficiency": "high"}))
  assert j["success"] == 0.8 and j["efficiency"] == 0.0 and j["self_correction"] == 0.0
  assert not j["valid"] and "efficiency" in j["reason"] and "self_correction" in j["reason"]
  j = parse_judgment("nothing")
  assert not j["valid"] and j["success"] == 0.0
  assert not keep(parse_judgment(_fenced({"success": 0.9})))  # invalid: never kept


def test_keep_thresholds():
  def j(s, e=0.0, c=0.0):
    return {"success": s, "efficiency": e, "self_correction": c, "valid": True}
  assert not keep(j(0.5)) and keep(j(0.51)) and keep(j(0.9))
  assert not keep(j(0.9, 0.3, 0.2), secondary_threshold=0.5)
  assert keep(j(0.9, 0.6, 0.0), secondary_threshold=0.5)
  assert keep(j(0.9, 0.0, 0.6), secondary_threshold=0.5)
  assert not keep(j(0.9, 0.5, 0.5), secondary_threshold=0.5)
  assert not keep(j(0.7), success_threshold=0.7) and keep(j(0.71), success_threshold=0.7)


# -- agent ---------------------------------------------------------------------------------------
def test_observation_text_format():
  obs = {"metadata": [
    _link(3, "f/cooking"),
    {"id": "7", "tag": "button", "role": "", "name": "Upvote Tomatoes", "text": "Upvote",
     "in_viewport": True},
    {"id": "9", "tag": "input", "type": "text", "role": "", "name": "Username", "text": "",
     "value": "ash", "in_viewport": True},
    {"id": "10", "tag": "input", "type": "checkbox", "role": "", "name": "Remember me",
     "text": "", "checked": False, "in_viewport": True},
    {"id": "11", "tag": "h1", "role": "", "name": "", "text": "Front  page", "in_viewport": True},
    {"id": "12", "tag": "div", "role": "tab", "name": "", "text": "Hot", "in_viewport": True},
    _link(40, "below the fold") | {"in_viewport": False}]}
  assert observation_text(obs).splitlines() == [
    "[id: 3] f/cooking link",
    "[id: 7] Upvote Tomatoes: Upvote button",
    '[id: 9] Username textbox value="ash"',
    "[id: 10] Remember me checkbox unchecked",
    "[id: 11] Front page heading",
    "[id: 12] Hot tab"]
  assert "[id: 40] below the fold link" in observation_text(obs, viewport_only=False)


def test_agent_prompt_template_history_and_truncation(monkeypatch):
  pages = [[_link(i, f"page {p} link {i}") for i in range(3)] for p in range(8)]
  pages[7] = [_link(i, "x" * 50) for i in range(100)]  # ~5 KB of text: truncated
  chat = StubChat([_act("click", target=1)] * 7 + [_act("stop", {"answer": "done"})])
  session = StubSession(pages)
  agent = InstaAgent(chat, max_obs_tokens=100)
  traj = run_episode(agent, session, "Do the task.", "http://site/")
  assert traj["status"] == "stopped" and traj["answer"] == "done" and session.closed
  assert len(traj["steps"]) == 8 and len(session.acted) == 7
  assert all(c["temperature"] == 0.5 for c in chat.calls)

  first = chat.calls[0]["messages"]
  assert first == [{"role": "system", "content": AGENT_SYSTEM_PROMPT},
                   {"role": "user", "content": (
                     "## Complete The Following Task\n\nDo the task.\n\n"
                     "You are at http://site/p0 observing the viewport:\n\n"
                     "[id: 0] page 0 link 0 link\n[id: 1] page 0 link 1 link\n"
                     "[id: 2] page 0 link 2 link")}]
  assert USER_TEMPLATE.startswith("## Complete The Following Task\n\n{instruction}\n\n")

  last = chat.calls[7]["messages"]  # step 8: observations 4..8 only
  assert [m["role"] for m in last] == ["system"] + ["user", "assistant"] * 4 + ["user"]
  users = [m["content"] for m in last if m["role"] == "user"]
  assert [re.search(r"at (\S+) observing", u).group(1) for u in users] == [
    f"http://site/p{i}" for i in range(3, 8)]
  assert all(m["content"] == _act("click", target=1) for m in last if m["role"] == "assistant")
  obs_part = users[-1].split("observing the viewport:\n\n", 1)[1]
  assert obs_part == ("\n".join(f"[id: {i}] {'x' * 50} link" for i in range(100))[:400]
                      + agent_mod.TRUNCATION_MARK)
  assert traj["steps"][7]["observation"] == obs_part


def test_agent_retries_unparsable_replies_then_parse_error():
  pages = [[_link(1, "a")]]
  chat = StubChat(["no block", "```json\n{bad\n```", _act("click", target=1),
                   "still nothing", "nope", "never"])
  session = StubSession(pages)
  traj = run_episode(InstaAgent(chat), session, "T", "http://site/")
  assert traj["status"] == "parse_error" and session.closed
  assert len(traj["steps"]) == 2 and len(session.acted) == 1
  step0, step1 = traj["steps"]
  assert [a["reply"] for a in step0["attempts"]] == ["no block", "```json\n{bad\n```"]
  assert step0["action"]["action_key"] == "click" and step1["action"] is None
  assert len(step1["attempts"]) == 3  # the first try and 2 retries
  retry = chat.calls[1]["messages"]
  assert retry[-2] == {"role": "assistant", "content": "no block"}
  assert retry[-1]["role"] == "user" and "no ```json fenced block" in retry[-1]["content"]
  assert len(chat.calls) == 6
  assert "[bad" not in json.dumps(chat.calls[3]["messages"])  # failed attempts leave the history


def test_max_actions_and_failed_action_feedback():
  class Failing(StubSession):
    def act(self, sid, action):
      super().act(sid, action)
      return {"ok": False, "completed": 0, "error": "page.click: timeout", "current_url": "u"}

  chat = StubChat([_act("click", target=1)])
  traj = run_episode(InstaAgent(chat), Failing([[_link(1, "a")]]), "T", "http://s/",
                     max_actions=3)
  assert traj["status"] == "max_actions" and len(traj["steps"]) == 3
  assert chat.calls[1]["messages"][-1]["content"].endswith(
    "Your previous action failed: page.click: timeout")


# -- pipeline (files only) -----------------------------------------------------------------------
def _fake_trajectory(n_steps: int) -> dict:
  steps = [{"url": f"http://s/{i}", "observation": f"[id: {i}] L link", "action_error": None,
            "reply": _act("click", target=i), "action": {"action_key": "click",
                                                         "action_kwargs": {},
                                                         "target_element_id": str(i)},
            "result": {"ok": True}, "attempts": []} for i in range(n_steps)]
  return {"instruction": "T", "start_url": "http://s/", "status": "stopped", "answer": "a",
          "error": None, "agent": {"system_prompt": "SYS", "max_history": 5}, "steps": steps}


def test_layout_roundtrip_filter_and_sampling(tmp_path):
  p = Proposal("T", True, "easy", 2, safe=True, valid=True)
  write_proposal(tmp_path, "site-1", "http://s/", p)
  assert read_proposal(tmp_path, "site-1") == ("http://s/", p)
  with pytest.raises(ValueError):
    stage_path(tmp_path, "judge", "../evil")
  for i, success in enumerate([0.9, 0.5, 0.8, 0.95]):
    traj = _fake_trajectory(i + 1)
    write_trajectory(tmp_path, f"t{i}", traj)
    back = read_trajectory(tmp_path, f"t{i}")
    assert back["steps"] == traj["steps"] and back["instruction"] == "T"
    write_judgment(tmp_path, f"t{i}", {"success": success, "efficiency": 0.5,
                                       "self_correction": 0.0, "valid": True})
  assert (tmp_path / "observations" / "t0.json").exists()
  assert read_judgment(tmp_path, "t1")["success"] == 0.5
  out = tmp_path / "sft.json"
  assert export_sft(tmp_path, out) == 1 + 3 + 4  # t1 (0.5) is not kept
  assert export_sft(tmp_path, out, secondary_threshold=0.5) == 0
  n = export_sft(tmp_path, out, max_trajectories=2, seed=0)
  first = out.read_bytes()
  assert export_sft(tmp_path, out, max_trajectories=2, seed=0) == n and out.read_bytes() == first
  assert n in (1 + 3, 1 + 4, 3 + 4)


# -- end to end ----------------------------------------------------------------------------------
TASK = "Open the f/cooking forum and report its description."
PROPOSAL = {"proposed_task": TASK, "task_is_feasible": True, "estimated_difficulty": "easy",
            "estimated_steps": 2}


def _scripted(body: dict) -> str:
  system, last = body["messages"][0]["content"], body["messages"][-1]["content"]
  if system == PROPOSER_SYSTEM_PROMPT:
    return "A forum about hobbies.\n" + _fenced(PROPOSAL)
  if system == JUDGE_SYSTEM_PROMPT:
    return "Success criteria: the agent opens f/cooking.\n" + _fenced(
      {"success": 0.9, "efficiency": 0.8, "self_correction": 0.0})
  assert system == AGENT_SYSTEM_PROMPT, system[:80]
  if re.search(r"You are at \S+/f/cooking observing", last):
    return _act("stop", {"answer": "Recipes, techniques and kitchen disasters."})
  element = re.search(r"^\[id: (\d+)\] f/cooking link$", last, re.M)
  assert element, last[:2000]
  return "I click the f/cooking link.\n" + _fenced(
    {"action_key": "click", "action_kwargs": {}, "target_element_id": int(element.group(1))})


@needs_chromium
def test_end_to_end_pipeline(tmp_path, server, forum):
  work = tmp_path / "insta"
  with FakeOpenAI([_scripted]) as fake:
    chat = ChatClient(fake.url, model="fake")
    agent = InstaAgent(chat)
    session = SessionClient(server)
    assert propose_stage(chat, work, {"forum": forum + "/"}) == ["forum"]
    assert (work / "proposals" / "forum.json").exists()
    assert agent_stage(agent, session, work) == ["forum"]
    assert judge_stage(chat, work) == ["forum"]
    n_requests = len(fake.requests)
    assert n_requests == 1 + 2 + 1  # proposal, click + stop, judgment

    traj = read_trajectory(work, "forum")
    assert traj["status"] == "stopped" and traj["instruction"] == TASK
    assert traj["answer"] == "Recipes, techniques and kitchen disasters."
    click, stop = traj["steps"]
    assert click["action"]["action_key"] == "click" and click["result"]["ok"]
    assert click["url"] == forum + "/" and stop["url"] == forum + "/f/cooking"
    assert read_judgment(work, "forum")["success"] == 0.9

    out = work / "sft.json"
    assert export_sft(work, out) == 2
    chats = load_chats(out)
    agent_requests = [r for r in fake.requests
                      if r["messages"][0]["content"] == AGENT_SYSTEM_PROMPT]
    for chat_example, request, step in zip(chats, agent_requests, traj["steps"]):
      assert chat_example[:-1] == request["messages"]  # the prompt exactly as the agent saw it
      assert chat_example[-1] == {"role": "assistant", "content": step["reply"]}
      assert request["temperature"] == 0.5
    assert [m["role"] for m in chats[1]] == ["system", "user", "assistant", "user", "assistant"]
    from jaxllm.data.chat import tokenize_chat  # what the sft trainer does with data.corpus
    from jaxllm.tokenizers import ByteTokenizer
    ids, mask = tokenize_chat(ByteTokenizer(), chats[0])
    assert len(ids) == len(mask) and 0 < mask.sum() < len(ids)
    judge_request = fake.requests[-1]
    assert "## Webpage 2" in judge_request["messages"][1]["content"]
    assert judge_request["temperature"] == 0.0

    # resume: every stage skips its existing outputs; the export is byte-identical
    first = out.read_bytes()
    assert propose_stage(chat, work, {"forum": forum + "/"}) == []
    assert agent_stage(agent, session, work) == []
    assert judge_stage(chat, work) == []
    assert len(fake.requests) == n_requests
    assert export_sft(work, out) == 2 and out.read_bytes() == first

    # judged exactly 0.5: not kept, not exported
    write_judgment(work, "forum", {**read_judgment(work, "forum"), "success": 0.5})
    assert export_sft(work, out) == 0 and load_chats(out) == []


def test_judge_messages_show_last_five_blocks():
  traj = _fake_trajectory(8)
  text = judge_messages(traj)[1]["content"]
  assert "## Webpage 4" in text and "## Webpage 8" in text and "## Webpage 3" not in text
  assert "3 earlier step(s)" in text and "## Final Answer\n\na" in text
