"""InSTA: a browser session server for web agents and the InSTA agent's JSON action schema.

    python -m jaxllm.insta.server --port 0      # prints `... listening on http://HOST:PORT`

    from jaxllm.insta import ServerPool, parse_agent_action
    pool = ServerPool(["http://127.0.0.1:3000"])
    sid = pool.start()
    pool.goto(sid, "http://127.0.0.1:8080/")
    obs = pool.observation(sid)                 # raw_html, screenshot, metadata, current_url
    pool.act(sid, parse_agent_action(reply))    # reply ends with a ```json action block
    pool.close(sid)

Pieces: `actions` (agent action schema, `parse_agent_action`, `to_calls`), `server` (the aiohttp +
Playwright session server on the system Chromium) and `client` (`SessionClient`, `ServerPool`).
The server module imports Playwright; importing this package does not.
"""
from __future__ import annotations

from jaxllm.insta.actions import (ActionParseError, AgentAction, parse_agent_action, to_calls,
                                  validate_action)
from jaxllm.insta.client import InstaError, ServerPool, SessionClient

__all__ = ["ActionParseError", "AgentAction", "InstaError", "ServerPool", "SessionClient",
           "parse_agent_action", "to_calls", "validate_action"]
