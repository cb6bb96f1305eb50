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
The pipeline's stages, each over any OpenAI-compatible endpoint: `proposer` (a task per site, or
all-null for an unsafe site), `agent` (`InstaAgent`, `run_episode` through a session server),
`judge` (success / efficiency / self-correction probabilities, `keep`) and `pipeline` (the
authors' on-disk layout, resumable stages, `export_sft` to jaxllm's chat SFT corpus). The server
module imports Playwright; importing this package does not.
"""
from __future__ import annotations

from jaxllm.insta.actions import (ActionParseError, AgentAction, parse_agent_action, to_calls,
                                  validate_action)
from jaxllm.insta.agent import InstaAgent, observation_text, run_episode
from jaxllm.insta.client import InstaError, ServerPool, SessionClient
from jaxllm.insta.judge import judge_trajectory, keep, parse_judgment
from jaxllm.insta.pipeline import (agent_stage, export_sft, judge_stage, propose_stage,
                                   read_trajectory)
from jaxllm.insta.proposer import Proposal, parse_proposal, propose

__all__ = ["ActionParseError", "AgentAction", "InstaAgent", "InstaError", "Proposal",
           "ServerPool", "SessionClient", "agent_stage", "export_sft", "judge_stage",
           "judge_trajectory", "keep", "observation_text", "parse_agent_action", "parse_judgment",
           "propose", "propose_stage", "read_trajectory", "run_episode", "to_calls",
           "validate_action"]
