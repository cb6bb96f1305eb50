"""A runner for any Gymnasium-like text environment and any agent: no browser needed.

  factory = RunnerFactory("jaxllm.episodes:GymRunner", {
      "env": "mygames.wordle:make",                  # make(task_id, **env_kwargs) -> env
      "agents": {"llm": ("mygames.agents:LLMAgent", {"base_url": "http://..."})},
      "max_steps": 12})

The environment has `reset(seed=...) -> (obs, info)`, `step(action) -> (obs, reward, terminated,
truncated, info)` and optionally `close()` and `task` (what the agent's `reset` gets; the task id
otherwise). An agent has `reset(task)` and `act(obs) -> decision`, where a decision is the action
itself or an object with `.action` (and optionally `.think`, `.info`, as `jaxllm.web.agents`'
AgentStep); `close()` is optional. Agents are built once per worker and reused across episodes;
an environment is built per episode.

One episode: make env, `reset(seed)`, `agent.reset(task)`, then up to `max_steps` times: beat
"agent", decide, beat "env", step, record the row. Each row holds the observation the agent saw
(`observation_record`), its think / action / info, the reward and flags and what the step
returned (`outcome_record`: the info dict by default); a last row with `final: true` holds the
observation after the last step. The summary's `reward` is the last step's reward and `return`
the sum; `success` is the last info's "success" when the environment says, else reward > 0.

Errors. Anything raised while the agent resets or acts ends the episode as kind "agent", anything
else as kind "env" (`error_kind` is the hook to change that). Subclasses override the other hooks
to add what their environment needs (`jaxllm.web.episode.BrowserRunner`: sandbox sites, one
Chromium shared across episodes, screenshots).
"""
from __future__ import annotations

from typing import Any

from jaxllm.episodes.records import StepRecorder
from jaxllm.episodes.runner import Beat, describe, resolve
from jaxllm.episodes.spec import EpisodeSpec, blank_summary


class GymRunner:
  """Runs episodes of `env` with the agents of `agents` (see the module docstring).

  Args:
    env: "module:callable" (or a callable) building the environment: `env(task_id, **env_kwargs)`.
    agents: label -> ("module:callable", kwargs) building each agent the specs name.
    env_kwargs: keyword arguments of the environment factory.
    max_steps: steps before an episode is truncated.
  """

  def __init__(self, env: Any = None, agents: dict[str, tuple[Any, dict[str, Any]]] | None = None,
               *, env_kwargs: dict[str, Any] | None = None, max_steps: int = 50):
    self.env_factory = env
    self.env_kwargs = dict(env_kwargs or {})
    self.agent_specs = dict(agents or {})
    self.max_steps = max_steps
    self._agents: dict[str, Any] = {}

  # ---------------------------------------------------------------- hooks
  def make_env(self, task_id: str) -> Any:
    return resolve(self.env_factory)(task_id, **self.env_kwargs)

  def make_agent(self, label: str) -> Any:
    target, kwargs = self.agent_specs[label]
    return resolve(target)(**kwargs)

  def error_kind(self, exc: Exception, phase: str) -> str:
    """"agent" or "env" for an exception raised during `phase` ("agent" or "env")."""
    del exc
    return phase

  def on_env_error(self) -> None:
    """Called after an "env" error or a failed env.close() (drop a broken shared resource)."""

  def observation_record(self, step: int, obs: Any, out_dir: str) -> dict[str, Any]:
    """The part of a step row that describes what the agent saw before acting."""
    del out_dir
    return {"step": step, "observation": obs}

  def outcome_record(self, obs: Any, info: Any) -> dict[str, Any]:
    """The part of a step row that describes what the step returned besides obs and reward."""
    del obs
    return {"info": info}

  # ---------------------------------------------------------------- episodes
  def agent(self, label: str) -> Any:
    if label not in self._agents:
      self._agents[label] = self.make_agent(label)
    return self._agents[label]

  def run(self, spec: EpisodeSpec, beat: Beat, record: StepRecorder) -> dict[str, Any]:
    summary = blank_summary(spec)
    env, phase, info = None, "env", {}
    try:
      beat("env", 0)
      env = self.make_env(spec.task_id)
      obs, info = env.reset(seed=spec.seed)
      phase = "agent"
      agent = self.agent(spec.agent)
      agent.reset(getattr(env, "task", spec.task_id))
      for step in range(self.max_steps):
        phase = "agent"
        beat("agent", step)
        decision = agent.act(obs)
        action = getattr(decision, "action", decision)
        phase = "env"
        beat("env", step)
        row = self.observation_record(step, obs, record.dir)
        obs, reward, terminated, truncated, info = env.step(action)
        reward, terminated, truncated = float(reward), bool(terminated), bool(truncated)
        row.update(think=getattr(decision, "think", ""), action=action, reward=reward,
                   terminated=terminated, truncated=truncated,
                   agent_info=getattr(decision, "info", {}), **self.outcome_record(obs, info))
        record(row)
        summary.update(steps=step + 1, reward=reward, terminated=terminated,
                       truncated=truncated, **{"return": summary["return"] + reward})
        if terminated or truncated:
          break
      else:
        summary["truncated"] = True
      phase = "env"
      record({**self.observation_record(summary["steps"], obs, record.dir), "final": True})
      said = info.get("success") if isinstance(info, dict) else None
      summary["success"] = bool(said) if said is not None else summary["reward"] > 0
    except Exception as e:  # pylint: disable=broad-except
      kind = self.error_kind(e, phase)
      summary.update(status="errored", error_kind=kind, error=describe(e))
      if kind == "env":
        self.on_env_error()
    finally:
      if env is not None and hasattr(env, "close"):
        try:
          env.close()
        except Exception:  # pylint: disable=broad-except
          self.on_env_error()
    return summary

  def close(self) -> None:
    for agent in self._agents.values():
      if hasattr(agent, "close"):
        agent.close()
    self._agents = {}
