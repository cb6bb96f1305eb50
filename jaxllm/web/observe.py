"""Observation extraction: bid injection, DOM snapshot, accessibility tree, element properties.

Bids. A script run in every frame gives each element (open shadow roots included) a `bid`
attribute if it has none: a counter per document, so bids stay stable while a page lives and
repeat across loads of the same page. Elements inside an `<iframe>` whose bid is '12' get bids
'12.1', '12.2', ... (frames prefixed), which is how `executor.locate` finds them again. The same
script returns, per bid, the extra properties BrowserGym reports: `visibility` (fraction of the
box inside the viewport, 0 when hidden by CSS), `bbox` [x, y, w, h] in main-viewport pixels and
`clickable` (interactive tag, ARIA widget role, onclick or a pointer cursor).

Snapshots come from the Chrome DevTools Protocol: `DOMSnapshot.captureSnapshot` (all frames) and
`Accessibility.getFullAXTree` per frame. Each AX node is tagged with its `frameId` and, when it
belongs to an element, the element's `bid` (looked up through `backendDOMNodeId` in the DOM
snapshot, so no page content is modified for it).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from playwright.sync_api import Frame, Page

MARK_JS = r"""
(prefix) => {
  const key = '__jaxllmBidNext';
  if (window[key] === undefined) window[key] = 1;
  const elements = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      elements.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  const seen = new Set();
  const props = {};
  const frames = {};
  const vw = window.innerWidth, vh = window.innerHeight;
  const widgetRoles = new Set(['button', 'link', 'checkbox', 'radio', 'menuitem', 'tab',
    'option', 'switch', 'combobox', 'textbox', 'searchbox', 'slider', 'treeitem']);
  for (const el of elements) {
    let bid = el.getAttribute('bid');
    const ours = bid !== null && bid.startsWith(prefix) &&
      /^[0-9]+$/.test(bid.slice(prefix.length));
    if (!ours || seen.has(bid)) {
      bid = prefix + String(window[key]++);
      el.setAttribute('bid', bid);
    }
    seen.add(bid);
    const r = el.getBoundingClientRect();
    const st = window.getComputedStyle(el);
    let vis = 0;
    if (r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none' &&
        parseFloat(st.opacity || '1') > 0) {
      const ix = Math.max(0, Math.min(r.right, vw) - Math.max(r.left, 0));
      const iy = Math.max(0, Math.min(r.bottom, vh) - Math.max(r.top, 0));
      vis = (ix * iy) / (r.width * r.height);
    }
    const tag = el.tagName.toLowerCase();
    const role = el.getAttribute('role');
    const clickable = (tag === 'a' && el.hasAttribute('href')) || tag === 'button' ||
      (tag === 'input' && el.type !== 'hidden') || tag === 'select' || tag === 'textarea' ||
      tag === 'summary' || tag === 'option' || tag === 'label' ||
      (role !== null && widgetRoles.has(role)) || el.hasAttribute('onclick') ||
      typeof el.onclick === 'function' || st.cursor === 'pointer';
    props[bid] = {visibility: vis, bbox: [r.left, r.top, r.width, r.height], clickable};
    if (tag === 'iframe' || tag === 'frame') {
      frames[bid] = [r.left + el.clientLeft, r.top + el.clientTop];
    }
  }
  let focused = document.activeElement;
  while (focused && focused.shadowRoot && focused.shadowRoot.activeElement) {
    focused = focused.shadowRoot.activeElement;
  }
  const fbid = focused && focused !== document.body ? focused.getAttribute('bid') : null;
  return {props, frames, focused: fbid};
}
"""


def mark_frames(page: Page) -> tuple[dict[str, dict[str, Any]], str]:
  """Injects bids into every frame; returns (extra_element_properties, focused_element_bid)."""
  props: dict[str, dict[str, Any]] = {}

  def visit(frame: Frame, prefix: str, dx: float, dy: float) -> str:
    try:
      out = frame.evaluate(MARK_JS, prefix)
    except Exception:  # pylint: disable=broad-except
      return ""  # a frame detached or navigating mid-extraction: skip it this time
    for bid, p in out["props"].items():
      x, y, w, h = p["bbox"]
      p["bbox"] = [x + dx, y + dy, w, h]
      props[bid] = p
    focused = out["focused"] or ""
    for child in frame.child_frames:
      try:
        owner = child.frame_element()
        bid = owner.get_attribute("bid")
      except Exception:  # pylint: disable=broad-except
        continue
      if bid is None or bid not in out["frames"]:
        continue
      ox, oy = out["frames"][bid]
      inner = visit(child, bid + ".", dx + ox, dy + oy)
      if focused == bid and inner:
        focused = inner  # focus is inside this iframe
    return focused

  focused = visit(page.main_frame, "", 0.0, 0.0)
  return props, focused


def _bid_index(dom: dict[str, Any]) -> tuple[dict[int, str], set[int], dict[int, str]]:
  """From a DOM snapshot: backendNodeId -> bid, element node ids, iframe node -> child frameId."""
  strings = dom["strings"]
  bids: dict[int, str] = {}
  elements: set[int] = set()
  frame_of: dict[int, str] = {}
  docs = dom["documents"]
  for doc in docs:
    nodes = doc["nodes"]
    backend = nodes["backendNodeId"]
    for i, attrs in enumerate(nodes.get("attributes", [])):
      if nodes["nodeType"][i] == 1:
        elements.add(backend[i])
      for k in range(0, len(attrs), 2):
        if strings[attrs[k]] == "bid":
          bids[backend[i]] = strings[attrs[k + 1]]
          break
    content = nodes.get("contentDocumentIndex", {"index": [], "value": []})
    for node_i, doc_i in zip(content["index"], content["value"]):
      frame_of[backend[node_i]] = strings[docs[doc_i]["frameId"]]
  return bids, elements, frame_of


def _frame_ids(tree: dict[str, Any]) -> list[str]:
  ids = [tree["frame"]["id"]]
  for child in tree.get("childFrames", []):
    ids.extend(_frame_ids(child))
  return ids


def capture_snapshots(page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
  """(dom_object, axtree_object) of a page through CDP; AX nodes carry `frameId` and `bid`."""
  assert page.context is not None
  cdp = page.context.new_cdp_session(page)
  try:
    dom = cdp.send("DOMSnapshot.captureSnapshot",
                   {"computedStyles": [], "includeDOMRects": True, "includePaintOrder": False})
    bids, elements, frame_of = _bid_index(dom)
    nodes: list[dict[str, Any]] = []
    frame_ids = _frame_ids(cdp.send("Page.getFrameTree")["frameTree"])
    for frame_id in frame_ids:
      try:
        ax = cdp.send("Accessibility.getFullAXTree", {"frameId": frame_id})
      except Exception:  # pylint: disable=broad-except
        continue  # out-of-process or detached frame: its tree is not reachable from here
      for node in ax["nodes"]:
        node["frameId"] = frame_id
        backend = node.get("backendDOMNodeId")
        if backend is not None:
          if backend in bids:
            node["bid"] = bids[backend]
          node["isElement"] = backend in elements
          if backend in frame_of:
            node["childFrameId"] = frame_of[backend]
        nodes.append(node)
  finally:
    cdp.detach()
  return dom, {"nodes": nodes, "frameIds": frame_ids}


def screenshot_array(page: Page) -> np.ndarray:
  """The viewport as an RGB uint8 array of shape (height, width, 3)."""
  from PIL import Image  # pylint: disable=import-outside-toplevel  (only when asked for)
  png = page.screenshot(type="png")
  return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
