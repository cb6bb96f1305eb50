"""The InSTA agent's JSON action schema: parsing model replies and mapping them to server calls."""
from __future__ import annotations

import json

import pytest

from jaxllm.insta.actions import (MAX_STRING_CHARS, ActionParseError, AgentAction,
                                  last_json_block, parse_agent_action, to_calls)
from jaxllm.insta.calls import validate_calls


def reply(obj, before: str = "Let me think.\n", after: str = "\n") -> str:
  body = obj if isinstance(obj, str) else json.dumps(obj)
  return f"{before}```json\n{body}\n```{after}"


SEL = '[data-insta-id="12"]'
VALID = [
  ({"action_key": "click", "action_kwargs": {}, "target_element_id": 12},
   [{"dotpath": "page.click", "args": [SEL]}]),
  ({"action_key": "hover", "target_element_id": "12"},
   [{"dotpath": "page.hover", "args": [SEL]}]),
  ({"action_key": "scroll", "action_kwargs": {"delta_x": 0, "delta_y": 300.5}},
   [{"dotpath": "page.mouse.wheel", "args": [0, 300.5]}]),
  ({"action_key": "scroll", "action_kwargs": {"delta_x": -10, "delta_y": 0},
    "target_element_id": 12},
   [{"dotpath": "page.hover", "args": [SEL]}, {"dotpath": "page.mouse.wheel", "args": [-10, 0]}]),
  ({"action_key": "fill", "action_kwargs": {"value": "sourdough"}, "target_element_id": 12},
   [{"dotpath": "page.fill", "args": [SEL, "sourdough"]}]),
  ({"action_key": "select_option", "action_kwargs": {"label": "Cooking"},
    "target_element_id": 12},
   [{"dotpath": "page.select_option", "args": [SEL, "Cooking"]}]),
  ({"action_key": "set_checked", "action_kwargs": {"checked": False}, "target_element_id": 12},
   [{"dotpath": "page.set_checked", "args": [SEL, False]}]),
  ({"action_key": "go_back", "action_kwargs": {}, "target_element_id": None},
   [{"dotpath": "page.go_back", "args": []}]),
  ({"action_key": "go_forward"}, [{"dotpath": "page.go_forward", "args": []}]),
  ({"action_key": "goto", "action_kwargs": {"url": "http://127.0.0.1:8080/f/cooking"}},
   [{"dotpath": "page.goto", "args": ["http://127.0.0.1:8080/f/cooking"]}]),
  ({"action_key": "stop", "action_kwargs": {"answer": "42"}, "target_element_id": None}, []),
]


@pytest.mark.parametrize("obj,calls", VALID, ids=[f"{o['action_key']}{i}"
                                                   for i, (o, _) in enumerate(VALID)])
def test_every_action_key_parses_and_maps_to_allowed_server_calls(obj, calls):
  action = parse_agent_action(reply(obj))
  assert action.action_key == obj["action_key"]
  assert action.action_kwargs == obj.get("action_kwargs", {})
  target = obj.get("target_element_id")
  assert action.target_element_id == (None if target is None else str(target))
  assert action.is_stop == (obj["action_key"] == "stop")
  assert to_calls(action) == calls
  if calls:  # what to_calls makes is exactly what the server accepts
    assert len(validate_calls(calls, ("127.0.0.1",))) == len(calls)


def test_the_last_json_fence_wins():
  text = (reply({"action_key": "click", "target_element_id": 1}, before="First idea:\n")
          + "On second thought:\n```python\nprint('x')\n```\n"
          + reply({"action_key": "go_back"}, before="")
          + "```jsonc\n{\"action_key\": \"go_forward\"}\n```\n")
  assert parse_agent_action(text) == AgentAction("go_back", {}, None)
  assert last_json_block("```json\n{}\n```\n```json\n[1]\n```") == "[1]\n"


def test_stop_answer_keeps_hostile_text_as_data():
  answer = '"); page.evaluate("alert(1)"); ("` __import__("os").system("id") {{7*7}} <script>'
  action = parse_agent_action(reply({"action_key": "stop", "action_kwargs": {"answer": answer}}))
  assert action.action_kwargs["answer"] == answer and to_calls(action) == []
  action = parse_agent_action(reply({"action_key": "fill", "action_kwargs": {"value": answer},
                                     "target_element_id": 3}))
  assert to_calls(action) == [{"dotpath": "page.fill", "args": ['[data-insta-id="3"]', answer]}]


HOSTILE = [
  ("no fence here, just {\"action_key\": \"click\"}", "no ```json"),
  ("```json\n{\"action_key\": \"click\"", "no ```json"),  # never closed
  ("```\n{\"action_key\": \"go_back\"}\n```", "no ```json"),  # not marked json
  (reply("{action_key: 'click'}"), "not valid JSON"),
  (reply("{\"action_key\": \"go_back\",}"), "not valid JSON"),
  (reply("[" * 100_000 + "]" * 100_000), "longer than"),
  (reply("[" * 5000 + "]" * 5000), "nested too deeply"),
  (reply("[" * 50 + "]" * 50), "must be a JSON object"),
  (reply('{"action_key": "scroll", "action_kwargs": {"delta_x": 1%s, "delta_y": 1}}'
         % ("0" * 5000)), "could not be decoded"),
  (reply([{"action_key": "go_back"}]), "must be a JSON object"),
  (reply({"action_key": "evaluate", "action_kwargs": {"expression": "alert(1)"}}),
   "unknown action_key"),
  (reply({"action_key": "__proto__"}), "unknown action_key"),
  (reply({"action_key": None}), "unknown action_key"),
  (reply({"action_key": ["click"]}), "unknown action_key"),
  (reply({"action_key": "go_back", "__proto__": {"polluted": True}}), "unknown field"),
  (reply({"action_key": "go_back", "constructor": "x"}), "unknown field"),
  (reply({"action_key": "click", "target_element_id": 1, "dotpath": "page.evaluate"}),
   "unknown field"),
  (reply({"action_key": "fill", "action_kwargs": {"value": "a", "force": True},
          "target_element_id": 1}), "unknown action_kwargs"),
  (reply({"action_key": "fill", "action_kwargs": {}, "target_element_id": 1}), "missing"),
  (reply({"action_key": "fill", "action_kwargs": {"value": {"$gt": ""}},
          "target_element_id": 1}), "must be a string"),
  (reply({"action_key": "fill", "action_kwargs": {"value": ["a"]}, "target_element_id": 1}),
   "must be a string"),
  (reply({"action_key": "fill", "action_kwargs": {"value": "x" * (MAX_STRING_CHARS + 1)},
          "target_element_id": 1}), "longer than"),
  (reply({"action_key": "stop", "action_kwargs": {"answer": "y" * (1 << 20)}}), "longer than"),
  (reply({"action_key": "fill", "action_kwargs": "value=a", "target_element_id": 1}),
   "must be an object"),
  (reply({"action_key": "fill", "action_kwargs": {"value": "a"}}), "needs a target"),
  (reply({"action_key": "click", "target_element_id": "12\"], body, [x"}), "element id"),
  (reply({"action_key": "click", "target_element_id": -1}), "element id"),
  (reply({"action_key": "click", "target_element_id": True}), "element id"),
  (reply({"action_key": "click", "target_element_id": 1.5}), "element id"),
  (reply({"action_key": "click", "target_element_id": {"id": 1}}), "element id"),
  (reply({"action_key": "go_back", "target_element_id": 4}), "takes no target"),
  (reply({"action_key": "set_checked", "action_kwargs": {"checked": "true"},
          "target_element_id": 1}), "true or false"),
  (reply({"action_key": "set_checked", "action_kwargs": {"checked": 1},
          "target_element_id": 1}), "true or false"),
  (reply({"action_key": "scroll", "action_kwargs": {"delta_x": "0", "delta_y": 1}}),
   "must be a number"),
  (reply({"action_key": "scroll", "action_kwargs": {"delta_x": True, "delta_y": 1}}),
   "must be a number"),
  (reply('{"action_key": "scroll", "action_kwargs": {"delta_x": NaN, "delta_y": 1}}'),
   "finite number"),
  (reply('{"action_key": "scroll", "action_kwargs": {"delta_x": 1e400, "delta_y": 1}}'),
   "finite number"),
  (reply({"action_key": "goto", "action_kwargs": {"url": "javascript:alert(1)"}}), "http(s) URL"),
  (reply({"action_key": "goto", "action_kwargs": {"url": "file:///etc/passwd"}}), "http(s) URL"),
  (reply({"action_key": "goto", "action_kwargs": {"url": "http://a b/"}}), "http(s) URL"),
  (reply({"action_key": "stop", "action_kwargs": {"answer": 42}}), "must be a string"),
  (12345, "must be a string"),
]


@pytest.mark.parametrize("text,reason", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_replies_raise_one_line_errors(text, reason):
  with pytest.raises(ActionParseError) as e:
    parse_agent_action(text)
  message = str(e.value)
  assert reason in message, message
  assert "\n" not in message and len(message) < 400


def test_many_unclosed_fences_scan_in_linear_time():
  import time
  text = "```json\n" * 200_000  # every opening finds no close: must not go quadratic
  start = time.perf_counter()
  with pytest.raises(ActionParseError):
    parse_agent_action(text)
  assert time.perf_counter() - start < 2.0
