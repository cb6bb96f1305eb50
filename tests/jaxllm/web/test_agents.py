"""Agents without a browser: the GenericAgent's prompt, reply parsing and retries against a fake
OpenAI-compatible endpoint (one malformed and one unsafe reply before a valid one); the oracle's
wait-then-give-up rule; the agent registry's errors."""
import numpy as np
import pytest

from jaxllm.web.agents import AgentError, GenericAgent, OracleAgent, make_agent, parse_reply
from jaxllm.web.agents.generic import ParseError
from tests.jaxllm.web.fake_openai import FakeOpenAI

OBS = {
  "goal": "Add the 'Chicken Tikka Masala Kit' to my wishlist.",
  "chat_messages": ({"role": "user", "message": "Add the 'Chicken Tikka Masala Kit' to my "
                                                 "wishlist."},),
  "open_pages_urls": ("http://127.0.0.1:5000/",), "open_pages_titles": ("OneStop Market",),
  "active_page_index": np.asarray([0]), "url": "http://127.0.0.1:5000/",
  "axtree_text": "RootWebArea 'OneStop Market'\n\t[14] textbox 'Search products'\n"
                 "\t[15] button 'Search'",
  "focused_element_bid": "", "last_action_error": "",
}


def test_parse_reply():
  assert parse_reply("<think>a</think>\n<action>\nclick('12')\n</action>") == ("a", "click('12')")
  assert parse_reply("<action>```python\nfill('3', 'x')\n```</action>") == ("", "fill('3', 'x')")
  assert parse_reply("<action>noop()") == ("", "noop()")  # an unclosed last tag still counts
  assert parse_reply("<action>click('1')</action> no, <action>click('2')</action>")[1] == \
    "click('2')"
  with pytest.raises(ParseError, match="no <action>"):
    parse_reply("I would click the search button.")
  with pytest.raises(ParseError, match="invalid action"):
    parse_reply("<action>click('12'); __import__('os').system('id')</action>")
  with pytest.raises(ParseError, match="unknown action"):
    parse_reply("<action>open_shell()</action>")


def test_generic_agent_retries_on_parse_errors_and_keeps_history():
  replies = ["Sure! I will search for it.",                                    # no action
             "<action>fill('14', 'x'); __import__('os').system('id')</action>",  # injection
             "<think>Search first.</think>\n<action>\nfill('14', 'tikka masala')\n</action>",
             "<think>Now the button.</think><action>click('15')</action>"]
  with FakeOpenAI(replies) as server:
    agent = make_agent("generic", base_url=server.url, model="m", temperature=0.5, max_tokens=64)
    agent.reset(task=None)
    step = agent.act(OBS)
    assert step.action == "fill('14', 'tikka masala')" and step.think == "Search first."
    assert step.info["requests"] == 3 and len(step.info["parse_errors"]) == 2
    assert step.info["replies"] == replies[:3]
    assert len(server.requests) == 3
    first, third = server.requests[0], server.requests[2]
    assert first["model"] == "m" and first["temperature"] == 0.5 and first["max_tokens"] == 64
    system, user = first["messages"]
    assert system["role"] == "system" and "web agent" in system["content"]
    for part in ("# Goal\nAdd the 'Chicken Tikka Masala Kit'", "[14] textbox 'Search products'",
                 "# Action space", "send_msg_to_user(text)", "<think>", "Tab 0 (active)"):
      assert part in user["content"], part
    assert "# History" not in user["content"] and "# Chat" not in user["content"]
    # Each retry carries the bad reply and the parse error back to the model.
    assert [m["role"] for m in third["messages"]] == ["system", "user", "assistant", "user",
                                                      "assistant", "user"]
    assert "no <action>" in third["messages"][3]["content"]
    assert "not allowed" in third["messages"][5]["content"]

    obs2 = dict(OBS, last_action_error="ActionError: no element with bid '14' on the page")
    step2 = agent.act(obs2)
    assert step2.action == "click('15')" and step2.info["requests"] == 1
    prompt = server.requests[3]["messages"][1]["content"]
    assert "# Error from your last action\nActionError: no element with bid '14'" in prompt
    assert ("# History of your actions\n## Step 1\n<think>\nSearch first.\n</think>\n<action>\n"
            "fill('14', 'tikka masala')\n</action>\nError: ActionError: no element") in prompt

    agent.reset(task=None)
    agent.act(OBS)
    assert "# History" not in server.requests[4]["messages"][1]["content"]


def test_generic_agent_gives_up_after_max_retries():
  with FakeOpenAI(["no idea"]) as server:
    agent = GenericAgent(server.url, "m", max_retries=1, use_thinking=False)
    with pytest.raises(AgentError, match="no valid action after 2 replies"):
      agent.act(OBS)
    assert len(server.requests) == 2
    assert "<think>" not in server.requests[0]["messages"][1]["content"]


def test_generic_agent_endpoint_down_is_an_agent_error():
  agent = GenericAgent("http://127.0.0.1:9/v1", "m")
  agent.client.max_retries, agent.client.timeout = 0, 2.0
  with pytest.raises(AgentError, match="endpoint .* failed"):
    agent.act(OBS)


class _Task:
  task_id = "fake.task"

  def __init__(self, errors):
    self.errors = list(errors)

  def oracle(self, obs):
    if self.errors:
      raise self.errors.pop(0)
    return "click('1')"


def test_oracle_waits_for_a_loading_page_then_gives_up():
  agent = OracleAgent(max_waits=2)
  agent.reset(_Task([KeyError("no link"), KeyError("no link")]))
  assert [agent.act(OBS).action for _ in range(3)] == ["noop(300)", "noop(300)", "click('1')"]
  agent.reset(_Task([KeyError("no link")] * 3))
  assert agent.act(OBS).action == agent.act(OBS).action == "noop(300)"
  with pytest.raises(AgentError, match="lost on http://127.0.0.1:5000/"):
    agent.act(OBS)
  agent.reset(_Task([NotImplementedError("no script")]))
  with pytest.raises(AgentError, match="no scripted solution"):
    agent.act(OBS)


def test_make_agent_errors():
  with pytest.raises(ValueError, match="unknown agent 'gpt'; choose from generic, oracle"):
    make_agent("gpt")
  with pytest.raises(ValueError, match="takes no argument.*base_url"):
    make_agent("oracle", base_url="x")
  with pytest.raises(ValueError, match="set agent.base_url"):
    make_agent("generic", base_url="", model="m")
