"""One of our sandbox tasks registered with BrowserGym and solved inside BrowserGym's own env by
the scripted oracle (reading BrowserGym's observations and bids); the chat window's second
Chromium starts from the system Chromium through the PLAYWRIGHT_BROWSERS_PATH links."""
import os
import time

import gymnasium as gym
import psutil
import pytest

import jaxllm.web as web
from tests.jaxllm.web.chromium import needs_chromium

bgym_core = pytest.importorskip("browsergym.core")


pytestmark = needs_chromium


def _chromium_below_us():
  out = []
  for p in psutil.Process().children(recursive=True):
    try:
      if "chrom" in p.name().lower() and p.status() != psutil.STATUS_ZOMBIE:
        out.append(p.pid)
    except psutil.NoSuchProcess:
      pass
  return out


@pytest.fixture
def browsergym_playwright(tmp_path_factory, monkeypatch):
  """BrowserGym's global Playwright driver, started with the links; stopped afterwards so that
  this thread can start our own driver again."""
  from jaxllm.web import bgym  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", "")  # restored at teardown
  folder = bgym.prepare_browsers_path(str(tmp_path_factory.mktemp("pw-browsers")))
  assert os.environ["PLAYWRIGHT_BROWSERS_PATH"] == folder
  links = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs
           if os.path.islink(os.path.join(d, f))]
  assert links and all(os.path.realpath(p) == os.path.realpath(web.find_chromium())
                       for p in links)
  yield bgym
  if bgym_core._PLAYWRIGHT is not None:  # pylint: disable=protected-access
    bgym_core._PLAYWRIGHT.stop()  # pylint: disable=protected-access
    bgym_core._set_global_playwright(None)  # pylint: disable=protected-access


def test_oracle_solves_our_task_inside_browsergym(browsergym_playwright):
  bgym = browsergym_playwright
  ids = bgym.register_tasks()
  assert "browsergym/jaxllm.shop.cart_add" in ids and len(ids) == 9
  assert bgym.register_tasks(["shop.cart_add"]) == ["browsergym/jaxllm.shop.cart_add"]
  env = gym.make("browsergym/jaxllm.shop.cart_add", slow_mo=0,  # the default (1 s) only slows
                 pw_chromium_kwargs={"executable_path": web.find_chromium()})
  try:
    obs, _ = env.reset(seed=0)
    assert obs["goal"] == "Put 3 units of the 'Cast Iron Skillet' in my shopping cart."
    assert env.unwrapped.task.slow_mo == 1000  # the task keeps BrowserGym's default
    task = env.unwrapped.task.inner
    rewards, actions = [], []
    for _ in range(6):
      ours = bgym.to_jaxllm_obs(obs)
      assert "link 'Kitchen'" in ours["axtree_text"] or "Quantity" in ours["axtree_text"]
      actions.append(task.oracle(ours))
      obs, reward, terminated, _, _ = env.step(actions[-1])
      assert obs["last_action_error"] == "", obs["last_action_error"]
      rewards.append(reward)
      if terminated:
        break
    assert rewards == [0.0, 0.0, 1.0], (rewards, actions)
    assert task.state()["carts"]["emma.lewis"]["7"] == 3
  finally:
    env.close()
  deadline = time.time() + 10
  while _chromium_below_us() and time.time() < deadline:
    time.sleep(0.2)
  assert _chromium_below_us() == []
