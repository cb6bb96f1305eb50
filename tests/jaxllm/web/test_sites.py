"""Sandbox sites over plain HTTP (no browser): pages render, reset restores the seed, CLI serves."""
import http.cookiejar
import os
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from jaxllm.web.sites import SITES, fetch_state, reset_site, start_sites
from jaxllm.web.tasks import Task

LOGINS = {"shop": ("emma.lewis", "market123"), "forum": ("river.stone", "forum123"),
          "tracker": ("nina.berg", "hub12345"), "mail": ("sam.carter", "pigeon123")}
PAGES = {
  "shop": ["/", "/category/kitchen", "/search?q=tea", "/product/1", "/cart", "/wishlist",
           "/account", "/contact"],
  "forum": ["/", "/f/cooking", "/post/4", "/submit", "/user/ash.patel"],
  "tracker": ["/", "/p/recipe-box", "/p/recipe-box/issues?state=all", "/p/recipe-box/issues/2",
              "/p/recipe-box/members", "/p/recipe-box/issues/new"],
  "mail": ["/", "/sent", "/message/1", "/message/1/body", "/compose", "/chat",
           "/chat/Daniel%20Osei"],
}


@pytest.fixture(scope="module")
def sandbox():
  sb = start_sites()
  yield sb
  sb.close()


def _client(base, site):
  opener = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
  user, password = LOGINS[site]
  data = urllib.parse.urlencode({"username": user, "password": password, "next": "/"}).encode()
  with opener.open(base + "/login", data) as resp:
    assert resp.status == 200
  return opener


def _post(opener, url, **form):
  with opener.open(url, urllib.parse.urlencode(form).encode()) as resp:
    return resp.read().decode()


@pytest.mark.parametrize("site", sorted(SITES))
def test_pages_render_when_signed_in(sandbox, site):
  opener = _client(sandbox.urls[site], site)
  for path in PAGES[site]:
    with opener.open(sandbox.urls[site] + path) as resp:
      assert resp.status == 200, path
      assert "internal error" not in resp.read().decode()


def test_wrong_password_and_login_required(sandbox):
  base = sandbox.urls["shop"]
  data = urllib.parse.urlencode({"username": "emma.lewis", "password": "nope"}).encode()
  with urllib.request.urlopen(base + "/login", data) as resp:
    assert "Wrong username or password" in resp.read().decode()
  with urllib.request.urlopen(base + "/wishlist") as resp:  # redirected to the login form
    assert resp.url.startswith(base + "/login")


def test_reset_restores_seeded_state(sandbox):
  urls = sandbox.urls
  for url in urls.values():
    reset_site(url)  # earlier tests marked mails read
  seeded = {name: fetch_state(url) for name, url in urls.items()}
  shop = _client(urls["shop"], "shop")
  _post(shop, urls["shop"] + "/wishlist/add", product="5")
  _post(shop, urls["shop"] + "/cart/add", product="2", qty="4")
  forum = _client(urls["forum"], "forum")
  _post(forum, urls["forum"] + "/post/1/comment", body="hello")
  _post(forum, urls["forum"] + "/post/2/vote", dir="down")
  tracker = _client(urls["tracker"], "tracker")
  _post(tracker, urls["tracker"] + "/p/garden-lights/issues/2/state")
  _post(tracker, urls["tracker"] + "/p/garden-lights/members", username="ivy.okafor",
        role="Guest")
  mail = _client(urls["mail"], "mail")
  _post(mail, urls["mail"] + "/compose", to="x@mail.example", subject="s", body="b")
  changed = {name: fetch_state(url) for name, url in urls.items()}
  for name in urls:
    assert changed[name] != seeded[name], name
  assert "5" in changed["shop"]["wishlists"]["emma.lewis"]
  assert changed["tracker"]["issues"]["garden-lights"]["2"]["state"] == "closed"
  assert changed["tracker"]["projects"]["garden-lights"]["members"]["ivy.okafor"] == "Guest"
  for url in urls.values():
    reset_site(url)
  assert {name: fetch_state(url) for name, url in urls.items()} == seeded
  with shop.open(urls["shop"] + "/wishlist") as resp:  # sessions are dropped too
    assert resp.url.startswith(urls["shop"] + "/login")


def test_seed_is_deterministic():
  for cls in SITES.values():
    assert cls().state == cls().state


def test_cli_prints_base_urls():
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen([sys.executable, "-m", "jaxllm.web.sites", "--port", "0"],
                          stdout=subprocess.PIPE, text=True, env=env)
  try:
    lines = [proc.stdout.readline().split() for _ in SITES]
    urls = dict(lines)
    assert set(urls) == set(SITES)
    for url in urls.values():
      assert url.startswith("http://127.0.0.1:")
      assert fetch_state(url)["users"]
  finally:
    proc.terminate()
    proc.wait(timeout=10)


def test_every_site_has_two_tasks_with_oracles():
  import jaxllm.web as web  # pylint: disable=import-outside-toplevel
  from jaxllm.web.tasks import TASKS  # pylint: disable=import-outside-toplevel
  assert web.list_tasks() == sorted(TASKS)
  for site in SITES:
    tasks = [t for t in TASKS.values() if t.site == site]
    assert len(tasks) >= 2, site
    for task in tasks:
      assert task.goal and task.oracle is not Task.oracle, task.task_id
  with pytest.raises(ValueError, match="unknown web task"):
    web.make_env("shop.nonexistent", base_urls={})
