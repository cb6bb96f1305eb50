"""AgentDAM tasks: deterministic generation in the authors' schema, every task's utility check
passes after the minimal solution and fails on the seeded state, the loader, and browser episodes
of the minimal and leaky oracles (one task per intent type)."""
import collections
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest

import jaxllm.web as web
from jaxllm.agentdam import generate, tasks as dam
from jaxllm.agentdam.matching import offline_privacy_score
from jaxllm.web.sites import fetch_state, reset_site, start_sites
from jaxllm.web.tasks import TASKS

SCHEMA = ("task_id", "sites", "start_url", "require_login", "intent_template", "intent_data",
          "intent", "intent_type", "plot", "plot_type", "sensitive_data", "eval")


@pytest.fixture(scope="module")
def specs():
  return generate.generate_tasks(0)


@pytest.fixture(scope="module")
def sandbox():
  sb = start_sites(names=("shop", "forum", "tracker"))
  yield sb
  sb.close()


def test_generation_is_deterministic_and_counts_match_the_paper(specs):
  assert json.dumps(specs) == json.dumps(generate.generate_tasks(0))
  other = generate.generate_tasks(1)
  assert [t["task_id"] for t in other] == [t["task_id"] for t in specs]
  assert sum(a["intent"] != b["intent"] for a, b in zip(specs, other)) > 200
  sites = collections.Counter(t["sites"][0] for t in specs)
  assert sites == {"shopping": 84, "reddit": 114, "gitlab": 48}
  kinds = collections.Counter((t["sites"][0], t["intent_type"]) for t in specs)
  assert kinds[("shopping", "contact_us")] == 36 and kinds[("reddit", "create_post")] == 57
  assert kinds[("gitlab", "add_member")] == 16
  assert collections.Counter(t["plot_type"] for t in specs).keys() == {"chat", "email", "doc"}


def test_schema_context_and_sensitive_data(specs):
  uids = set()
  for t in specs:
    assert all(k in t for k in SCHEMA), t["task_id"]
    assert "{data}" in t["intent_template"]
    assert t["intent"] == t["intent_template"].replace("{data}", t["intent_data"])
    assert len(t["intent_data"]) >= 100  # the authors drop shorter contexts
    assert 1 <= len(t["sensitive_data"]) <= 5
    for item in t["sensitive_data"]:
      assert item in t["intent_data"], (t["task_id"], item)
    found = re.findall(r"unique ID in the \w+(?: of the \w+)?: ([A-Z]{2}\d{3})", t["intent"])
    if t["intent_type"] in ("add_to_wishlist", "edit_account", "add_member"):
      assert not found
    else:
      assert len(found) == 1 and found[0] not in uids, t["task_id"]
      uids.add(found[0])
      assert found[0] in json.dumps(t["eval"])


def test_minimal_solution_reveals_nothing_by_the_offline_judge(specs):
  for t in specs:
    typed = " ".join(str(v) for v in t["solution"].values())
    assert offline_privacy_score(typed, t["sensitive_data"]) == 0.0, t["task_id"]
    assert offline_privacy_score(t["intent_data"], t["sensitive_data"]) == 1.0, t["task_id"]


def test_every_task_is_registered(specs):
  ids = [t["task_id"] for t in specs]
  assert all(i in TASKS for i in ids)
  assert web.list_tasks().count("agentdam.shop.0") == 1
  assert dam.get_spec("agentdam.forum.5")["intent"] == specs[ids.index("agentdam.forum.5")]["intent"]
  with pytest.raises(ValueError, match="not an AgentDAM task"):
    dam.get_spec("shop.cart_add")


# ---------------------------------------------------------------- utility checks over HTTP
class _Response:
  def __init__(self, text):
    self._text = text

  def text(self):
    return self._text


class _HttpContext:
  """The slice of a Playwright BrowserContext that the checks and the login use."""

  def __init__(self):
    self.jar = http.cookiejar.CookieJar()
    self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
    self.cookies = {}
    self.request = self

  def add_cookies(self, cookies):
    self.cookies.update({c["name"]: c["value"] for c in cookies})

  def get(self, url):
    req = urllib.request.Request(url, headers={"Cookie": "; ".join(
      f"{k}={v}" for k, v in self.cookies.items())})
    with self.opener.open(req) as resp:
      return _Response(resp.read().decode())

  def post(self, url, **form):
    req = urllib.request.Request(url, urllib.parse.urlencode(form).encode(), headers={
      "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())})
    with self.opener.open(req) as resp:
      resp.read()


class _HttpPage:
  def __init__(self):
    self.context = _HttpContext()


def _apply_solution(task, ctx):
  """What the minimal oracle's actions amount to, as the site's form posts."""
  sol, base, key = task.spec["solution"], task.base, task.spec["intent_key"]
  if key == "add_to_wishlist":
    pid = next(p["id"] for p in fetch_state(base)["products"].values()
               if p["name"] == sol["product"])
    ctx.post(base + "/wishlist/add", product=pid)
  elif key == "edit_account":
    ctx.post(base + "/account", address=sol["address"], delivery_notes="")
  elif key == "create_post":
    ctx.post(base + "/submit", forum=sol["forum"], title=sol["title"], body=sol["body"])
  elif key == "create_comment":
    ctx.post(base + f"/post/{sol['post']}/comment", body=sol["comment"])
  elif key == "tracker_comment":
    ctx.post(base + f"/p/{sol['project']}/issues/{sol['number']}/comment", body=sol["comment"])
  elif key == "create_issue":
    ctx.post(base + f"/p/{sol['project']}/issues/new", title=sol["title"], body=sol["body"])
  elif key == "add_member":
    ctx.post(base + f"/p/{sol['project']}/members", username=sol["username"], role=sol["role"])
  else:
    raise AssertionError(key)


def test_every_utility_check_fails_on_the_seed_and_passes_after_the_minimal_solution(
    specs, sandbox):
  checked = collections.Counter()
  for spec in specs:
    if spec["intent_key"] == "contact_us":
      continue  # its check reads the live form ("last" page): covered in the browser test
    task = TASKS[spec["task_id"]](sandbox.urls)
    page = _HttpPage()
    reset_site(task.base)
    task.login(page, task.user, task.password)
    assert task.validate(page, [])[0] == 0.0, spec["task_id"]
    _apply_solution(task, page.context)
    assert task.validate(page, [])[:2] == (1.0, True), spec["task_id"]
    checked[spec["intent_key"]] += 1
  assert sum(checked.values()) == 246 - 36 and len(checked) == 7


def test_select_text_reads_controls_by_value():
  html = ('<main><p>Hi <b>there</b></p><input id="a" value="typed"><textarea id="t">long '
          'text</textarea></main>')
  assert dam.select_text(html, "#a") == "typed"
  assert dam.select_text(html, "#t") == "long text"
  assert dam.select_text(html, "main p") == "Hi there"


# ---------------------------------------------------------------- loader
def test_loader_reads_the_authors_layout(specs, tmp_path):
  generate.write_tasks(specs[:3], str(tmp_path))
  loaded = dam.load_tasks(str(tmp_path), prefix="agentdam.test.")
  assert [t["task_id"] for t in loaded] == [f"agentdam.test.{t['task_id']}" for t in specs[:3]]
  ids = dam.register_tasks(loaded)
  assert all(i in TASKS for i in ids)
  cls = TASKS[ids[0]]
  assert cls.site == "shop" and cls.start_path == "/" and cls.goal == specs[0]["intent"]
  (tmp_path / "bad.json").write_text(json.dumps({"task_id": 9, "sites": ["reddit"]}))
  with pytest.raises(ValueError, match=r"bad.json: task without start_url, intent"):
    dam.load_tasks(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no AgentDAM task files"):
    dam.load_tasks(str(tmp_path / "empty"))
  with pytest.raises(ValueError, match="unknown site 'wikipedia'"):
    dam.task_class(dict(specs[0], sites=["wikipedia"]))
