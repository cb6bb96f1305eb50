"""Sandbox websites for browser agents, served on loopback with the standard library.

Four sites, each on its own port: an online shop, a forum, a code-hosting issue tracker and a
webmail/chat inbox. Data is seeded deterministically with fake names; `POST <base>/__reset`
restores it and `GET <base>/__state` returns it as JSON.

From the command line (prints one base URL per site, then serves until interrupted):

  python -m jaxllm.web.sites --port 0

In process:

  sandbox = start_sites()          # ephemeral ports
  sandbox.urls["shop"]             # 'http://127.0.0.1:41234'
  sandbox.close()
"""
from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from jaxllm.web.sites.forum import ForumSite
from jaxllm.web.sites.framework import Site, SiteServer
from jaxllm.web.sites.mail import MailSite
from jaxllm.web.sites.shop import ShopSite
from jaxllm.web.sites.tracker import TrackerSite

SITES: dict[str, type[Site]] = {
  "shop": ShopSite, "forum": ForumSite, "tracker": TrackerSite, "mail": MailSite}


class Sandbox:
  """A set of running site servers; `urls` maps site name to base URL."""

  def __init__(self, servers: dict[str, SiteServer]):
    self.servers = servers

  @property
  def urls(self) -> dict[str, str]:
    return {name: s.url for name, s in self.servers.items()}

  def site(self, name: str) -> Site:
    return self.servers[name].site

  def close(self) -> None:
    for server in self.servers.values():
      server.close()


def start_sites(port: int = 0, host: str = "127.0.0.1",
                names: tuple[str, ...] | None = None) -> Sandbox:
  """Starts the sites on host; port 0 picks ephemeral ports, else port, port+1, ... in order."""
  names = tuple(SITES) if names is None else names
  unknown = sorted(set(names) - set(SITES))
  if unknown:
    raise ValueError(f"unknown sandbox site(s) {unknown}; choose from {sorted(SITES)}")
  servers = {}
  try:
    for i, name in enumerate(names):
      servers[name] = SiteServer(SITES[name](), host, port + i if port else 0)
  except OSError:
    Sandbox(servers).close()
    raise
  return Sandbox(servers)


_DEFAULT: Sandbox | None = None
_DEFAULT_LOCK = threading.Lock()


def default_sandbox() -> Sandbox:
  """A process-wide sandbox on ephemeral loopback ports, started on first use."""
  global _DEFAULT
  with _DEFAULT_LOCK:
    if _DEFAULT is None:
      _DEFAULT = start_sites()
    return _DEFAULT


def reset_site(base_url: str, timeout: float = 10.0) -> None:
  """Restores a (possibly out-of-process) site to its seeded state over HTTP."""
  req = urllib.request.Request(base_url.rstrip("/") + "/__reset", data=b"", method="POST")
  with urllib.request.urlopen(req, timeout=timeout) as resp:
    resp.read()


def fetch_state(base_url: str, timeout: float = 10.0) -> dict[str, Any]:
  """The site's whole state as JSON, read over HTTP."""
  with urllib.request.urlopen(base_url.rstrip("/") + "/__state", timeout=timeout) as resp:
    return json.loads(resp.read().decode("utf-8"))


__all__ = ["SITES", "Sandbox", "default_sandbox", "fetch_state", "reset_site", "start_sites"]
