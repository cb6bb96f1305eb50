"""MiniWoB++ tasks as `jaxllm.web` tasks, served from the `miniwob` PyPI package on loopback.

  import jaxllm.web as web
  [t for t in web.list_tasks() if t.startswith("miniwob.")]   # 'miniwob.click-test', ...
  env = web.make_env("miniwob.enter-text")    # or make_miniwob_env("enter-text", time_limit_ms=..)
  obs, info = env.reset(seed=0)               # obs["goal"]: the task's utterance
  obs, reward, terminated, truncated, info = env.step("click('14')")
  info["task_info"]["raw_reward"]             # MiniWoB's own reward in [-1, 1]

Pages. The package's `html/` folder (task pages under `html/miniwob/`, shared scripts under
`html/core/` and `html/common/`) is served read-only by a stdlib `ThreadingHTTPServer` on an
ephemeral 127.0.0.1 port, started once per process (`default_miniwob_server`), so the env's
loopback allow-list covers it; the pages load nothing from elsewhere.

Episodes. `setup` opens `<base>/miniwob/<name>.html` and waits for the page's `window.onload`
(which calls `core.startEpisode()`: the reward display and the "START" cover). It then, in one
script: hides MiniWoB's human display (reward HUD, click canvas, START cover; `show_display=True`
keeps them), sets `core.EPISODE_MAX_TIME`, seeds the page's `Math.random` with
`Math.seedrandom(String(seed))` (seedrandom ships in core.js), and calls `core.startEpisodeReal()`
(which runs the task's `genProblem()`, clears the `WOB_*` globals and starts the episode timer);
last it waits for `WOB_TASK_READY`. The goal is `core.getUtterance()` (the text of `#query`).
`reset(seed=None)` draws a seed at random; the seed used is in `info["task_info"]["seed"]`. The
same seed gives the same problem except in tasks that read the clock (choose-date's "today",
book-flight's dates).

Time limit. MiniWoB ends an episode with raw reward -1 when its timer runs out (10 s unless a task
sets its own). By default the timer is set to `NO_TIME_LIMIT_MS` (about 23 days: in effect off,
which suits step-by-step agents); `miniwob_task_class(name, time_limit_ms=...)` or
`make_miniwob_env(name, time_limit_ms=...)` sets a real one. Tasks that reward speed
(`core.endEpisode(r, true)`) scale the reward by the time left; that scaled value is `env_reward`.

Rewards. `validate` reads `WOB_DONE_GLOBAL`, `WOB_RAW_REWARD_GLOBAL`, `WOB_REWARD_GLOBAL` and
`WOB_REWARD_REASON` from the task page. The env's reward is success: 1.0 once the episode is done
with raw reward > 0, else 0.0; the episode terminates when MiniWoB says it is done (a failure
included). `task_info` has `raw_reward` (in [-1, 1]), `env_reward`, `done`, `reason`.

Task list. Every `html/miniwob/*.html` page of the installed package except `EXCLUDED` (below):
the five real-time tasks the `miniwob` package itself does not register, whose reward depends on
wall-clock timing or continuous mouse tracking and so cannot be earned through discrete actions
with the timer off. Without the `miniwob` package no tasks are registered.

Scripted solutions (`oracle`) exist for `ORACLE_TASKS`; the other tasks raise
NotImplementedError from `oracle`.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import random
import re
import threading
from typing import Any, Callable, ClassVar

from playwright.sync_api import Page

from jaxllm.web.axtree import AXTree, find_bid, node_name, node_role
from jaxllm.web.tasks.base import TASKS, Task, register

SITE = "miniwob"
TASK_PREFIX = "miniwob."
NO_TIME_LIMIT_MS = 2_000_000_000  # below setTimeout's 2**31 - 1 ms ceiling (larger fires at once)

EXCLUDED: dict[str, str] = {
  "button-delay": "reward depends on waiting a given number of wall-clock seconds between clicks",
  "chase-circle": "reward is the time the mouse stays inside a moving circle; ends on a timer",
  "hover-shape": "reward would come from continuous hovering; the page never ends an episode "
                 "itself (only the timer does)",
  "moving-items": "circles move on a timer and the episode ends after a fixed delay",
  "simon-says": "the button sequence is shown as a timed animation that must be watched",
}


# ------------------------------------------------------------------ package files
def miniwob_html_dir() -> str | None:
  """The `html/` folder of the installed `miniwob` package, or None if it is not installed."""
  try:
    spec = importlib.util.find_spec("miniwob")  # locates the package without importing it
  except (ImportError, ValueError):
    return None
  if spec is None or not spec.submodule_search_locations:
    return None
  for root in spec.submodule_search_locations:
    html = os.path.join(root, "html")
    if os.path.isdir(os.path.join(html, "miniwob")) and os.path.isdir(os.path.join(html, "core")):
      return html
  return None


def miniwob_task_names(include_excluded: bool = False) -> list[str]:
  """Names of the MiniWoB tasks in the installed package (sorted), `EXCLUDED` left out."""
  html = miniwob_html_dir()
  if html is None:
    return []
  names = sorted(f[:-len(".html")] for f in os.listdir(os.path.join(html, "miniwob"))
                 if f.endswith(".html") and re.fullmatch(r"[a-z0-9-]+\.html", f))
  return names if include_excluded else [n for n in names if n not in EXCLUDED]


# ------------------------------------------------------------------ static server
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  """Static files from one folder, GET/HEAD only, without request logging."""

  def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
    del format, args

  def end_headers(self) -> None:
    self.send_header("Cache-Control", "no-store")
    super().end_headers()


class MiniWobServer:
  """Serves a MiniWoB `html/` folder on host:port (0: ephemeral) from a daemon thread."""

  def __init__(self, html_dir: str | None = None, host: str = "127.0.0.1", port: int = 0):
    html_dir = html_dir or miniwob_html_dir()
    if html_dir is None:
      raise RuntimeError("the `miniwob` package (with its html/ folder) is not installed")
    self.html_dir = html_dir
    handler = functools.partial(_QuietHandler, directory=html_dir)
    self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
    self.httpd.daemon_threads = True
    self.thread = threading.Thread(target=self.httpd.serve_forever, name="miniwob-http",
                                   daemon=True)
    self.thread.start()

  @property
  def url(self) -> str:
    host, port = self.httpd.server_address[:2]
    return f"http://{host}:{port}"

  def task_url(self, name: str) -> str:
    return f"{self.url}/miniwob/{name}.html"

  def close(self) -> None:
    self.httpd.shutdown()
    self.httpd.server_close()


_DEFAULT: MiniWobServer | None = None
_DEFAULT_LOCK = threading.Lock()


def default_miniwob_server() -> MiniWobServer:
  """A process-wide MiniWoB server on an ephemeral loopback port, started on first use."""
  global _DEFAULT
  with _DEFAULT_LOCK:
    if _DEFAULT is None:
      _DEFAULT = MiniWobServer()
    return _DEFAULT


# ------------------------------------------------------------------ page scripts
_LOADED_JS = ("() => typeof core !== 'undefined' && core.cover_div !== null && "
              "typeof genProblem === 'function'")

_START_JS = r"""
([seed, limitMs, hideDisplay]) => {
  if (hideDisplay && !document.getElementById('jaxllm-miniwob-hide')) {
    const style = document.createElement('style');
    style.id = 'jaxllm-miniwob-hide';
    style.textContent =
      '#reward-display, #click-canvas, #sync-task-cover { display: none !important; }';
    document.head.appendChild(style);
  }
  core.EPISODE_MAX_TIME = limitMs;
  Math.seedrandom(String(seed));
  core.startEpisodeReal();
  return true;
}
"""

_READY_JS = "() => typeof WOB_TASK_READY === 'undefined' || WOB_TASK_READY === true"

_STATE_JS = r"""
() => {
  if (typeof WOB_DONE_GLOBAL === 'undefined') return null;
  return {done: !!WOB_DONE_GLOBAL, raw_reward: Number(WOB_RAW_REWARD_GLOBAL),
          env_reward: Number(WOB_REWARD_GLOBAL),
          reason: WOB_REWARD_REASON == null ? null : String(WOB_REWARD_REASON)};
}
"""


# ------------------------------------------------------------------ tasks
class MiniWobTask(Task):
  """One MiniWoB task; subclasses (made by `miniwob_task_class`) set `name`."""
  site: ClassVar[str] = SITE
  name: ClassVar[str] = ""
  time_limit_ms: ClassVar[int | None] = None  # None: no time limit (NO_TIME_LIMIT_MS)
  show_display: ClassVar[bool] = False
  ready_timeout_ms: ClassVar[int] = 10000

  def __init__(self, base_urls: dict[str, str], seed: int | None = None):
    # The MiniWoB pages are not a sandbox site: use the URL given for "miniwob" if any, else this
    # process's own server.
    urls = dict(base_urls)
    if not urls.get(SITE):
      urls[SITE] = default_miniwob_server().url
    super().__init__(urls, seed)
    self.episode_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    self.page: Page | None = None

  @property
  def start_url(self) -> str:
    return f"{self.base}/miniwob/{self.name}.html"

  def setup(self, page: Page) -> tuple[str, dict[str, Any]]:
    limit = self.time_limit_ms if self.time_limit_ms is not None else NO_TIME_LIMIT_MS
    if not 0 < limit <= NO_TIME_LIMIT_MS:
      raise ValueError(f"time_limit_ms must be in (0, {NO_TIME_LIMIT_MS}], got {limit}")
    page.goto(self.start_url)
    page.wait_for_function(_LOADED_JS, timeout=self.ready_timeout_ms)
    page.evaluate(_START_JS, [self.episode_seed, limit, not self.show_display])
    page.wait_for_function(_READY_JS, timeout=self.ready_timeout_ms)
    self.page = page
    goal = str(page.evaluate("() => core.getUtterance()"))
    return goal, {"site": SITE, "start_url": self.start_url, "miniwob_task": self.name,
                  "seed": self.episode_seed, "time_limit_ms": self.time_limit_ms}

  def read_state(self, page: Page | None = None) -> dict[str, Any] | None:
    """The page's WOB_* globals, or None when the task page is gone (closed or navigated away)."""
    page = self.page if self.page is not None and not self.page.is_closed() else page
    if page is None or page.is_closed():
      return None
    try:
      return page.evaluate(_STATE_JS)
    except Exception:  # pylint: disable=broad-except
      return None  # mid-navigation or a page without MiniWoB's core

  def validate(self, page: Page, chat_messages: list[dict[str, Any]]
               ) -> tuple[float, bool, str, dict[str, Any]]:
    del chat_messages
    state = self.read_state(page)
    if state is None:
      return 0.0, False, "", {"done": False, "raw_reward": 0.0, "env_reward": 0.0,
                              "reason": "task page not available"}
    success = state["done"] and state["raw_reward"] > 0
    return float(success), bool(state["done"]), "", state

  def oracle(self, obs: dict[str, Any]) -> str:
    solver = ORACLES.get(self.name)
    if solver is None:
      raise NotImplementedError(f"no scripted solution for miniwob.{self.name}; "
                                f"those exist for {', '.join(ORACLE_TASKS)}")
    return solver(obs)


def miniwob_task_class(name: str, *, time_limit_ms: int | None = None,
                       show_display: bool = False) -> type[MiniWobTask]:
  """A task class for MiniWoB task `name` (not registered; `TASKS` holds the default ones)."""
  html = miniwob_html_dir()
  if html is None or not os.path.isfile(os.path.join(html, "miniwob", f"{name}.html")):
    raise ValueError(f"no MiniWoB task {name!r} in the installed miniwob package")
  return _task_class(name, time_limit_ms, show_display)


def _task_class(name: str, time_limit_ms: int | None, show_display: bool) -> type[MiniWobTask]:
  cls_name = "MiniWob_" + re.sub(r"\W", "_", name)
  attrs = {"task_id": TASK_PREFIX + name, "name": name, "time_limit_ms": time_limit_ms,
           "show_display": show_display, "goal": f"(MiniWoB++ {name}: the page's instruction)",
           "__module__": __name__, "__doc__": f"MiniWoB++ task {name}."}
  return type(cls_name, (MiniWobTask,), attrs)


def make_miniwob_env(name: str, *, time_limit_ms: int | None = None, show_display: bool = False,
                     base_url: str | None = None, **options: Any):
  """A `BrowserEnv` for MiniWoB task `name` with task options (see the module docstring).

  base_url: a server of MiniWoB's html/ folder (default: this process's own). **options go to
  `BrowserEnv` (headless, session, max_steps, ...).
  """
  from jaxllm.web.browser import find_chromium  # pylint: disable=import-outside-toplevel
  from jaxllm.web.env import BrowserEnv  # pylint: disable=import-outside-toplevel
  cls = miniwob_task_class(name, time_limit_ms=time_limit_ms, show_display=show_display)
  if options.get("chromium_path") is None and options.get("session") is None:
    options["chromium_path"] = find_chromium()
  urls = {SITE: base_url or default_miniwob_server().url}
  return BrowserEnv(cls, urls, **options)


# ------------------------------------------------------------------ scripted solutions
def _quoted(goal: str) -> str:
  m = re.search(r'"([^"]*)"', goal)
  if m is None:
    raise KeyError(f"no quoted text in the goal {goal!r}")
  return m.group(1)


def _first_bid(obs: dict[str, Any], role: str) -> str:
  return find_bid(obs, role)


def _solve_click_test(obs: dict[str, Any]) -> str:
  return f"click({find_bid(obs, 'button', 'Click Me!')!r})"


def _solve_click_test_2(obs: dict[str, Any]) -> str:
  return f"click({find_bid(obs, 'button', 'ONE')!r})"


def _solve_click_button(obs: dict[str, Any]) -> str:
  return f"click({find_bid(obs, 'button', _quoted(obs['goal']))!r})"


def _solve_enter_text(obs: dict[str, Any]) -> str:
  box = _first_bid(obs, "textbox")
  return f"fill({box!r}, {_quoted(obs['goal'])!r})\nclick({find_bid(obs, 'button', 'Submit')!r})"


def _solve_focus_text(obs: dict[str, Any]) -> str:
  return f"click({_first_bid(obs, 'textbox')!r})"


def _solve_enter_password(obs: dict[str, Any]) -> str:
  password = _quoted(obs["goal"])
  boxes = [n["bid"] for n in AXTree(obs["axtree_object"]).find("textbox")]
  fills = "\n".join(f"fill({b!r}, {password!r})" for b in boxes)
  return f"{fills}\nclick({find_bid(obs, 'button', 'Submit')!r})"


def _solve_click_dialog(obs: dict[str, Any]) -> str:
  for node in AXTree(obs["axtree_object"]).find("button"):
    if node_role(node) == "button" and node_name(node).strip().lower() in ("close", "x", "×"):
      return f"click({node['bid']!r})"
  raise KeyError("no close button in the dialog")


ORACLES: dict[str, Callable[[dict[str, Any]], str]] = {
  "click-test": _solve_click_test,
  "click-test-2": _solve_click_test_2,
  "click-button": _solve_click_button,
  "enter-text": _solve_enter_text,
  "focus-text": _solve_focus_text,
  "enter-password": _solve_enter_password,
  "click-dialog": _solve_click_dialog,
}
ORACLE_TASKS = tuple(sorted(ORACLES))


# ------------------------------------------------------------------ registration
def register_miniwob_tasks() -> list[str]:
  """Registers `miniwob.<name>` for every task of the installed package (idempotent)."""
  ids = []
  for name in miniwob_task_names():
    task_id = TASK_PREFIX + name
    if task_id not in TASKS:
      register(_task_class(name, None, False))
    ids.append(task_id)
  return ids


register_miniwob_tasks()

__all__ = ["EXCLUDED", "NO_TIME_LIMIT_MS", "ORACLE_TASKS", "MiniWobServer", "MiniWobTask",
           "default_miniwob_server", "make_miniwob_env", "miniwob_html_dir", "miniwob_task_class",
           "miniwob_task_names", "register_miniwob_tasks"]
