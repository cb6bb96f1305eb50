"""The InSTA data pipeline: propose tasks, run the agent, judge, filter and export SFT chats.

    chat = ChatClient("http://127.0.0.1:8000/v1", model="qwen")
    propose_stage(chat, "runs/insta", {"forum": "http://127.0.0.1:8080/"})
    agent_stage(InstaAgent(chat), SessionClient("http://127.0.0.1:3000"), "runs/insta")
    judge_stage(chat, "runs/insta")
    n = export_sft("runs/insta", "runs/insta/sft.json")   # then: sft trainer data.corpus=...

On-disk layout under the work directory (one JSON file per item, the InSTA authors' layout):

    proposals/<site_id>.json      {"site_id", "site_url", "proposal": {Proposal fields}}
    observations/<traj_id>.json   {"traj_id", "site_id", "instruction", "start_url",
                                   "steps": [{"url", "observation", "action_error"}]}
    actions/<traj_id>.json        {"traj_id", "status", "answer", "error", "agent",
                                   "steps": [{"reply", "action", "result", "attempts"}]}
    judge/<traj_id>.json          {"success", "efficiency", "self_correction", "valid", ...}

One trajectory is run per usable proposal and its traj_id is the site_id. Every stage is resumable:
an item whose output file exists is skipped (files are written atomically, and a trajectory's
actions file, written after its observations file, marks it done). The export writes the chat
SFT corpus `jaxllm.data.corpus.load_chats` reads (`data.corpus` of experiments/trainers/sft.py):
a JSON list of chats, each a list of {"role", "content"} messages. Every step with a valid action
of every kept trajectory is one chat: the prompt exactly as the agent saw it at that step (system
prompt, the user/assistant turns of its history window, the step's observation; failed parse
attempts left out) and then the agent's reply as the final assistant message. Note the sft
trainer puts loss on every assistant turn of a chat, so the history's earlier replies are trained
on too (they come from the same kept trajectory).
"""
from __future__ import annotations

import json
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from jaxllm.insta.agent import AGENT_SYSTEM_PROMPT, InstaAgent, build_messages, run_episode
from jaxllm.insta.judge import judge_trajectory, keep
from jaxllm.insta.proposer import Proposal, propose

STAGES = ("proposals", "observations", "actions", "judge")
_ID_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_OBS_KEYS = ("url", "observation", "action_error")
_ACT_KEYS = ("reply", "action", "result", "attempts")

Chat = list[dict[str, str]]


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------
def check_id(item_id: str) -> str:
  """item_id if it is a safe file stem (letters, digits, . _ -; at most 128), else ValueError."""
  if not isinstance(item_id, str) or not _ID_RE.fullmatch(item_id):
    raise ValueError(f"not a valid site/trajectory id: {item_id!r:.60}")
  return item_id


def stage_path(workdir: str | Path, stage: str, item_id: str) -> Path:
  if stage not in STAGES:
    raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
  return Path(workdir) / stage / f"{check_id(item_id)}.json"


def stage_ids(workdir: str | Path, stage: str) -> list[str]:
  """The ids with an output file in a stage, sorted."""
  folder = Path(workdir) / stage
  if not folder.is_dir():
    return []
  return sorted(p.stem for p in folder.glob("*.json") if _ID_RE.fullmatch(p.stem))


def write_json(path: str | Path, obj: Any) -> None:
  """Writes obj as JSON atomically (a temporary file in the same folder, then rename)."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(obj, f, ensure_ascii=False, indent=1)
      f.write("\n")
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def read_json(path: str | Path) -> Any:
  return json.loads(Path(path).read_text(encoding="utf-8"))


def write_proposal(workdir: str | Path, site_id: str, site_url: str, proposal: Proposal) -> None:
  write_json(stage_path(workdir, "proposals", site_id),
             {"site_id": site_id, "site_url": site_url, "proposal": proposal.to_json()})


def read_proposal(workdir: str | Path, site_id: str) -> tuple[str, Proposal]:
  """(site_url, proposal)."""
  obj = read_json(stage_path(workdir, "proposals", site_id))
  return obj["site_url"], Proposal.from_json(obj["proposal"])


def write_trajectory(workdir: str | Path, traj_id: str, trajectory: dict[str, Any],
                     site_id: str | None = None) -> None:
  """Splits a `run_episode` trajectory into its observations and actions files."""
  steps = trajectory.get("steps") or []
  write_json(stage_path(workdir, "observations", traj_id), {
    "traj_id": traj_id, "site_id": site_id or traj_id,
    "instruction": trajectory["instruction"], "start_url": trajectory.get("start_url", ""),
    "steps": [{k: s.get(k) for k in _OBS_KEYS} for s in steps]})
  write_json(stage_path(workdir, "actions", traj_id), {
    "traj_id": traj_id, "status": trajectory.get("status"), "answer": trajectory.get("answer"),
    "error": trajectory.get("error"), "agent": trajectory.get("agent") or {},
    "steps": [{k: s.get(k) for k in _ACT_KEYS} for s in steps]})


def read_trajectory(workdir: str | Path, traj_id: str) -> dict[str, Any]:
  """The trajectory dict `run_episode` returned, rebuilt from its two files."""
  obs = read_json(stage_path(workdir, "observations", traj_id))
  act = read_json(stage_path(workdir, "actions", traj_id))
  if len(obs["steps"]) != len(act["steps"]):
    raise ValueError(f"trajectory {traj_id}: {len(obs['steps'])} observations but "
                     f"{len(act['steps'])} actions")
  steps = [{**o, **a} for o, a in zip(obs["steps"], act["steps"])]
  return {"traj_id": traj_id, "site_id": obs.get("site_id", traj_id),
          "instruction": obs["instruction"], "start_url": obs.get("start_url", ""),
          "status": act.get("status"), "answer": act.get("answer"), "error": act.get("error"),
          "agent": act.get("agent") or {}, "steps": steps}


def write_judgment(workdir: str | Path, traj_id: str, judgment: dict[str, Any]) -> None:
  write_json(stage_path(workdir, "judge", traj_id), judgment)


def read_judgment(workdir: str | Path, traj_id: str) -> dict[str, Any]:
  return read_json(stage_path(workdir, "judge", traj_id))


# ---------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------
def run_stage(item_ids: Iterable[str], done: Callable[[str], bool],
              work: Callable[[str], None]) -> tuple[list[str], list[str]]:
  """Calls work(id) for each id not yet done(id); (ids worked on, ids skipped)."""
  ran, skipped = [], []
  for item_id in item_ids:
    if done(item_id):
      skipped.append(item_id)
      continue
    work(item_id)
    ran.append(item_id)
  return ran, skipped


def propose_stage(client: Any, workdir: str | Path, sites: Mapping[str, str], *,
                  page_summaries: Mapping[str, str] | None = None,
                  temperature: float = 0.5) -> list[str]:
  """A proposal per site ({site_id: url}) without one; the site ids proposed for now."""
  summaries = page_summaries or {}

  def work(site_id: str) -> None:
    proposal = propose(client, sites[site_id], page_summary=summaries.get(site_id, ""),
                       temperature=temperature)
    write_proposal(workdir, site_id, sites[site_id], proposal)

  for site_id in sites:
    check_id(site_id)
  return run_stage(sites, lambda s: stage_path(workdir, "proposals", s).exists(), work)[0]


def usable_proposals(workdir: str | Path) -> list[str]:
  """The site ids whose proposal is valid, safe and feasible."""
  return [s for s in stage_ids(workdir, "proposals") if read_proposal(workdir, s)[1].usable]


def agent_stage(agent: InstaAgent, session_client: Any, workdir: str | Path, *,
                max_actions: int = 30) -> list[str]:
  """An episode per usable proposal without a trajectory (traj_id = site_id); those run now."""

  def work(site_id: str) -> None:
    site_url, proposal = read_proposal(workdir, site_id)
    assert proposal.proposed_task is not None
    trajectory = run_episode(agent, session_client, proposal.proposed_task, site_url,
                             max_actions=max_actions)
    write_trajectory(workdir, site_id, trajectory, site_id=site_id)

  return run_stage(usable_proposals(workdir),
                   lambda t: stage_path(workdir, "actions", t).exists(), work)[0]


def judge_stage(client: Any, workdir: str | Path, *, temperature: float = 0.0) -> list[str]:
  """A judgment per finished trajectory without one; the trajectory ids judged now."""

  def work(traj_id: str) -> None:
    judgment = judge_trajectory(client, read_trajectory(workdir, traj_id),
                                temperature=temperature)
    write_judgment(workdir, traj_id, judgment)

  return run_stage(stage_ids(workdir, "actions"),
                   lambda t: stage_path(workdir, "judge", t).exists(), work)[0]


# ---------------------------------------------------------------------------------------------
# filter + export
# ---------------------------------------------------------------------------------------------
def kept_trajectories(workdir: str | Path, *, success_threshold: float = 0.5,
                      secondary_threshold: float = 0.0) -> list[str]:
  """The judged trajectory ids that `judge.keep` accepts, sorted."""
  return [t for t in stage_ids(workdir, "judge")
          if stage_path(workdir, "actions", t).exists()
          and keep(read_judgment(workdir, t), success_threshold, secondary_threshold)]


def trajectory_examples(trajectory: dict[str, Any]) -> list[Chat]:
  """One chat per step with a valid action: the agent's prompt at that step + its reply."""
  cfg = trajectory.get("agent") or {}
  system_prompt = cfg.get("system_prompt") or AGENT_SYSTEM_PROMPT
  max_history = int(cfg.get("max_history", 5))
  steps = trajectory["steps"]
  chats = []
  for t, step in enumerate(steps):
    if step.get("action") is None:
      continue
    messages = build_messages(system_prompt, trajectory["instruction"], steps[:t + 1],
                              max_history)
    chats.append(messages + [{"role": "assistant", "content": step["reply"]}])
  return chats


def export_sft(workdir: str | Path, out_path: str | Path, *, max_trajectories: int = 5000,
               seed: int = 0, success_threshold: float = 0.5,
               secondary_threshold: float = 0.0) -> int:
  """Writes the kept trajectories' steps as a chat SFT corpus at out_path; the chat count.

  At most `max_trajectories` kept trajectories are used, sampled with `random.Random(seed)` from
  the sorted ids; the output is deterministic (same inputs, same bytes).
  """
  kept = kept_trajectories(workdir, success_threshold=success_threshold,
                           secondary_threshold=secondary_threshold)
  if len(kept) > max_trajectories:
    kept = sorted(random.Random(seed).sample(kept, max_trajectories))
  chats: list[Chat] = []
  for traj_id in kept:
    chats += trajectory_examples(read_trajectory(workdir, traj_id))
  out_path = Path(out_path)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in chats]
  text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
  fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
    os.replace(tmp, out_path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return len(chats)
