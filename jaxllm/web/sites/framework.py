"""A tiny standard-library web framework for the sandbox websites.

Each sandbox site is a `Site`: a table of routes over an in-memory, JSON-serialisable state that
`seed()` builds deterministically. Every site also answers three housekeeping endpoints:

* `POST /__reset` (GET works too): restore the seeded state and drop all login sessions.
* `GET /__state`: the whole state as JSON, which task validators read.
* `GET/POST /login`, `GET /logout`: cookie sessions for the seeded users.

A `SiteServer` serves one site on a loopback `ThreadingHTTPServer` in a daemon thread. Handlers run
under the site's lock, so concurrent requests see a consistent state.
"""
from __future__ import annotations

import copy
import dataclasses
import html
import http.cookies
import http.server
import json
import re
import secrets
import threading
import urllib.parse
from typing import Any, Callable

Handler = Callable[["Request"], "Response"]

_CSS = """
body{font-family:'Liberation Sans',Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#2d4a6b;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff}header .brand{font-weight:bold;font-size:1.2em}
main{padding:12px 16px;max-width:900px}
.item{border:1px solid #ddd;background:#fff;padding:8px;margin:6px 0}
.flash{background:#e6f4e6;border:1px solid #9c9;padding:6px;margin:6px 0}
.error{background:#fbeaea;border:1px solid #c99;padding:6px;margin:6px 0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px}
form.inline{display:inline}
"""


@dataclasses.dataclass
class Request:
  """One parsed HTTP request."""
  method: str
  path: str
  query: dict[str, str]
  form: dict[str, str]
  cookies: dict[str, str]
  user: str | None = None
  params: tuple[str, ...] = ()


@dataclasses.dataclass
class Response:
  """What a handler returns."""
  body: str = ""
  status: int = 200
  content_type: str = "text/html; charset=utf-8"
  headers: dict[str, str] = dataclasses.field(default_factory=dict)


def esc(value: Any) -> str:
  """HTML-escapes any value's string form."""
  return html.escape(str(value), quote=True)


def redirect(location: str, cookie: str | None = None) -> Response:
  """A 303 See Other, optionally setting the session cookie (empty string clears it)."""
  headers = {"Location": location}
  if cookie is not None:
    headers["Set-Cookie"] = f"session={cookie}; Path=/; HttpOnly; SameSite=Lax"
  return Response(status=303, headers=headers)


def json_response(value: Any, status: int = 200) -> Response:
  return Response(json.dumps(value), status, "application/json")


class Site:
  """Base class: subclasses set `name`, `title`, `nav`, implement `seed` and register routes."""
  name: str = "site"
  title: str = "Site"

  def __init__(self):
    self.lock = threading.RLock()
    self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
    self.sessions: dict[str, str] = {}
    self.state: dict[str, Any] = self.seed()
    self.route("GET", "/__state", lambda r: json_response(self.state))
    self.route("GET", "/__reset", self._reset)
    self.route("POST", "/__reset", self._reset)
    self.route("GET", "/login", self._login_form)
    self.route("POST", "/login", self._login)
    self.route("GET", "/logout", self._logout)
    self.register()

  # ---------------------------------------------------------------- subclass interface
  def seed(self) -> dict[str, Any]:
    """Deterministic initial state; must contain `users`: {username: {password, name, ...}}."""
    raise NotImplementedError

  def register(self) -> None:
    """Adds the site's own routes with `self.route`."""
    raise NotImplementedError

  def nav(self, req: Request) -> str:
    """Extra header links (HTML)."""
    return ""

  # ---------------------------------------------------------------- helpers
  def route(self, method: str, pattern: str, handler: Handler, login: bool = False) -> None:
    """Registers `handler` for `method` and a full-match regex; `login` requires a session."""
    self.routes.append((method, re.compile(pattern), handler, login))

  def page(self, req: Request, title: str, body: str, flash: str = "") -> Response:
    """Wraps body HTML into the site's layout."""
    who = (f'Signed in as <span id="current-user">{esc(req.user)}</span> '
           f'<a href="/logout">Sign out</a>') if req.user else '<a href="/login">Sign in</a>'
    note = f'<div class="flash" role="status">{esc(flash)}</div>' if flash else ""
    doc = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{esc(title)} - {esc(self.title)}</title><style>{_CSS}</style></head><body>"
           f'<header><a class="brand" href="/">{esc(self.title)}</a>{self.nav(req)}'
           f'<span style="margin-left:auto">{who}</span></header>'
           f"<main><h1>{esc(title)}</h1>{note}{body}</main></body></html>")
    return Response(doc)

  def not_found(self, req: Request, what: str = "Page") -> Response:
    resp = self.page(req, "Not found", f"<p>{esc(what)} not found.</p>")
    resp.status = 404
    return resp

  def next_id(self, kind: str) -> int:
    """Next integer id for a collection, kept in state['_next'][kind]."""
    counters = self.state.setdefault("_next", {})
    counters[kind] = counters.get(kind, 1) + 1
    return counters[kind] - 1

  # ---------------------------------------------------------------- housekeeping endpoints
  def _reset(self, req: Request) -> Response:
    self.state = self.seed()
    self.sessions.clear()
    return json_response({"ok": True, "site": self.name})

  def _login_form(self, req: Request, error: str = "") -> Response:
    err = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
    nxt = esc(req.query.get("next", req.form.get("next", "/")))
    body = (f'{err}<form method="post" action="/login">'
            f'<input type="hidden" name="next" value="{nxt}">'
            '<p><label for="username">Username</label> '
            '<input id="username" name="username" autocomplete="username"></p>'
            '<p><label for="password">Password</label> '
            '<input id="password" name="password" type="password"></p>'
            '<p><button type="submit">Sign in</button></p></form>')
    return self.page(req, "Sign in", body)

  def _login(self, req: Request) -> Response:
    user = req.form.get("username", "")
    record = self.state["users"].get(user)
    if record is None or record["password"] != req.form.get("password", ""):
      return self._login_form(req, "Wrong username or password.")
    token = secrets.token_hex(16)
    self.sessions[token] = user
    nxt = req.form.get("next", "/")
    return redirect(nxt if nxt.startswith("/") else "/", cookie=token)

  def _logout(self, req: Request) -> Response:
    self.sessions.pop(req.cookies.get("session", ""), None)
    return redirect("/", cookie="")

  # ---------------------------------------------------------------- dispatch
  def handle(self, method: str, raw_path: str, body: bytes, cookie_header: str) -> Response:
    """Parses and routes one request (called by the HTTP handler thread)."""
    parts = urllib.parse.urlsplit(raw_path)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    jar = http.cookies.SimpleCookie()
    try:
      jar.load(cookie_header or "")
    except http.cookies.CookieError:
      pass
    cookies = {k: m.value for k, m in jar.items()}
    with self.lock:
      path = urllib.parse.unquote(parts.path)
      req = Request(method, path, query, form, cookies)
      req.user = self.sessions.get(cookies.get("session", ""))
      for m, pattern, handler, login in self.routes:
        match = pattern.fullmatch(path)
        if m != method or match is None:
          continue
        if login and req.user is None:
          return redirect("/login?next=" + urllib.parse.quote(raw_path))
        req.params = match.groups()
        return handler(req)
      if any(p.fullmatch(path) for _, p, _, _ in self.routes):
        return Response("method not allowed", 405, "text/plain")
      return self.not_found(req)

  def snapshot(self) -> dict[str, Any]:
    """A deep copy of the state (for in-process validators)."""
    with self.lock:
      return copy.deepcopy(self.state)


class _HandlerClass(http.server.BaseHTTPRequestHandler):
  site: Site
  protocol_version = "HTTP/1.1"

  def _serve(self, method: str) -> None:
    length = int(self.headers.get("Content-Length") or 0)
    body = self.rfile.read(length) if length else b""
    try:
      resp = self.site.handle(method, self.path, body, self.headers.get("Cookie", ""))
    except Exception as e:  # pylint: disable=broad-except
      resp = Response(f"internal error: {type(e).__name__}: {e}", 500, "text/plain")
    data = resp.body.encode("utf-8")
    self.send_response(resp.status)
    self.send_header("Content-Type", resp.content_type)
    self.send_header("Content-Length", str(len(data)))
    self.send_header("Cache-Control", "no-store")
    for key, value in resp.headers.items():
      self.send_header(key, value)
    self.end_headers()
    if method != "HEAD":
      self.wfile.write(data)

  def do_GET(self):  # noqa: N802  (http.server naming)
    self._serve("GET")

  def do_POST(self):  # noqa: N802
    self._serve("POST")

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args  # quiet: tests and the CLI print their own summary


class SiteServer:
  """Serves one `Site` on host:port (0 = ephemeral) from a daemon thread."""

  def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 0):
    self.site = site
    handler = type(f"{type(site).__name__}Handler", (_HandlerClass,), {"site": site})
    self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
    self.httpd.daemon_threads = True
    self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"site-{site.name}",
                                   daemon=True)
    self.thread.start()

  @property
  def url(self) -> str:
    host, port = self.httpd.server_address[:2]
    return f"http://{host}:{port}"

  def close(self) -> None:
    self.httpd.shutdown()
    self.httpd.server_close()
    self.thread.join(timeout=5)
