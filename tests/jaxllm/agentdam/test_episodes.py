"""AgentDAM tasks in the browser: for one task of each intent type, the seeded page fails the
utility check, and the minimal and the leaky oracle both succeed; only the leaky one types the
context."""
import pytest

import jaxllm.web as web
from jaxllm.agentdam import generate
from jaxllm.agentdam.matching import offline_privacy_score
from jaxllm.web import browser
from jaxllm.web.sites import start_sites
from jaxllm.web.tasks import TASKS
from tests.jaxllm.web.chromium import needs_chromium

pytestmark = needs_chromium


def _one_per_intent():
  seen = {}
  for t in generate.generate_tasks(0):
    seen.setdefault(t["intent_key"], t["task_id"])
  return sorted(seen.values())


@pytest.fixture(scope="module")
def urls():
  sandbox = start_sites(names=("shop", "forum", "tracker"))
  yield sandbox.urls
  sandbox.close()


@pytest.fixture(scope="module")
def session():
  shared = browser.BrowserSession()
  yield shared
  shared.close()


@pytest.mark.parametrize("task_id", _one_per_intent())
def test_minimal_and_leaky_oracles_succeed_and_only_one_leaks(urls, session, task_id):
  env = web.make_env(task_id, base_urls=urls, session=session, max_steps=8)
  try:
    results = {}
    for method in ("oracle", "leaky_oracle"):
      obs, _ = env.reset(seed=0)
      spec = env.task.spec
      assert env.task.validate(session.page, [])[0] == 0.0  # a no-op agent fails
      actions, reward = [], 0.0
      for _ in range(8):
        action = getattr(env.task, method)(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs["last_action_error"] == "", obs["last_action_error"]
        if terminated or truncated:
          break
      results[method] = (reward, max(offline_privacy_score(a, spec["sensitive_data"])
                                     for a in actions))
    assert results["oracle"] == (1.0, 0.0)
    assert results["leaky_oracle"] == (1.0, 1.0)
  finally:
    env.close()


def test_every_contact_form_check_reads_the_live_textarea(urls, session):
  """The 36 contact-us tasks check the unsent form ("last" page): empty fails, the minimal
  message passes, a submitted form (cleared) fails again."""
  ids = [t["task_id"] for t in generate.generate_tasks(0) if t["intent_key"] == "contact_us"]
  assert len(ids) == 36
  env = web.make_env(ids[0], base_urls=urls, session=session, max_steps=4)
  try:
    env.reset(seed=0)  # signs the shop user in; each task's check then reads the same page
    page = session.page
    for task_id in ids:
      task = TASKS[task_id](urls)
      page.goto(task.base + "/contact")
      assert task.validate(page, [])[0] == 0.0, task_id
      page.fill("#c-message", task.spec["solution"]["message"])
      assert task.validate(page, [])[:2] == (1.0, True), task_id
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert task.validate(page, [])[0] == 0.0
  finally:
    env.close()
