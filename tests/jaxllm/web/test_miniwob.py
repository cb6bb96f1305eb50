"""MiniWoB++ tasks served from the `miniwob` package: registration, scripted solutions earn 1,
wrong actions earn 0 (negative raw reward), seeding is deterministic, the time limit is optional."""
import urllib.error
import urllib.request

import pytest

import jaxllm.web as web
from jaxllm.web import browser, miniwob
from jaxllm.web.axtree import AXTree, node_name
from tests.jaxllm.web.chromium import needs_chromium


needs_miniwob = pytest.mark.skipif(
  miniwob.miniwob_html_dir() is None, reason="the `miniwob` package (html/ pages) is not installed")
needs_browser = needs_chromium
pytestmark = needs_miniwob


@pytest.fixture(scope="module")
def server():
  srv = miniwob.MiniWobServer()  # this module's own, on an ephemeral port
  yield srv
  srv.close()


@pytest.fixture(scope="module")
def session():
  shared = browser.BrowserSession()
  yield shared
  shared.close()


@pytest.fixture
def make(server, session):
  envs = []

  def factory(name, **options):
    options.setdefault("session", session)
    if options.keys() & {"time_limit_ms", "show_display"}:
      env = miniwob.make_miniwob_env(name, base_url=server.url, **options)
    else:
      env = web.make_env(miniwob.TASK_PREFIX + name, base_urls={"miniwob": server.url}, **options)
    envs.append(env)
    return env

  yield factory
  for env in envs:
    env.close()


# ------------------------------------------------------------------ no browser needed
def test_task_list_has_the_package_tasks():
  names = miniwob.miniwob_task_names()
  assert "click-test" in names and len(names) > 100
  tasks = web.list_tasks()
  ids = [t for t in tasks if t.startswith("miniwob.")]
  assert ids == ["miniwob." + n for n in names]
  assert "miniwob.click-test" in tasks and "shop.wishlist_add" in tasks  # sandbox tasks stay
  everything = miniwob.miniwob_task_names(include_excluded=True)
  assert set(everything) - set(names) == set(miniwob.EXCLUDED)
  assert not any("miniwob." + n in tasks for n in miniwob.EXCLUDED)
  assert miniwob.register_miniwob_tasks() == ids  # idempotent
  with pytest.raises(ValueError, match="no MiniWoB task"):
    miniwob.miniwob_task_class("no-such-task")


def test_server_serves_the_pages_on_loopback(server):
  assert server.url.startswith("http://127.0.0.1:")
  with urllib.request.urlopen(server.task_url("click-test"), timeout=10) as resp:
    assert b"core.startEpisode()" in resp.read()
  with urllib.request.urlopen(server.url + "/core/core.js", timeout=10) as resp:
    assert b"startEpisodeReal" in resp.read()
  with pytest.raises(urllib.error.HTTPError):
    urllib.request.urlopen(server.url + "/miniwob/nope.html", timeout=10)


# ------------------------------------------------------------------ browser episodes
def _run_oracle(env, obs, max_steps=4):
  for _ in range(max_steps):
    obs, reward, terminated, truncated, info = env.step(env.task.oracle(obs))
    assert obs["last_action_error"] == "", obs["last_action_error"]
    if terminated or truncated:
      return reward, terminated, info["task_info"]
  return 0.0, False, {}


@needs_browser
@pytest.mark.parametrize("name", ["click-test", "click-button", "enter-text", "focus-text"])
def test_scripted_solution_earns_reward_one(make, name):
  env = make(name)
  obs, info = env.reset(seed=7)
  assert info["task_id"] == "miniwob." + name and info["task_info"]["seed"] == 7
  assert obs["goal"] and obs["chat_messages"][0]["message"] == obs["goal"]
  assert obs["url"].endswith(f"/miniwob/{name}.html")
  assert "Last reward" not in obs["axtree_text"] and "START" not in obs["axtree_text"]
  assert env.task.validate(env.session.page, [])[:2] == (0.0, False)
  reward, terminated, task_info = _run_oracle(env, obs)
  assert (reward, terminated) == (1.0, True)
  assert task_info["done"] and task_info["raw_reward"] > 0 and 0 < task_info["env_reward"] <= 1


@needs_browser
def test_wrong_actions_get_zero_and_negative_raw_reward(make):
  env = make("enter-text")
  obs, _ = env.reset(seed=1)
  box, submit = web.find_bid(obs, "textbox"), web.find_bid(obs, "button", "Submit")
  obs, reward, terminated, _, info = env.step(f"fill({box!r}, 'not the word')")
  assert (reward, terminated, info["task_info"]["done"]) == (0.0, False, False)
  obs, reward, terminated, _, info = env.step(f"click({submit!r})")
  assert obs["last_action_error"] == ""
  assert (reward, terminated) == (0.0, True) and info["task_info"]["raw_reward"] == -1
  # The outcome is final: solving it afterwards changes nothing.
  obs, reward, _, _, info = env.step(env.task.oracle(obs))
  assert reward == 0.0 and info["task_info"]["raw_reward"] == -1

  env = make("click-button")
  for seed in range(10):  # a problem with a button of another label than the asked one
    obs, _ = env.reset(seed=seed)
    target = obs["goal"].split('"')[1]
    others = [n for n in AXTree(obs["axtree_object"]).find("button") if node_name(n) != target]
    if others:
      break
  obs, reward, terminated, _, info = env.step(f"click({others[0]['bid']!r})")
  assert (reward, terminated) == (0.0, True) and info["task_info"]["raw_reward"] < 0


@needs_browser
def test_same_seed_same_problem(make):
  env = make("enter-text")
  first, info = env.reset(seed=3)
  again, _ = env.reset(seed=3)
  assert first["goal"] == again["goal"] and first["axtree_text"] == again["axtree_text"]
  goals = {first["goal"]} | {env.reset(seed=s)[0]["goal"] for s in (4, 5, 6)}
  assert len(goals) > 1  # and other seeds give other problems
  obs, info = env.reset()  # no seed: one is drawn and reported
  assert isinstance(info["task_info"]["seed"], int)


@needs_browser
def test_time_limit_is_off_by_default_and_configurable(make):
  env = make("click-test")
  env.reset(seed=0)
  page = env.session.page
  assert page.evaluate("core.EPISODE_MAX_TIME") == miniwob.NO_TIME_LIMIT_MS
  page.wait_for_timeout(400)
  assert env.task.validate(page, [])[:2] == (0.0, False)

  env = make("click-test", time_limit_ms=200)
  obs, info = env.reset(seed=0)
  assert info["task_info"]["time_limit_ms"] == 200
  env.session.page.wait_for_timeout(500)
  obs, reward, terminated, _, info = env.step("noop(10)")
  assert (reward, terminated) == (0.0, True)
  assert info["task_info"]["raw_reward"] == -1 and info["task_info"]["reason"] == "timed out"
