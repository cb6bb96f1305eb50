"""Runs parsed actions (`actions.ActionCall`) on a `BrowserSession` through Playwright.

Each action name maps to one method here; nothing from the agent's text is evaluated. Elements are
found by their injected `bid` attribute: a bid like '12.5' lives inside the frame whose `<iframe>`
has bid '12' (see observe.py), so the locator descends through frame locators first.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from playwright.sync_api import Locator

from jaxllm.web.actions import MAX_WAIT_MS, ActionCall, ActionError
from jaxllm.web.browser import BrowserSession


class ActionExecutor:
  """Executes calls against a session; chat messages go to `chat` (a list the env owns)."""

  def __init__(self, session: BrowserSession, chat: list[dict[str, Any]],
               upload_dir: str | None = None):
    self.session = session
    self.chat = chat
    self.upload_dir = os.path.realpath(upload_dir) if upload_dir else None

  def run(self, calls: list[ActionCall]) -> None:
    """Runs the calls in order; the first failure raises ActionError (later calls do not run)."""
    for call in calls:
      method: Callable[..., None] = getattr(self, "_" + call.name)
      try:
        method(**call.args)
      except ActionError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ActionError(f"{call.name} failed: {type(e).__name__}: {first[:300]}") from None

  # ---------------------------------------------------------------- helpers
  def locate(self, bid: str) -> Locator:
    """Locator of the element with this bid, descending through its frames."""
    parts = bid.split(".")
    page = self.session.page
    scope: Any = page
    for i in range(1, len(parts)):
      scope = scope.frame_locator(f'[bid="{".".join(parts[:i])}"]')
    loc = scope.locator(f'[bid="{bid}"]')
    if loc.count() == 0:
      raise ActionError(f"no element with bid {bid!r} on the page")
    return loc.first

  def _say(self, role: str, text: str) -> None:
    self.chat.append({"role": role, "timestamp": time.time(), "message": text})

  # ---------------------------------------------------------------- chat and control
  def _send_msg_to_user(self, text: str) -> None:
    self._say("assistant", text)

  def _report_infeasible(self, reason: str) -> None:
    self._say("infeasible", reason)

  def _noop(self, wait_ms: float) -> None:
    self.session.page.wait_for_timeout(max(0.0, min(float(wait_ms), MAX_WAIT_MS)))

  # ---------------------------------------------------------------- element actions
  def _fill(self, bid: str, value: str) -> None:
    self.locate(bid).fill(value)

  def _check(self, bid: str) -> None:
    self.locate(bid).check()

  def _uncheck(self, bid: str) -> None:
    self.locate(bid).uncheck()

  def _select_option(self, bid: str, options: str | list[str]) -> None:
    loc = self.locate(bid)
    values = options if isinstance(options, list) else [options]
    try:
      loc.select_option(label=values, timeout=self.session.timeout_ms // 2)
    except Exception:  # pylint: disable=broad-except
      loc.select_option(values)  # fall back to option values

  def _click(self, bid: str, button: str, modifiers: list[str]) -> None:
    self.locate(bid).click(button=button, modifiers=modifiers)

  def _dblclick(self, bid: str, button: str, modifiers: list[str]) -> None:
    self.locate(bid).dblclick(button=button, modifiers=modifiers)

  def _hover(self, bid: str) -> None:
    self.locate(bid).hover()

  def _press(self, bid: str, key_comb: str) -> None:
    self.locate(bid).press(key_comb)

  def _focus(self, bid: str) -> None:
    self.locate(bid).focus()

  def _clear(self, bid: str) -> None:
    self.locate(bid).clear()

  def _drag_and_drop(self, from_bid: str, to_bid: str) -> None:
    self.locate(from_bid).drag_to(self.locate(to_bid))

  def _upload_file(self, bid: str, file: str | list[str]) -> None:
    if self.upload_dir is None:
      raise ActionError("upload_file is disabled: this environment has no upload_dir")
    paths = []
    for name in file if isinstance(file, list) else [file]:
      path = os.path.realpath(os.path.join(self.upload_dir, name))
      if os.path.commonpath([path, self.upload_dir]) != self.upload_dir or \
          not os.path.isfile(path):
        raise ActionError(f"upload_file: {name!r} is not a file inside the upload directory")
      paths.append(path)
    self.locate(bid).set_input_files(paths)

  # ---------------------------------------------------------------- mouse and keyboard
  def _scroll(self, delta_x: float, delta_y: float) -> None:
    self.session.page.mouse.wheel(delta_x, delta_y)

  def _mouse_move(self, x: float, y: float) -> None:
    self.session.page.mouse.move(x, y)

  def _mouse_click(self, x: float, y: float, button: str) -> None:
    self.session.page.mouse.click(x, y, button=button)

  def _mouse_dblclick(self, x: float, y: float, button: str) -> None:
    self.session.page.mouse.dblclick(x, y, button=button)

  def _mouse_down(self, x: float, y: float, button: str) -> None:
    self.session.page.mouse.move(x, y)
    self.session.page.mouse.down(button=button)

  def _mouse_up(self, x: float, y: float, button: str) -> None:
    self.session.page.mouse.move(x, y)
    self.session.page.mouse.up(button=button)

  def _mouse_drag_and_drop(self, from_x: float, from_y: float, to_x: float, to_y: float) -> None:
    mouse = self.session.page.mouse
    mouse.move(from_x, from_y)
    mouse.down()
    mouse.move(to_x, to_y, steps=5)
    mouse.up()

  def _keyboard_press(self, key: str) -> None:
    self.session.page.keyboard.press(key)

  def _keyboard_type(self, text: str) -> None:
    self.session.page.keyboard.type(text)

  def _keyboard_down(self, key: str) -> None:
    self.session.page.keyboard.down(key)

  def _keyboard_up(self, key: str) -> None:
    self.session.page.keyboard.up(key)

  def _keyboard_insert_text(self, text: str) -> None:
    self.session.page.keyboard.insert_text(text)

  # ---------------------------------------------------------------- navigation and tabs
  def _goto(self, url: str) -> None:
    try:
      self.session.check_url(url)
    except ValueError as e:
      raise ActionError(str(e)) from None
    self.session.page.goto(url)

  def _go_back(self) -> None:
    self.session.page.go_back()

  def _go_forward(self) -> None:
    self.session.page.go_forward()

  def _new_tab(self) -> None:
    assert self.session.context is not None
    self.session.context.new_page()  # becomes active through the session's page handler

  def _tab_close(self) -> None:
    self.session.page.close()

  def _tab_focus(self, index: int) -> None:
    if not 0 <= index < len(self.session.pages):
      raise ActionError(f"tab_focus: no tab {index} (open tabs: {len(self.session.pages)})")
    self.session.active = index
    self.session.page.bring_to_front()
