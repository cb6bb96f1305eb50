"""The InSTA session server as a subprocess on the system Chromium, driven over HTTP.

One module-scoped server and the sandbox forum serve most tests; tests that need other server
options (a 2 s session timeout, a spare server for the pool, a browser crash) start their own and
stop it before the next test, so at most two Chromiums run at once.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from jaxllm.insta.client import InstaError, ServerPool, SessionClient
from tests.jaxllm.insta.conftest import _spawn, _stop
from tests.jaxllm.web.chromium import needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def spawn():
  """Starts extra servers for one test: spawn(*args) -> (proc, url); all stopped afterwards."""
  procs: list[subprocess.Popen] = []

  def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc, url = _spawn(*args)
    procs.append(proc)
    return proc, url

  yield start
  for proc in procs:
    _stop(proc)


def _post(url: str, path: str, raw: bytes | None = None) -> tuple[int, dict]:
  req = urllib.request.Request(url + path, data=raw if raw is not None else b"", method="POST")
  try:
    with urllib.request.urlopen(req, timeout=60) as resp:
      return resp.status, json.loads(resp.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


def _find(metadata: list[dict], tag: str, label: str) -> str:
  for item in metadata:
    if item["tag"] == tag and label in (item["name"], item["text"]):
      return item["id"]
  raise AssertionError(f"no {tag} {label!r} in {metadata}")


def _sel(element_id: str) -> str:
  return f'[data-insta-id="{element_id}"]'


def _login_calls(client: SessionClient, sid: str, forum: str) -> list[dict]:
  client.goto(sid, forum + "/login")
  meta = client.observation(sid)["metadata"]
  return [{"dotpath": "page.fill", "args": [_sel(_find(meta, "input", "Username")), "ash.patel"]},
          {"dotpath": "page.fill", "args": [_sel(_find(meta, "input", "Password")), "forum123"]},
          {"dotpath": "page.click", "args": [_sel(_find(meta, "button", "Sign in"))]}]


def test_start_goto_observe_act_close(server, forum):
  client = SessionClient(server)
  sid = client.start(width=800, height=600, locale="en-GB")
  assert client.goto(sid, forum + "/login") == forum + "/login"
  obs = client.observation(sid)
  assert set(obs) >= {"raw_html", "screenshot", "metadata", "current_url"}
  assert obs["current_url"] == forum + "/login"
  assert "data-insta-id" in obs["raw_html"] and "Password" in obs["raw_html"]
  png = base64.b64decode(obs["screenshot"])
  assert png[:8] == b"\x89PNG\r\n\x1a\n"
  assert struct.unpack(">II", png[16:24]) == (800, 600)  # IHDR: the requested viewport
  ids = [m["id"] for m in obs["metadata"]]
  assert len(ids) == len(set(ids)) > 5 and all(i.isdigit() for i in ids)
  button = next(m for m in obs["metadata"] if m["tag"] == "button")
  assert button["text"] == "Sign in" and button["interactive"] and len(button["bbox"]) == 4
  assert f'data-insta-id="{button["id"]}"' in obs["raw_html"]

  answer = client.action(sid, _login_calls(client, sid, forum))
  assert answer["ok"] and answer["completed"] == 3 and answer["error"] is None
  assert answer["current_url"] == forum + "/"
  obs = client.observation(sid)
  assert "Signed in as" in obs["raw_html"] and "ash.patel" in obs["raw_html"]

  # a valid call that fails in the page is an answer, not an HTTP error
  answer = client.action(sid, [{"dotpath": "page.click", "args": [_sel("999999")]}])
  assert not answer["ok"] and answer["completed"] == 0 and "page.click" in answer["error"]

  assert client.close(sid) is True
  with pytest.raises(InstaError) as e:
    client.observation(sid)
  assert e.value.status == 404 and "closed" in e.value.message


def test_sessions_are_isolated(server, forum):
  client = SessionClient(server)
  a, b = client.start(), client.start()
  try:
    assert client.action(a, _login_calls(client, a, forum))["ok"]
    client.goto(b, forum + "/")
    client.goto(a, forum + "/")
    html_a, html_b = (client.observation(s)["raw_html"] for s in (a, b))
    assert "Signed in as" in html_a
    assert "Signed in as" not in html_b and "Sign in" in html_b
  finally:
    client.close(a)
    client.close(b)


def test_bad_session_ids_and_bodies(server, forum):
  for path in ("/observation", "/action", "/close", f"/goto?url={forum}/"):
    sep = "&" if "?" in path else "?"
    status, body = _post(server, f"{path}{sep}session_id=nope", b"[]")
    assert status == 404 and "unknown session" in body["error"], (path, body)
  status, body = _post(server, "/observation")
  assert status == 400 and "session_id" in body["error"]

  sid = SessionClient(server).start()
  try:
    status, body = _post(server, f"/action?session_id={sid}", b"[{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = _post(server, "/start", b"{oops")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = _post(server, "/start", b'{"executable_path": "/bin/sh"}')
    assert status == 400 and "unknown start option" in body["error"]
    status, body = _post(server, "/start?width=huge")
    assert status == 400 and "width" in body["error"]
  finally:
    SessionClient(server).close(sid)


def test_actions_outside_the_schema_are_rejected_before_anything_runs(server, forum):
  client = SessionClient(server)
  sid = client.start()
  try:
    client.goto(sid, forum + "/login")
    user = _sel(_find(client.observation(sid)["metadata"], "input", "Username"))
    fill = {"dotpath": "page.fill", "args": [user, "river.stone"]}
    evil = {"dotpath": "page.evaluate", "args": ["document.title = 'pwned'"]}
    bad = [
      ([fill, evil], "page.evaluate"),
      ([fill] * 4, "1 to 3"),
      ([], "1 to 3"),
      ({"dotpath": "page.click"}, "JSON list"),
      ([{"dotpath": "page.fill.__globals__", "args": []}], "not allowed"),
      ([{"dotpath": "page.click", "args": [user], "kwargs": {"force": True}}], "unknown field"),
      ([{"dotpath": "page.fill", "args": [user]}], "2 argument"),
      ([{"dotpath": "page.fill", "args": [user, 5]}], "must be a string"),
      ([{"dotpath": "page.set_checked", "args": [user, "yes"]}], "true or false"),
      ([{"dotpath": "page.mouse.wheel", "args": [0, float("inf")]}], "finite number"),
      ([{"dotpath": "page.click", "args": ["xpath=//button"]}], "plain CSS"),
      ([{"dotpath": "page.click", "args": ["js=document.body"]}], "plain CSS"),
      ([{"dotpath": "page.click", "args": ["a >> text=Sign in"]}], "plain CSS"),
      ([{"dotpath": "page.click", "args": ["a[href='javascript:alert(1)']"]}], "javascript"),
      ([{"dotpath": "page.keyboard.press", "args": ["'); alert(1); ('"]}], "key name"),
    ]
    for calls, reason in bad:
      status, body = _post(server, f"/action?session_id={sid}", json.dumps(calls).encode())
      assert status == 400 and reason in body["error"], (calls, body)
    obs = client.observation(sid)
    assert next(m for m in obs["metadata"] if m["name"] == "Username")["value"] == ""
    assert "pwned" not in obs["raw_html"]
  finally:
    client.close(sid)


def test_navigation_off_the_allow_list_is_403(server, forum):
  client = SessionClient(server)
  sid = client.start()
  try:
    for url in ("https://example.com/", "javascript:alert(1)", "file:///etc/passwd",
                "http://169.254.169.254/latest/"):
      with pytest.raises(InstaError) as e:
        client.goto(sid, url)
      assert e.value.status == 403 and "not allowed" in e.value.message, url
      with pytest.raises(InstaError) as e:
        client.action(sid, [{"dotpath": "page.goto", "args": [url]}])
      assert e.value.status == 403, url
    client.goto(sid, forum + "/")
    assert client.action(sid, [{"dotpath": "page.goto", "args": [forum + "/login"]},
                               {"dotpath": "page.go_back", "args": []}])["current_url"] == \
        forum + "/"
  finally:
    client.close(sid)


def test_idle_sessions_expire(spawn, forum):
  _, url = spawn("--session_timeout_s", "2")
  client = SessionClient(url)
  sid = client.start()
  client.goto(sid, forum + "/")
  time.sleep(3.2)
  assert client.health()["sessions"] == 0  # the sweeper closed it
  with pytest.raises(InstaError) as e:
    client.observation(sid)
  assert e.value.status == 404 and "expired" in e.value.message
  assert client.health()["expired"] == 1


def test_server_pool_balances_and_routes(server, spawn, forum):
  _, spare = spawn("--max_sessions", "2")
  pool = ServerPool([server, spare])
  sids = [pool.start() for _ in range(4)]
  try:
    assert pool.counts() == {server: 2, spare: 2}
    assert SessionClient(spare).health()["sessions"] == 2
    owners = [pool.client_for(s).base_url for s in sids]
    assert owners == [server, spare, server, spare]
    for sid in sids:
      assert pool.goto(sid, forum + "/") == forum + "/"
      assert pool.observation(sid)["current_url"] == forum + "/"
    with pytest.raises(InstaError) as e:
      SessionClient(server).observation(sids[1])  # lives on the spare server only
    assert e.value.status == 404
    pool.close(sids[1])
    assert pool.counts() == {server: 2, spare: 1}
    sids[1] = pool.start()
    assert pool.client_for(sids[1]).base_url == spare
    with pytest.raises(InstaError) as e:  # the spare is full: 503
      SessionClient(spare).start()
    assert e.value.status == 503
    extra = pool.start()  # ... so the pool puts it on the other one
    sids.append(extra)
    assert pool.client_for(extra).base_url == server
  finally:
    for sid in sids:
      pool.close(sid)
  assert pool.counts() == {server: 0, spare: 0}


def _chromium_pid(server_pid: int) -> int:
  psutil = pytest.importorskip("psutil")
  for child in psutil.Process(server_pid).children(recursive=True):
    cmdline = child.cmdline()
    if cmdline and "chrom" in os.path.basename(cmdline[0]) and not any(
        a.startswith("--type=") for a in cmdline):
      return child.pid
  raise AssertionError("no Chromium browser process under the server")


def test_browser_crash_loses_its_sessions_only(spawn, forum):
  proc, url = spawn()
  client = SessionClient(url)
  old = client.start()
  client.goto(old, forum + "/")
  os.kill(_chromium_pid(proc.pid), signal.SIGKILL)  # a child of the server this test started
  deadline = time.monotonic() + 30
  while True:
    health = client.health()
    if health["browser_crashes"] == 1 and health["browser_connected"]:
      break
    assert time.monotonic() < deadline, health
    time.sleep(0.2)
  assert health["browser_launches"] == 2 and health["lost"] == 1 and health["sessions"] == 0
  with pytest.raises(InstaError) as e:
    client.observation(old)
  assert e.value.status == 410 and "start a new session" in e.value.message
  new = client.start()
  client.goto(new, forum + "/")
  assert "Sign in" in client.observation(new)["raw_html"]
  assert client.close(new)
