"""Synchronous clients for `jaxllm.insta.server`: one server, or a pool of them.

    client = SessionClient("http://127.0.0.1:3000")
    sid = client.start(width=1280, height=720, locale="en-GB")
    client.goto(sid, "http://127.0.0.1:8080/")
    obs = client.observation(sid)        # raw_html, screenshot (base64 PNG), metadata, current_url
    client.action(sid, [{"dotpath": "page.click", "args": ['[data-insta-id="12"]']}])
    client.act(sid, parse_agent_action(reply))   # an InSTA agent action (stop: no call)
    client.close(sid)

    pool = ServerPool(["http://127.0.0.1:3000", "http://127.0.0.1:3001"])
    sid = pool.start()                   # on the server with the fewest open sessions
    pool.goto(sid, url)                  # every call goes to the session's own server

Only the standard library is used (urllib). Error answers raise `InstaError` with the HTTP status
and the server's message (404 unknown/expired session, 410 lost, 400 bad call, 403 blocked URL,
503 full); `ServerPool.start` moves on to the next server on 503 or a connection failure.
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Sequence

from jaxllm.insta.actions import AgentAction, to_calls


class InstaError(Exception):
  """An error answer (status > 0) or an unreachable server (status 0)."""

  def __init__(self, status: int, message: str, url: str = ""):
    super().__init__(f"{status}: {message}" if status else message)
    self.status, self.message, self.url = status, message, url


class SessionClient:
  """Calls one session server; every session call takes the session id."""

  def __init__(self, base_url: str, timeout_s: float = 60.0):
    self.base_url = base_url.rstrip("/")
    self.timeout_s = timeout_s

  def request(self, method: str, path: str, query: dict[str, Any] | None = None,
              body: Any = None, raw: bytes | None = None) -> Any:
    """One call; the decoded JSON answer, or InstaError."""
    url = self.base_url + path
    if query:
      url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
      with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
        return json.loads(resp.read())
    except urllib.error.HTTPError as e:
      text = e.read().decode("utf-8", "replace")
      try:
        message = json.loads(text).get("error", text)
      except (json.JSONDecodeError, AttributeError):
        message = text[:500]
      raise InstaError(e.code, message, url) from None
    except (urllib.error.URLError, OSError) as e:
      reason = getattr(e, "reason", e)
      raise InstaError(0, f"cannot reach {self.base_url}: {reason}", url) from None

  def start(self, width: int = 1280, height: int = 720, **options: Any) -> str:
    """A new session (browser-context options such as user_agent, locale); its id."""
    answer = self.request("POST", "/start", {"width": width, "height": height},
                          body=options or None)
    return answer["session_id"]

  def goto(self, session_id: str, url: str) -> str:
    """Navigates; the page's URL afterwards."""
    return self.request("POST", "/goto", {"url": url, "session_id": session_id})["url"]

  def observation(self, session_id: str) -> dict[str, Any]:
    return self.request("POST", "/observation", {"session_id": session_id})

  def action(self, session_id: str, calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Runs 1 to 3 `{"dotpath", "args"}` calls; {"ok", "completed", "error", "current_url"}."""
    return self.request("POST", "/action", {"session_id": session_id}, body=list(calls))

  def act(self, session_id: str, action: AgentAction) -> dict[str, Any] | None:
    """Runs an agent action; None for stop (no browser call)."""
    calls = to_calls(action)
    return self.action(session_id, calls) if calls else None

  def close(self, session_id: str) -> bool:
    return bool(self.request("POST", "/close", {"session_id": session_id})["closed"])

  def health(self) -> dict[str, Any]:
    return self.request("GET", "/health")


class ServerPool:
  """Sessions over several servers: new ones go where the fewest are open (as counted here)."""

  def __init__(self, urls: Sequence[str], timeout_s: float = 60.0):
    if not urls:
      raise ValueError("ServerPool needs at least one server URL")
    self.clients = [SessionClient(u, timeout_s) for u in urls]
    self.open = [0] * len(self.clients)
    self.owner: dict[str, int] = {}
    self._lock = threading.Lock()

  def client_for(self, session_id: str) -> SessionClient:
    with self._lock:
      index = self.owner.get(session_id)
    if index is None:
      raise InstaError(404, f"session {session_id!r} was not started through this pool")
    return self.clients[index]

  def start(self, width: int = 1280, height: int = 720, **options: Any) -> str:
    with self._lock:  # reserve a slot so concurrent starts spread out
      order = sorted(range(len(self.clients)), key=lambda i: (self.open[i], i))
    last: InstaError | None = None
    for i in order:
      with self._lock:
        self.open[i] += 1
      try:
        sid = self.clients[i].start(width, height, **options)
      except InstaError as e:
        with self._lock:
          self.open[i] -= 1
        if e.status not in (0, 503):
          raise
        last = e
        continue
      with self._lock:
        self.owner[sid] = i
      return sid
    assert last is not None
    raise InstaError(503, f"no server could start a session: {last.message}")

  def _drop(self, session_id: str) -> None:
    with self._lock:
      index = self.owner.pop(session_id, None)
      if index is not None:
        self.open[index] -= 1

  def _call(self, session_id: str, name: str, *args: Any) -> Any:
    client = self.client_for(session_id)
    try:
      return getattr(client, name)(session_id, *args)
    except InstaError as e:
      if e.status in (404, 410):  # expired, lost or closed there: no longer open
        self._drop(session_id)
      raise

  def goto(self, session_id: str, url: str) -> str:
    return self._call(session_id, "goto", url)

  def observation(self, session_id: str) -> dict[str, Any]:
    return self._call(session_id, "observation")

  def action(self, session_id: str, calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return self._call(session_id, "action", calls)

  def act(self, session_id: str, action: AgentAction) -> dict[str, Any] | None:
    return self._call(session_id, "act", action)

  def close(self, session_id: str) -> bool:
    try:
      return self._call(session_id, "close")
    finally:
      self._drop(session_id)

  def counts(self) -> dict[str, int]:
    """Open sessions per server URL, as this pool counts them."""
    with self._lock:
      return {c.base_url: n for c, n in zip(self.clients, self.open)}
