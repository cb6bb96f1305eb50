"""Text rendering of the accessibility tree for prompts, and lookups over it.

`axtree_to_text` prints one line per node, indented by a tab per depth:

  [12] form 'Search'
  <tab>[13] textbox 'Search products', focused, value='pan'
  <tab>StaticText 'Price: $27.50'

Nodes that belong to an element carry their `[bid]`; text nodes (StaticText) carry none. Ignored
nodes, inline text boxes and unnamed `generic`/`none` containers are not printed (their
children are, one level up). StaticText repeating its parent's name is dropped. Iframes continue
with the tree of their frame's document.
"""
from __future__ import annotations

from typing import Any, Iterator

_SKIP_ROLES = {"InlineTextBox", "LineBreak"}
_CONTAINER_ROLES = {"generic", "none", "presentation", "LayoutTable", "LayoutTableRow",
                    "LayoutTableCell"}
_BOOL_PROPS = ("focused", "checked", "selected", "expanded", "disabled", "required", "pressed",
               "readonly", "multiselectable")


def _value(field: Any) -> Any:
  return field.get("value") if isinstance(field, dict) else None


def node_role(node: dict[str, Any]) -> str:
  return str(_value(node.get("role")) or "")


def node_name(node: dict[str, Any]) -> str:
  return str(_value(node.get("name")) or "")


def _props(node: dict[str, Any]) -> list[str]:
  out = []
  value = _value(node.get("value"))
  if value not in (None, ""):
    out.append(f"value={str(value)!r}")
  for prop in node.get("properties", []):
    name, value = prop.get("name"), _value(prop.get("value"))
    if name in _BOOL_PROPS and value not in (None, False, "false"):
      out.append(name if value is True or value == "true" else f"{name}={value!r}")
  return out


class AXTree:
  """Index over an `axtree_object` (nodes of every frame) for walking and lookups."""

  def __init__(self, axtree: dict[str, Any]):
    self.nodes = axtree.get("nodes", [])
    self.by_id: dict[tuple[str, str], dict[str, Any]] = {}
    self.roots: dict[str, list[dict[str, Any]]] = {}
    for node in self.nodes:
      self.by_id[(node.get("frameId", ""), node["nodeId"])] = node
    for node in self.nodes:
      frame = node.get("frameId", "")
      parent = node.get("parentId")
      if parent is None or (frame, parent) not in self.by_id:
        self.roots.setdefault(frame, []).append(node)
    frame_ids = axtree.get("frameIds") or list(self.roots)
    self.main_frame = frame_ids[0] if frame_ids else ""

  def children(self, node: dict[str, Any]) -> list[dict[str, Any]]:
    frame = node.get("frameId", "")
    kids = [self.by_id[(frame, c)] for c in node.get("childIds", []) if (frame, c) in self.by_id]
    child_frame = node.get("childFrameId")
    if child_frame is not None:
      kids.extend(self.roots.get(child_frame, []))
    return kids

  def walk(self) -> Iterator[tuple[dict[str, Any], int, bool]]:
    """Yields (node, depth, printed) in document order; unprinted nodes keep their depth."""

    def visit(node: dict[str, Any], depth: int, parent_name: str):
      role, name = node_role(node), node_name(node)
      printed = not (
        node.get("ignored") or role in _SKIP_ROLES
        or (role in _CONTAINER_ROLES and not name)
        or (role == "StaticText" and (not name.strip() or name.strip() in parent_name)))
      yield node, depth, printed
      next_depth = depth + 1 if printed else depth
      next_name = name if printed else parent_name
      if role == "StaticText":
        return  # its only children are inline text boxes
      for child in self.children(node):
        yield from visit(child, next_depth, next_name)

    for root in self.roots.get(self.main_frame, []):
      yield from visit(root, 0, "")

  def find(self, role: str | None = None, name: str | None = None, exact: bool = True,
           contains: str | None = None) -> list[dict[str, Any]]:
    """Nodes with a bid matching role and name (exactly, or containing `contains`)."""
    out = []
    for node, _, _ in self.walk():
      if "bid" not in node or (role is not None and node_role(node) != role):
        continue
      n = node_name(node)
      if name is not None and (n != name if exact else name.lower() not in n.lower()):
        continue
      if contains is not None and contains.lower() not in n.lower():
        continue
      out.append(node)
    return out

  def text(self) -> str:
    """All printed StaticText, joined (handy for answer-extraction oracles)."""
    return "\n".join(node_name(n) for n, _, p in self.walk()
                     if p and node_role(n) == "StaticText")


def axtree_to_text(axtree: dict[str, Any], extra_properties: dict[str, Any] | None = None,
                   visible_only: bool = False) -> str:
  """The prompt rendering described in the module docstring."""
  lines = []
  for node, depth, printed in AXTree(axtree).walk():
    if not printed:
      continue
    bid = node.get("bid")
    if visible_only and bid and extra_properties:
      if extra_properties.get(bid, {}).get("visibility", 1.0) <= 0:
        continue
    head = f"[{bid}] " if bid and node.get("isElement", True) else ""
    parts = [f"{head}{node_role(node)} {node_name(node)!r}"] + _props(node)
    lines.append("\t" * depth + ", ".join(parts))
  return "\n".join(lines)


def find_bid(obs: dict[str, Any], role: str | None = None, name: str | None = None,
             exact: bool = True, contains: str | None = None) -> str:
  """The bid of the first matching node in obs['axtree_object']; KeyError when none matches."""
  found = AXTree(obs["axtree_object"]).find(role, name, exact, contains)
  if not found:
    raise KeyError(f"no {role or 'node'} named {name or contains!r} in the observation")
  return found[0]["bid"]
