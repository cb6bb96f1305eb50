"""Multi-turn episodes at scale: agents x tasks x seeds over a pool of workers, with no browser.

  from jaxllm import episodes
  factory = episodes.RunnerFactory("jaxllm.episodes:GymRunner", {
      "env": "mygames.guess:make", "agents": {"bisect": ("mygames.guess:Bisect", {})}})
  records = episodes.Scheduler(workdir, episodes.plan(["bisect"], ["guess.100"], range(8)),
                               factory, num_workers=2).run()
  episodes.summarize(records)["bisect / ALL"]      # episodes, success, stderr, errored, ...

What a text game (PAPRIKA), helper-policy data collection or a web study (`jaxllm.web.study`)
share: `spec` (EpisodeSpec: agent label, task id, seed, key; `plan`), `runner` (the pluggable
per-worker runner, given as plain data that survives spawn: `RunnerFactory`), `gym_runner`
(`GymRunner`: any Gymnasium-like text env with any `reset(task)` / `act(obs)` agent), `heartbeat`
(`Limits` and the per-phase clock), `pool` (spawned worker processes, killed with their process
tree when hung or dead), `ray_pool` (the same as Ray actors; Ray is optional), `records` (every
step to `<workdir>/episodes/<agent>/<task>/seed<k>/steps.jsonl`; `RecordStore`, the final record
per episode in `<workdir>/episodes.jsonl`, resumable and checkpointable as host state) and
`scheduler` (`Scheduler`: queue, retries, kills and replacements, resume, `on_event`).

This package imports neither a browser nor `jaxllm.web` nor `experiments`.
"""
from __future__ import annotations

from jaxllm.episodes.gym_runner import GymRunner
from jaxllm.episodes.heartbeat import Heartbeat, Limits
from jaxllm.episodes.records import (RECORDS, RecordStore, StepRecorder, load_records, read_jsonl,
                                     summarize)
from jaxllm.episodes.runner import Runner, RunnerFactory, describe, resolve, run_episode
from jaxllm.episodes.scheduler import BACKENDS, RETRIED_KINDS, Scheduler
from jaxllm.episodes.spec import EpisodeSpec, blank_summary, episode_dir, failure, plan

__all__ = ["BACKENDS", "EpisodeSpec", "GymRunner", "Heartbeat", "Limits", "RECORDS",
           "RETRIED_KINDS", "RecordStore", "Runner", "RunnerFactory", "Scheduler", "StepRecorder",
           "blank_summary", "describe", "episode_dir", "failure", "load_records", "plan",
           "read_jsonl", "resolve", "run_episode", "summarize"]
