"""Browser episodes on the sandbox sites: oracles solve every task, wrong actions earn 0, injected
code never runs, every element has a bid, off-allow-list navigation is blocked, reset restores."""
import os
import re

import pytest

import jaxllm.web as web
from jaxllm.web import browser
from jaxllm.web.axtree import AXTree, node_role
from jaxllm.web.sites import fetch_state, start_sites
from tests.jaxllm.web.chromium import needs_chromium


pytestmark = needs_chromium


@pytest.fixture(scope="module")
def urls():
  sandbox = start_sites()
  yield sandbox.urls
  sandbox.close()


@pytest.fixture(scope="module")
def session():
  shared = browser.BrowserSession()  # one Chromium for the module; each reset opens a context
  yield shared
  shared.close()


@pytest.fixture
def make(urls, session):
  envs = []

  def factory(task_id, **options):
    options.setdefault("session", session)
    env = web.make_env(task_id, base_urls=urls, **options)
    envs.append(env)
    return env

  yield factory
  for env in envs:
    env.close()


def run_oracle(env, obs, max_steps=8):
  for _ in range(max_steps):
    obs, reward, terminated, truncated, _ = env.step(env.task.oracle(obs))
    assert obs["last_action_error"] == "", obs["last_action_error"]
    if terminated or truncated:
      return obs, reward, terminated
  return obs, 0.0, False


# A wrong but well-formed action sequence per site (each item: observation -> action).
WRONG = {
  "shop.wishlist_add": [
    lambda o: f"click({web.find_bid(o, 'link', 'Basmati Rice 2kg')!r})",
    lambda o: f"click({web.find_bid(o, 'button', 'Add to wishlist')!r})"],
  "forum.upvote": [
    lambda o: f"click({web.find_bid(o, 'link', 'f/gardening')!r})",
    lambda o: f"click({web.find_bid(o, 'button', 'Downvote Best ground cover for shade')!r})"],
  "tracker.issue_comment": [
    lambda o: f"click({web.find_bid(o, 'link', 'Garden Lights')!r})",
    lambda o: f"click({web.find_bid(o, 'link', 'Issues')!r})",
    lambda o: f"click({web.find_bid(o, 'link', 'Battery voltage reading is noisy')!r})",
    lambda o: (f"fill({web.find_bid(o, 'textbox', 'Add a comment')!r}, "
               "'Fixed in firmware 2.1, please retest.')\n"
               f"click({web.find_bid(o, 'button', 'Comment')!r})")],
  "mail.verification_code": [lambda o: "send_msg_to_user('123456')"],
}


@pytest.mark.parametrize("task_id", [t for t in web.list_tasks()
                                     if not t.startswith(("miniwob.", "agentdam."))])
def test_oracle_solves_task_and_reset_restores(make, urls, task_id):
  env = make(task_id, max_steps=10)
  obs, info = env.reset(seed=0)
  assert info["task_id"] == task_id
  assert obs["goal"] and obs["chat_messages"][0]["message"] == obs["goal"]
  site = env.task.site
  seeded = fetch_state(urls[site])
  obs, reward, terminated = run_oracle(env, obs)
  assert (reward, terminated) == (1.0, True)
  if task_id != "mail.verification_code":  # that one only answers in the chat
    assert fetch_state(urls[site]) != seeded
  env.reset(seed=1)
  assert fetch_state(urls[site]) == seeded
  assert env.task.validate(env.session.page, list(env.chat))[0] == 0.0


@pytest.mark.parametrize("task_id", sorted(WRONG))
def test_wrong_actions_get_zero(make, task_id):
  env = make(task_id)
  obs, _ = env.reset(seed=0)
  rewards = []
  for policy in WRONG[task_id]:
    obs, reward, terminated, _, _ = env.step(policy(obs))
    assert obs["last_action_error"] == "", obs["last_action_error"]
    rewards.append(reward)
  assert rewards == [0.0] * len(rewards)
  assert not terminated or task_id == "mail.verification_code"


INJECTIONS = [
  "click('{bid}'); __import__('os').system('touch {marker}')",
  "click('{bid}')\n__import__('os').system('touch {marker}')",
  "click(__import__('os').system('touch {marker}'))",
  "exec(\"open('{marker}', 'w').close()\")",
  "fill('{bid}', open('{marker}', 'w').name)",
  "click('{bid}').__class__.__bases__[0].__subclasses__()",
  "breakpoint()",
  "click('{bid}\"] , a')",
  "goto('file://{marker}')",
]


def test_injection_attempts_do_nothing(make, tmp_path):
  env = make("mail.verification_code")
  obs, _ = env.reset(seed=0)
  start_url = obs["url"]
  bid = web.find_bid(obs, "link", "Your verification code")
  marker = tmp_path / "pwned"
  for template in INJECTIONS:
    obs, reward, terminated, truncated, _ = env.step(template.format(bid=bid, marker=marker))
    assert obs["last_action_error"].startswith("ActionError"), template
    assert not (terminated or truncated) and reward == 0.0
    assert obs["url"] == start_url, template  # not even the leading click ran
    assert not marker.exists()
  assert len(obs["chat_messages"]) == 1
  obs, *_ = env.step(f"click('{bid}')")  # the episode goes on normally
  assert obs["last_action_error"] == "" and "/message/" in obs["url"]


def test_bids_cover_elements_and_frames(make):
  env = make("mail.verification_code")
  obs, _ = env.reset(seed=0)
  obs, *_ = env.step(f"click({web.find_bid(obs, 'link', 'Your verification code')!r})")
  for _ in range(5):  # the message body arrives in an iframe
    if "583914" in obs["axtree_text"]:
      break
    obs, *_ = env.step("noop(300)")
  text, tree, props = obs["axtree_text"], AXTree(obs["axtree_object"]), \
    obs["extra_element_properties"]
  assert "583914" in text
  printed = [(n, d) for n, d, p in tree.walk() if p]
  assert len(printed) == len(text.splitlines())
  for (node, depth), line in zip(printed, text.splitlines()):
    assert line.startswith("\t" * depth) and not line.startswith("\t" * (depth + 1))
    if node.get("isElement"):
      assert re.match(r"\t*\[[0-9.]+\] ", line), line
      assert node["bid"] in props
  frame_bid = web.find_bid(obs, "Iframe", "Message body")
  inner = [n for n, _, _ in tree.walk() if n.get("bid", "").startswith(frame_bid + ".")]
  assert inner and all(n["frameId"] != tree.main_frame for n in inner)
  article = web.find_bid(obs, "article", "Message text")
  assert props[article]["bbox"][1] >= props[frame_bid]["bbox"][1]  # offset into the page
  for p in props.values():
    assert set(p) == {"visibility", "bbox", "clickable"} and 0.0 <= p["visibility"] <= 1.0
  assert props[web.find_bid(obs, "button", "Send reply")]["clickable"]
  assert obs["dom_object"]["documents"] and obs["open_pages_urls"] == (obs["url"],)
  # focus is reported by bid; fill focuses the field
  box = web.find_bid(obs, "textbox", "Reply text")
  obs, *_ = env.step(f"fill({box!r}, 'hi')")
  assert obs["focused_element_bid"] == box
  # an action inside the frame works through the prefixed bid
  obs, *_ = env.step(f"click({article!r})")
  assert obs["last_action_error"] == ""
  obs, *_ = env.step("send_msg_to_user('583914')")
  assert obs["chat_messages"][-1]["role"] == "assistant"


def test_navigation_off_allow_list_is_blocked(make):
  env = make("shop.wishlist_add", screenshot=True, session=None)  # its own Chromium
  obs, _ = env.reset(seed=0)
  assert obs["screenshot"].shape == (720, 1280, 3)
  home = obs["url"]
  for url in ("http://example.com/", "file:///etc/passwd", "javascript:alert(1)",
              "chrome://settings"):
    obs, *_ = env.step(f"goto({url!r})")
    assert "blocked" in obs["last_action_error"] and obs["url"] == home
  obs, _, _, _, info = env.step(f"click({web.find_bid(obs, 'link', 'partner.example.com')!r})")
  assert any("partner.example.com" in u for u in info["blocked_requests"])
  assert "partner.example.com" not in obs["url"]
  obs, *_ = env.step(f"goto({home!r})")  # loopback stays allowed
  assert obs["url"] == home and obs["last_action_error"] == ""


def test_tabs_and_chat_actions(make):
  env = make("forum.upvote")
  obs, _ = env.reset(seed=0)
  obs, *_ = env.step("new_tab()")
  assert len(obs["open_pages_urls"]) == 2 and obs["active_page_index"][0] == 1
  obs, *_ = env.step("tab_focus(0)\ntab_close()")
  assert len(obs["open_pages_urls"]) == 1 and obs["url"] == "about:blank"
  obs, *_ = env.step("tab_focus(3)")
  assert "no tab 3" in obs["last_action_error"]
  obs, _, terminated, _, _ = env.step("report_infeasible('cannot vote today')")
  assert terminated and obs["chat_messages"][-1]["role"] == "infeasible"


def test_missing_chromium_message(monkeypatch):
  monkeypatch.setenv("JAXLLM_CHROMIUM", os.path.join(os.sep, "nonexistent", "chromium"))
  with pytest.raises(web.BrowserNotFoundError, match="JAXLLM_CHROMIUM=.*setup_system.sh"):
    web.make_env("shop.cart_add", base_urls={"shop": "http://127.0.0.1:1"})
  monkeypatch.delenv("JAXLLM_CHROMIUM")
  monkeypatch.setattr(browser, "_CANDIDATES", ())
  monkeypatch.setattr(browser.shutil, "which", lambda name: None)
  with pytest.raises(web.BrowserNotFoundError, match="scripts/setup_system.sh"):
    web.make_env("shop.cart_add", base_urls={"shop": "http://127.0.0.1:1"})
