"""InSTA's browser session server: many Playwright sessions in one system Chromium, over HTTP.

    python -m jaxllm.insta.server --port 0 --allow 127.0.0.1,localhost,example.org
    # first stdout line: jaxllm.insta.server listening on http://127.0.0.1:PORT

Routes (JSON answers; errors are `{"error": message}` with a 4xx/5xx status):

  POST /start?width=W&height=H     optional JSON body of context options (user_agent, locale,
                                   timezone_id, color_scheme, device_scale_factor, is_mobile,
                                   has_touch) -> {"session_id"}; 503 when --max_sessions are open
  POST /goto?url=URL&session_id=ID -> {"url": current_url}; 403 for a host off the allow-list
  POST /observation?session_id=ID  -> {"raw_html", "screenshot" (base64 PNG), "metadata",
                                      "current_url"}
  POST /action?session_id=ID       body: [{"dotpath": "page.click", "args": [selector]}, ...]
                                   (1 to 3 calls) -> {"ok", "completed", "error", "current_url"}
  POST /close?session_id=ID        -> {"closed": true}
  GET  /health                     -> session and browser counts

Each session is its own browser context (cookies, storage) and page in one shared Chromium. Every
element of the page gets a `data-insta-id` attribute when an observation is taken; `metadata` lists
the visible or interactive ones (id, tag, role, name, text, bbox [x, y, w, h], ...), and actions
target them as `[data-insta-id="12"]`.

Actions are data, never code (`jaxllm.insta.calls`): `dotpath` must name one of `CALLS` (a fixed
table of Python functions; nothing is looked up by name), arguments are type-checked, selectors are plain CSS (no selector
engines, `>>` chains or `javascript:`), and every call of a request is validated before any runs,
so a rejected request (400, or 403 for a `page.goto` off the allow-list) changes nothing. A call
that is valid but fails in the page (no such element, timeout) answers 200 with `ok: false`.

Every request the pages make is checked against the allow-list (loopback hosts by default), so
links and redirects cannot leave it either. Sessions idle for --session_timeout_s are closed (later
calls: 404 "expired"); if Chromium dies it is relaunched and the sessions that lived in it answer
410 "lost, start a new session"; sessions in the new browser are unaffected.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import json
import logging
import secrets
import signal
import sys
import time
from typing import Any, Sequence

from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from jaxllm.insta.calls import (CALLS, MAX_URL_CHARS, ApiError, _text, check_url,  # noqa: F401
                                validate_calls)
from jaxllm.web.browser import CHROMIUM_ARGS, DEFAULT_ALLOWED_HOSTS, find_chromium, host_allowed

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
MAX_GONE = 10_000  # remembered ids of closed/expired/lost sessions

MARK_JS = r"""
() => {
  const attr = 'data-insta-id';
  if (window.__instaNext === undefined) window.__instaNext = 0;
  const interactiveTags = new Set(['a', 'button', 'input', 'select', 'textarea', 'option',
                                   'summary', 'label']);
  const widgetRoles = new Set(['button', 'link', 'checkbox', 'radio', 'menuitem', 'tab',
                               'option', 'switch', 'textbox', 'combobox', 'searchbox', 'slider']);
  const out = [];
  const vw = window.innerWidth, vh = window.innerHeight;
  for (const el of document.querySelectorAll('*')) {
    if (!el.hasAttribute(attr)) el.setAttribute(attr, String(window.__instaNext++));
    const tag = el.tagName.toLowerCase();
    if (['html', 'head', 'script', 'style', 'meta', 'link', 'title', 'noscript'].includes(tag))
      continue;
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    const shown = r.width > 0 && r.height > 0 && style.visibility !== 'hidden' &&
                  style.display !== 'none' && Number(style.opacity) !== 0;
    const inView = shown && r.right > 0 && r.bottom > 0 && r.left < vw && r.top < vh;
    const role = el.getAttribute('role') || '';
    const interactive = !el.disabled && (interactiveTags.has(tag) || widgetRoles.has(role) ||
        el.hasAttribute('onclick') || el.isContentEditable ||
        (el.tabIndex >= 0 && el.hasAttribute('tabindex')));
    const ownText = Array.from(el.childNodes).filter(n => n.nodeType === 3)
        .map(n => n.textContent).join(' ').replace(/\s+/g, ' ').trim();
    if (!(interactive && shown) && !(inView && ownText)) continue;
    let name = el.getAttribute('aria-label') || '';
    if (!name && el.labels && el.labels.length) name = el.labels[0].innerText;
    if (!name) name = el.getAttribute('placeholder') || el.getAttribute('title') ||
                      el.getAttribute('alt') || el.getAttribute('name') || '';
    const text = (interactive ? (el.innerText || '') : ownText).replace(/\s+/g, ' ').trim();
    const item = {id: el.getAttribute(attr), tag, role, name: name.trim().slice(0, 200),
                  text: text.slice(0, 200), interactive, in_viewport: inView,
                  bbox: [r.x, r.y, r.width, r.height].map(v => Math.round(v * 10) / 10)};
    if (tag === 'input') item.type = el.type;
    if (['input', 'textarea', 'select'].includes(tag) && el.type !== 'password')
      item.value = el.value.slice(0, 200);
    if (el.type === 'checkbox' || el.type === 'radio') item.checked = el.checked;
    if (tag === 'a' && el.href) item.href = el.href.slice(0, 500);
    out.push(item);
    if (out.length >= 5000) break;
  }
  return out;
}
"""


# ------------------------------------------------------------------------------ sessions
CONTEXT_OPTIONS = {"user_agent": str, "locale": str, "timezone_id": str, "color_scheme": str,
                   "device_scale_factor": float, "is_mobile": bool, "has_touch": bool}


def context_options(body: Any) -> dict[str, Any]:
  """The checked browser-context options of a /start body."""
  if body is None:
    return {}
  if not isinstance(body, dict):
    raise ApiError(400, "the /start body must be a JSON object of context options")
  out = {}
  for key, value in body.items():
    kind = CONTEXT_OPTIONS.get(key)
    if kind is None:
      raise ApiError(400, f"unknown start option {key[:40]!r}; allowed: "
                     f"{', '.join(CONTEXT_OPTIONS)}")
    if kind is float:
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.25 <= value <= 4:
        raise ApiError(400, f"{key} must be a number from 0.25 to 4")
    elif not isinstance(value, kind) or (kind is str and len(value) > 500):
      raise ApiError(400, f"{key} must be a {kind.__name__}" + (" (at most 500 characters)"
                                                               if kind is str else ""))
    if key == "color_scheme" and value not in ("light", "dark", "no-preference"):
      raise ApiError(400, "color_scheme must be light, dark or no-preference")
    out[key] = value
  return out


@dataclasses.dataclass
class Session:
  id: str
  context: BrowserContext
  page: Page
  generation: int
  last_used: float
  lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
  blocked: list[str] = dataclasses.field(default_factory=list)


class SessionManager:
  """The shared Chromium, its sessions and their bookkeeping (all on one event loop)."""

  def __init__(self, allowed_hosts: Sequence[str] = DEFAULT_ALLOWED_HOSTS,
               session_timeout_s: float = 1800.0, max_sessions: int = 64,
               action_timeout_ms: int = 5000, chromium_path: str | None = None):
    self.allowed_hosts = tuple(allowed_hosts)
    self.session_timeout_s = session_timeout_s
    self.max_sessions = max_sessions
    self.action_timeout_ms = action_timeout_ms
    self.chromium_path = chromium_path or find_chromium()
    self.sessions: dict[str, Session] = {}
    self.gone: collections.OrderedDict[str, str] = collections.OrderedDict()
    self.counts = collections.Counter()
    self.generation = 0
    self._pw: Playwright | None = None
    self._browser: Browser | None = None
    self._launch_lock = asyncio.Lock()
    self._sweeper: asyncio.Task | None = None
    self._closing = False

  # ---------------------------------------------------------------- browser lifecycle
  async def start(self) -> None:
    self._pw = await async_playwright().start()
    await self.browser()
    self._sweeper = asyncio.create_task(self._sweep())

  async def browser(self) -> Browser:
    """The running Chromium, (re)launched if needed."""
    async with self._launch_lock:
      if self._browser is None or not self._browser.is_connected():
        assert self._pw is not None, "SessionManager.start() was not awaited"
        browser = await self._pw.chromium.launch(
            executable_path=self.chromium_path, headless=True, args=list(CHROMIUM_ARGS),
            chromium_sandbox=False)
        self.generation += 1
        self.counts["browser_launches"] += 1
        generation = self.generation
        browser.on("disconnected", lambda _b: self._on_disconnected(generation))
        self._browser = browser
      return self._browser

  def _on_disconnected(self, generation: int) -> None:
    if self._closing:
      return
    log.warning("Chromium (launch %d) disconnected; its sessions are lost", generation)
    self.counts["browser_crashes"] += 1
    for sid in [s.id for s in self.sessions.values() if s.generation == generation]:
      del self.sessions[sid]
      self._forget(sid, "lost")
    if generation == self.generation:
      self._browser = None
      asyncio.get_running_loop().create_task(self._relaunch())

  async def _relaunch(self) -> None:
    try:
      await self.browser()
    except Exception:  # noqa: BLE001 - the next /start retries
      log.exception("relaunching Chromium failed")

  async def close(self) -> None:
    self._closing = True
    if self._sweeper is not None:
      self._sweeper.cancel()
    for sid in list(self.sessions):
      await self._close_session(sid, "closed")
    if self._browser is not None:
      try:
        await self._browser.close()
      except PlaywrightError:
        pass
    if self._pw is not None:
      await self._pw.stop()

  # ---------------------------------------------------------------- sessions
  def _forget(self, sid: str, why: str) -> None:
    self.gone[sid] = why
    self.counts[why] += 1
    while len(self.gone) > MAX_GONE:
      self.gone.popitem(last=False)

  async def _close_session(self, sid: str, why: str) -> None:
    session = self.sessions.pop(sid, None)
    if session is None:
      return
    self._forget(sid, why)
    try:
      await session.context.close()
    except PlaywrightError:
      pass  # the browser may be gone already

  async def _sweep(self) -> None:
    interval = max(0.2, min(10.0, self.session_timeout_s / 4))
    while True:
      await asyncio.sleep(interval)
      now = time.monotonic()
      for session in list(self.sessions.values()):
        if not session.lock.locked() and now - session.last_used > self.session_timeout_s:
          await self._close_session(session.id, "expired")

  async def new_session(self, width: int, height: int, options: dict[str, Any]) -> Session:
    if len(self.sessions) >= self.max_sessions:
      raise ApiError(503, f"the server is full ({self.max_sessions} sessions); close one or try "
                     "another server")
    browser = await self.browser()
    generation = self.generation
    context = await browser.new_context(viewport={"width": width, "height": height},
                                        service_workers="block", accept_downloads=False,
                                        **options)
    try:
      context.set_default_timeout(self.action_timeout_ms)
      context.set_default_navigation_timeout(self.action_timeout_ms * 2)
      sid = secrets.token_hex(12)
      session = Session(sid, context, None, generation, time.monotonic())  # type: ignore[arg-type]

      async def route(r: Route) -> None:
        url = r.request.url
        if host_allowed(url, self.allowed_hosts) or url.startswith("data:"):
          await r.continue_()
        else:
          session.blocked.append(url[:200])
          await r.abort("blockedbyclient")

      await context.route("**/*", route)
      session.page = await context.new_page()  # popups stay in the context, unobserved
    except BaseException:
      await context.close()
      raise
    if len(self.sessions) >= self.max_sessions:  # filled up while we were launching
      await context.close()
      raise ApiError(503, f"the server is full ({self.max_sessions} sessions)")
    self.sessions[sid] = session
    self.counts["started"] += 1
    return session

  def get(self, sid: str | None) -> Session:
    if not sid:
      raise ApiError(400, "the session_id query parameter is required")
    session = self.sessions.get(sid)
    if session is not None:
      if (not session.lock.locked()
          and time.monotonic() - session.last_used > self.session_timeout_s):
        self.sessions.pop(sid)
        self._forget(sid, "expired")
        asyncio.get_running_loop().create_task(_quiet_close(session.context))
      else:
        return session
    why = self.gone.get(sid)
    if why == "lost":
      raise ApiError(410, f"session {sid[:40]!r} was lost when the browser crashed; start a new "
                     "session")
    if why == "expired":
      raise ApiError(404, f"session {sid[:40]!r} expired after {self.session_timeout_s:g} s idle; "
                     "start a new session")
    if why == "closed":
      raise ApiError(404, f"session {sid[:40]!r} was closed")
    raise ApiError(404, f"unknown session {sid[:40]!r}")

  async def close_session(self, sid: str | None) -> None:
    session = self.get(sid)
    await self._close_session(session.id, "closed")

  def health(self) -> dict[str, Any]:
    connected = self._browser is not None and self._browser.is_connected()
    return {"status": "ok" if connected else "degraded", "sessions": len(self.sessions),
            "max_sessions": self.max_sessions, "browser_connected": connected,
            "browser_launches": self.counts["browser_launches"],
            "browser_crashes": self.counts["browser_crashes"], "started": self.counts["started"],
            "closed": self.counts["closed"], "expired": self.counts["expired"],
            "lost": self.counts["lost"], "session_timeout_s": self.session_timeout_s,
            "allowed_hosts": list(self.allowed_hosts)}


async def _quiet_close(context: BrowserContext) -> None:
  try:
    await context.close()
  except PlaywrightError:
    pass


# ------------------------------------------------------------------------------ HTTP
MANAGER = web.AppKey("manager", SessionManager)


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
  try:
    return await handler(request)
  except ApiError as e:
    return web.json_response({"error": e.message}, status=e.status)
  except web.HTTPException as e:
    if e.status < 400:
      raise
    return web.json_response({"error": f"{e.reason}: {request.method} {request.path}"},
                             status=e.status)
  except (asyncio.CancelledError, ConnectionResetError):
    raise
  except Exception as e:  # noqa: BLE001 - the server must keep serving
    log.exception("request %s %s failed", request.method, request.path)
    return web.json_response({"error": f"internal error: {type(e).__name__}: {str(e)[:300]}"},
                             status=500)


async def _json(request: web.Request, required: bool) -> Any:
  raw = await request.read()
  if not raw.strip():
    if required:
      raise ApiError(400, "a JSON body is required")
    return None
  try:
    return json.loads(raw)
  except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise ApiError(400, f"the request body is not valid JSON: {str(e)[:200]}") from None


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
  raw = request.query.get(name)
  if raw is None:
    return default
  try:
    value = int(raw)
  except ValueError:
    raise ApiError(400, f"{name} must be an integer") from None
  if not low <= value <= high:
    raise ApiError(400, f"{name} must be from {low} to {high}")
  return value


class _Use:
  """`async with _Use(manager, request) as session`: looks up, locks and touches a session."""

  def __init__(self, manager: SessionManager, request: web.Request):
    self.manager, self.request = manager, request
    self.session: Session | None = None

  async def __aenter__(self) -> Session:
    session = self.manager.get(self.request.query.get("session_id"))
    await session.lock.acquire()
    self.session = session
    if self.manager.sessions.get(session.id) is not session:  # closed while we waited
      session.lock.release()
      self.manager.get(session.id)
    session.last_used = time.monotonic()
    return session

  async def __aexit__(self, exc_type, exc, tb) -> bool:
    session = self.session
    assert session is not None
    session.last_used = time.monotonic()
    session.lock.release()
    if isinstance(exc, PlaywrightError) and self.manager.sessions.get(session.id) is not session:
      self.manager.get(session.id)  # raises 410 lost / 404: the browser went away mid-call
    return False


async def _settle(page: Page, timeout_ms: int) -> None:
  try:
    await page.wait_for_load_state("load", timeout=timeout_ms)
  except PlaywrightError:
    pass  # a slow or aborted load is not the caller's error


async def start(request: web.Request) -> web.Response:
  manager = request.app[MANAGER]
  width = _int_query(request, "width", 1280, 100, 4096)
  height = _int_query(request, "height", 720, 100, 4096)
  options = context_options(await _json(request, required=False))
  session = await manager.new_session(width, height, options)
  return web.json_response({"session_id": session.id})


async def goto(request: web.Request) -> web.Response:
  manager = request.app[MANAGER]
  url = request.query.get("url", "")
  if not url:
    raise ApiError(400, "the url query parameter is required")
  _text(url, "the url query parameter", MAX_URL_CHARS)
  check_url(url, manager.allowed_hosts)
  async with _Use(manager, request) as session:
    try:
      await session.page.goto(url)
    except PlaywrightError as e:
      if manager.sessions.get(session.id) is not session:
        raise
      raise ApiError(502, f"navigation failed: {str(e).splitlines()[0][:300]}") from None
    return web.json_response({"url": session.page.url})


async def observation(request: web.Request) -> web.Response:
  manager = request.app[MANAGER]
  async with _Use(manager, request) as session:
    page = session.page
    await _settle(page, manager.action_timeout_ms)
    try:
      metadata = await page.evaluate(MARK_JS)
    except PlaywrightError:  # e.g. a navigation replaced the document mid-script: once more
      if manager.sessions.get(session.id) is not session:
        raise
      await _settle(page, manager.action_timeout_ms)
      metadata = await page.evaluate(MARK_JS)
    raw_html = await page.content()
    png = await page.screenshot(type="png")
    return web.json_response({"raw_html": raw_html, "screenshot": base64.b64encode(png).decode(),
                              "metadata": metadata, "current_url": page.url,
                              "blocked": session.blocked[-20:]})


async def action(request: web.Request) -> web.Response:
  manager = request.app[MANAGER]
  manager.get(request.query.get("session_id"))  # a bad session is a 404 whatever the body
  calls = validate_calls(await _json(request, required=True), manager.allowed_hosts)
  async with _Use(manager, request) as session:
    page, done, error = session.page, 0, None
    for dotpath, args in calls:
      try:
        await CALLS[dotpath][1](page, args)
      except PlaywrightError as e:
        if manager.sessions.get(session.id) is not session:
          raise
        error = f"{dotpath} failed: {str(e).splitlines()[0][:300]}"
        break
      done += 1
    await _settle(page, manager.action_timeout_ms)
    return web.json_response({"ok": error is None, "completed": done, "error": error,
                              "current_url": page.url})


async def close(request: web.Request) -> web.Response:
  await request.app[MANAGER].close_session(request.query.get("session_id"))
  return web.json_response({"closed": True})


async def health(request: web.Request) -> web.Response:
  return web.json_response(request.app[MANAGER].health())


def build_app(manager: SessionManager) -> web.Application:
  """The aiohttp app; it launches Chromium on startup and closes everything on cleanup."""
  app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
  app[MANAGER] = manager
  app.router.add_post("/start", start)
  app.router.add_post("/goto", goto)
  app.router.add_post("/observation", observation)
  app.router.add_post("/action", action)
  app.router.add_post("/close", close)
  app.router.add_get("/health", health)

  async def on_startup(_):
    await manager.start()

  async def on_cleanup(_):
    await manager.close()

  app.on_startup.append(on_startup)
  app.on_cleanup.append(on_cleanup)
  return app


# ------------------------------------------------------------------------------ command line
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog="python -m jaxllm.insta.server",
                              description=__doc__.split("\n")[0])
  p.add_argument("--host", default="127.0.0.1", help="interface to listen on (loopback)")
  p.add_argument("--port", type=int, default=3000, help="0 picks a free port")
  p.add_argument("--allow", default=",".join(DEFAULT_ALLOWED_HOSTS),
                 help="comma-separated hosts pages may load ('*' allows any host)")
  p.add_argument("--session_timeout_s", type=float, default=1800.0,
                 help="close sessions idle this long")
  p.add_argument("--max_sessions", type=int, default=64, help="open sessions before 503s")
  p.add_argument("--action_timeout_ms", type=int, default=5000,
                 help="Playwright timeout of one call (navigations get twice this)")
  p.add_argument("--log-level", default="WARNING")
  args = p.parse_args(argv)
  args.allow = tuple(h.strip() for h in args.allow.split(",") if h.strip())
  if not args.allow:
    p.error("--allow needs at least one host")
  if args.session_timeout_s <= 0 or args.max_sessions < 1 or args.action_timeout_ms < 1:
    p.error("--session_timeout_s, --max_sessions and --action_timeout_ms must be positive")
  return args


async def serve(app: web.Application, host: str, port: int) -> None:
  """Runs until SIGINT/SIGTERM."""
  runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
  await runner.setup()
  site = web.TCPSite(runner, host, port)
  await site.start()
  bound = runner.addresses[0][1]
  shown = f"[{host}]" if ":" in host else host
  print(f"jaxllm.insta.server listening on http://{shown}:{bound}", flush=True)
  done = asyncio.Event()
  loop = asyncio.get_running_loop()
  for sig in (signal.SIGINT, signal.SIGTERM):
    loop.add_signal_handler(sig, done.set)
  try:
    await done.wait()
  finally:
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  manager = SessionManager(args.allow, session_timeout_s=args.session_timeout_s,
                           max_sessions=args.max_sessions,
                           action_timeout_ms=args.action_timeout_ms)
  asyncio.run(serve(build_app(manager), args.host, args.port))
  return 0


if __name__ == "__main__":
  sys.exit(main())
