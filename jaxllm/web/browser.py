"""A headless Chromium session driven by Playwright's sync API, with a host allow-list.

The browser is the system Chromium (Debian's `chromium`, installed by scripts/setup_system.sh),
never a Playwright-downloaded build. `JAXLLM_CHROMIUM` overrides its path.

Every request the pages make (navigation, link clicks, form posts, sub-resources, popups) goes
through a context-wide route handler that aborts it unless its host is allow-listed (loopback by
default); aborted URLs are recorded in `BrowserSession.blocked`. `goto` checks the URL before
navigating, so a disallowed scheme (file:, javascript:, data:, chrome:) or host fails as an action
error.
"""
from __future__ import annotations

import os
import shutil
import threading
import urllib.parse
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")
CHROMIUM_ARGS = ("--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-sandbox")
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


class BrowserNotFoundError(RuntimeError):
  """No Chromium executable on this machine."""


def find_chromium() -> str:
  """Path of the Chromium to drive: $JAXLLM_CHROMIUM, else a system install."""
  override = os.environ.get("JAXLLM_CHROMIUM")
  if override:
    if not (os.path.isfile(override) and os.access(override, os.X_OK)):
      raise BrowserNotFoundError(f"JAXLLM_CHROMIUM={override} is not an executable file; fix or "
                                 "unset it (`bash scripts/setup_system.sh` installs Chromium)")
    return override
  for path in _CANDIDATES:
    if os.path.isfile(path) and os.access(path, os.X_OK):
      return path
  found = shutil.which("chromium")
  if found:
    return found
  raise BrowserNotFoundError(
    "no Chromium found (looked for /usr/bin/chromium): run `bash scripts/setup_system.sh` or set "
    "JAXLLM_CHROMIUM to a Chromium executable")


def host_allowed(url: str, allowed_hosts: tuple[str, ...]) -> bool:
  """True for http(s)/ws(s) URLs whose host is allow-listed (and for about:blank)."""
  if url == "about:blank":
    return True
  parts = urllib.parse.urlsplit(url)
  if parts.scheme not in ("http", "https", "ws", "wss"):
    return False
  return (parts.hostname or "") in allowed_hosts or "*" in allowed_hosts


_DRIVERS: dict[int, list] = {}  # thread id -> [Playwright, number of sessions using it]


def _acquire_driver() -> Playwright:
  """The calling thread's Playwright driver (the sync API allows one per thread), shared."""
  key = threading.get_ident()
  if key not in _DRIVERS:
    _DRIVERS[key] = [sync_playwright().start(), 0]
  _DRIVERS[key][1] += 1
  return _DRIVERS[key][0]


def _release_driver(driver: Playwright) -> None:
  for key, entry in list(_DRIVERS.items()):
    if entry[0] is driver:
      entry[1] -= 1
      if entry[1] == 0:
        del _DRIVERS[key]
        driver.stop()
      return


class BrowserSession:
  """One Chromium process; contexts (one per episode) are made by `new_context`.

  Sessions created on the same thread share that thread's Playwright driver (Playwright's sync API
  cannot run two drivers on one thread); each session has its own browser process.
  """

  def __init__(self, headless: bool = True, allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS,
               viewport: tuple[int, int] = (1280, 720), timeout_ms: int = 5000,
               chromium_path: str | None = None):
    self.allowed_hosts = tuple(allowed_hosts)
    self.viewport = viewport
    self.timeout_ms = timeout_ms
    self.blocked: list[str] = []
    self.context: BrowserContext | None = None
    self.pages: list[Page] = []
    self.active = 0
    path = chromium_path or find_chromium()
    self._pw: Playwright | None = _acquire_driver()
    try:
      self.browser = self._pw.chromium.launch(executable_path=path, headless=headless,
                                              args=list(CHROMIUM_ARGS), chromium_sandbox=False)
    except Exception:
      _release_driver(self._pw)
      raise

  # ---------------------------------------------------------------- contexts and pages
  def new_context(self) -> Page:
    """Closes the previous context (if any) and opens a fresh one with one blank page."""
    self.close_context()
    self.blocked = []
    w, h = self.viewport
    self.context = self.browser.new_context(viewport={"width": w, "height": h},
                                            service_workers="block", accept_downloads=False)
    self.context.set_default_timeout(self.timeout_ms)
    self.context.set_default_navigation_timeout(self.timeout_ms * 2)
    self.context.route("**/*", self._route)
    self.context.on("page", self._on_page)
    self.pages = []
    page = self.context.new_page()  # _on_page registers it
    self.active = self.pages.index(page)
    return page

  def close_context(self) -> None:
    if self.context is not None:
      try:
        self.context.close()
      except Exception:  # pylint: disable=broad-except
        pass  # the browser may already be gone; nothing to clean up then
    self.context, self.pages, self.active = None, [], 0

  def _on_page(self, page: Page) -> None:
    if page not in self.pages:
      self.pages.append(page)
      self.active = len(self.pages) - 1  # popups and new tabs take the focus, as for a user
    page.on("close", self._on_close)

  def _on_close(self, page: Page) -> None:
    if page in self.pages:
      i = self.pages.index(page)
      self.pages.remove(page)
      if self.active >= i:
        self.active = max(0, self.active - 1)

  def _route(self, route: Any) -> None:
    url = route.request.url
    if host_allowed(url, self.allowed_hosts) or url.startswith("data:"):
      route.continue_()
    else:
      self.blocked.append(url)
      route.abort("blockedbyclient")

  @property
  def page(self) -> Page:
    """The active page (opening a blank one if every tab was closed)."""
    if not self.pages:
      assert self.context is not None, "no browser context: call new_context() first"
      self.context.new_page()
    self.active = min(self.active, len(self.pages) - 1)
    return self.pages[self.active]

  def check_url(self, url: str) -> None:
    """Raises ValueError unless navigating to url is allowed."""
    if not host_allowed(url, self.allowed_hosts):
      host = urllib.parse.urlsplit(url).hostname or url[:40]
      raise ValueError(f"navigation to {host!r} is blocked; allowed hosts: "
                       f"{', '.join(self.allowed_hosts)}")

  def wait_for_load(self, page: Page | None = None, timeout_ms: int | None = None) -> None:
    """Best-effort wait until the page's document has loaded."""
    page = page or self.page
    try:
      page.wait_for_load_state("load", timeout=timeout_ms or self.timeout_ms)
    except Exception:  # pylint: disable=broad-except
      pass  # a slow or aborted load is not an error of the agent's action

  def close(self) -> None:
    self.close_context()
    if self._pw is None:
      return  # already closed
    try:
      self.browser.close()
    finally:
      _release_driver(self._pw)
      self._pw = None
