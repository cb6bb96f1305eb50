"""Action-string parser: what is accepted (typed arguments) and what is rejected. No browser."""
import pytest

from jaxllm.web.actions import (MAX_ACTION_CHARS, MAX_CALLS, MAX_STRING_CHARS, SIGNATURES,
                                ActionCall, ActionError, action_help, parse_action)

ACCEPT = [
  ("click('12')", [ActionCall("click", {"bid": "12", "button": "left", "modifiers": []})]),
  ("click(12)", [ActionCall("click", {"bid": "12", "button": "left", "modifiers": []})]),
  ("click('21.7', button='right', modifiers=['Shift', 'Control'])",
   [ActionCall("click", {"bid": "21.7", "button": "right", "modifiers": ["Shift", "Control"]})]),
  ("dblclick('3')", [ActionCall("dblclick", {"bid": "3", "button": "left", "modifiers": []})]),
  ("fill('14', 'chicken tikka')", [ActionCall("fill", {"bid": "14", "value": "chicken tikka"})]),
  ("fill(bid='14', value=\"it's\")", [ActionCall("fill", {"bid": "14", "value": "it's"})]),
  ("select_option('9', ['a', 'b'])", [ActionCall("select_option",
                                                 {"bid": "9", "options": ["a", "b"]})]),
  ("select_option('9', 'Developer')", [ActionCall("select_option",
                                                  {"bid": "9", "options": "Developer"})]),
  ("scroll(0, -200.5)", [ActionCall("scroll", {"delta_x": 0, "delta_y": -200.5})]),
  ("noop()", [ActionCall("noop", {"wait_ms": 1000})]),
  ("mouse_click(10, 20)", [ActionCall("mouse_click", {"x": 10, "y": 20, "button": "left"})]),
  ("keyboard_press('Control+a')", [ActionCall("keyboard_press", {"key": "Control+a"})]),
  ("goto('http://127.0.0.1:8000/cart')", [ActionCall("goto",
                                                     {"url": "http://127.0.0.1:8000/cart"})]),
  ("go_back()", [ActionCall("go_back", {})]),
  ("tab_focus(1)", [ActionCall("tab_focus", {"index": 1})]),
  ("send_msg_to_user('583914')", [ActionCall("send_msg_to_user", {"text": "583914"})]),
  ("report_infeasible('no such product')",
   [ActionCall("report_infeasible", {"reason": "no such product"})]),
  ("drag_and_drop('1', '2')", [ActionCall("drag_and_drop", {"from_bid": "1", "to_bid": "2"})]),
  ("fill('4', 'a')\n\npress('4', 'Enter')  # submit",
   [ActionCall("fill", {"bid": "4", "value": "a"}),
    ActionCall("press", {"bid": "4", "key_comb": "Enter"})]),
  ("fill('4',\n     'multi-line call')", [ActionCall("fill", {"bid": "4",
                                                              "value": "multi-line call"})]),
]

REJECT = [
  ("click('12'); __import__('os').system('id')", "one call per line"),
  ("click('12')\n__import__('os').system('id')", "plain function names"),
  ("click('12'); click('13')", "one call per line"),
  ("click(__import__('os').system('id'))", "nested calls"),
  ("exec('print(1)')", "unknown action 'exec'"),
  ("eval('1')", "unknown action 'eval'"),
  ("__import__('os')", "unknown action"),
  ("os.system('id')", "plain function names"),
  ("click('12').__class__", "single function call"),
  ("fill('12', open('/etc/passwd').read())", "nested calls"),
  ("fill('12', x)", "name 'x'"),
  ("fill('12', 'a' + 'b')", "literals"),
  ("fill('12', f'{1}')", "literals"),
  ("fill('12', [c for c in 'ab'])", "literals"),
  ("fill('12', lambda: 1)", "literals"),
  ("fill('12', b'bytes')", "unsupported literal"),
  ("fill('12', None)", "unsupported literal"),
  ("fill('12', 'x' * 3)", "literals"),
  ("fill(*['12', 'a'])", "*args"),
  ("fill(**{'bid': '12'})", "**kwargs"),
  ("fill('12', 'a', 'b')", "at most 2"),
  ("fill('12')", "missing required argument 'value'"),
  ("fill('12', value='a', bid='3')", "multiple values"),
  ("fill('12', text='a')", "unexpected keyword"),
  ("fill('12', 3)", "must be a string"),
  ("fill('12', '" + "a" * (MAX_STRING_CHARS + 1) + "')", "longer than"),
  ("click('12\"] , a[x=\"')", "element id"),
  ("click(True)", "element id"),
  ("click('12', button='side')", "one of"),
  ("click('12', modifiers=['Super'])", "list drawn from"),
  ("scroll('1', 2)", "a number"),
  ("scroll(float('inf'), 0)", "nested calls"),
  ("scroll(1e400, 0)", "a number"),
  ("tab_focus(1.5)", "an integer"),
  ("select_option('9', [['a']])", "nested lists"),
  ("import os", "single function call"),
  ("x = click('1')", "single function call"),
  ("click('1') if True else None", "single function call"),
  ("", "empty action"),
  ("click('12'", "could not parse"),
  ("\n".join(["noop(0)"] * (MAX_CALLS + 1)), f"at most {MAX_CALLS} calls"),
  ("noop(0)" + " " * MAX_ACTION_CHARS, "longer than"),
  ("(" * 300 + ")" * 300, "could not parse"),
]


@pytest.mark.parametrize("text,expected", ACCEPT)
def test_accepts(text, expected):
  assert parse_action(text) == expected


@pytest.mark.parametrize("text,message", REJECT)
def test_rejects(text, message):
  with pytest.raises(ActionError, match=None) as err:
    parse_action(text)
  assert message in str(err.value), str(err.value)


def test_non_string_action_rejected():
  with pytest.raises(ActionError, match="must be a string"):
    parse_action(["click('1')"])  # type: ignore[arg-type]


def test_every_action_has_a_signature_and_help_line():
  help_lines = action_help().splitlines()
  assert len(help_lines) == len(SIGNATURES)
  expected = {"send_msg_to_user", "report_infeasible", "noop", "fill", "check", "uncheck",
              "select_option", "click", "dblclick", "hover", "press", "focus", "clear",
              "drag_and_drop", "upload_file", "scroll", "mouse_move", "mouse_click",
              "mouse_dblclick", "mouse_down", "mouse_up", "keyboard_press", "keyboard_type",
              "keyboard_down", "keyboard_up", "keyboard_insert_text", "goto", "go_back",
              "go_forward", "new_tab", "tab_close", "tab_focus"}
  assert expected <= set(SIGNATURES)
  assert "click(bid, button='left', modifiers=[])" in help_lines
