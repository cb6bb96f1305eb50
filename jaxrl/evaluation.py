"""Policy evaluation: N episodes in parallel, raw returns and D4RL-normalised scores.

  evaluator = Evaluator("hopper", num_episodes=10)            # native backend (MuJoCo C, host)
  result = evaluator(policy, params, jax.random.PRNGKey(0))   # policy(params, obs, key) -> action
  result.mean_score, result.stderr_score, result.returns

The N episodes run as one batch of N environments. Environments autoreset, so a finished one keeps
running until all N are done, but only its first episode counts (return and length are frozen at
its first termination or truncation). The policy is jitted once per (Evaluator, policy) pair and
called with the same shapes every step, so it traces once however many times it is evaluated
(`chex.assert_max_traces` in the tests). backend="mjx" runs the whole evaluation as one jitted
`lax.while_loop` over vmapped MJX environments (GPU/TPU; it also runs on CPU, slowly).

Normalised score (D4RL): 100 * (R - R_min) / (R_max - R_min) with D4RL's reference returns
(REF_MIN_MAX; PAPERS.md section 1); names are jaxrl.envs names or D4RL maze2d names. The standard
error is std(ddof=1) / sqrt(N) (0 for one episode).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs

Policy = Callable[[Any, Any, jax.Array], jax.Array]

REF_MIN_MAX: dict[str, tuple[float, float]] = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "maze2d-umaze": (23.85, 161.86),
    "maze2d-medium": (13.13, 277.39),
    "maze2d-large": (6.7, 273.99),
}
_ALIASES = {f"pointmaze-{s}": f"maze2d-{s}" for s in ("umaze", "medium", "large")}


def reference_name(env_name: str) -> str:
  """The REF_MIN_MAX key of an environment name (D4RL-style prefixes and -v2 suffixes allowed)."""
  name = _ALIASES.get(env_name, env_name)
  for key in REF_MIN_MAX:
    if name == key or name.startswith(key + "-"):
      return key
  raise ValueError(f"no D4RL reference scores for {env_name!r}; known: {', '.join(REF_MIN_MAX)}")


def normalized_score(env_name: str, returns: Any) -> np.ndarray:
  """100 * (R - min) / (max - min) with D4RL's reference returns for `env_name`."""
  lo, hi = REF_MIN_MAX[reference_name(env_name)]
  return 100.0 * (np.asarray(returns, np.float64) - lo) / (hi - lo)


def stderr(x: Any) -> float:
  """Standard error of the mean, std(ddof=1) / sqrt(n); 0 for fewer than two values."""
  x = np.asarray(x, np.float64)
  return float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


@dataclasses.dataclass
class EvalResult:
  returns: np.ndarray   # (N,) undiscounted return of each episode's first completion
  lengths: np.ndarray   # (N,) steps of that episode
  scores: np.ndarray    # (N,) D4RL-normalised returns (nan when the env has no reference)

  @property
  def mean_return(self) -> float:
    return float(np.mean(self.returns))

  @property
  def stderr_return(self) -> float:
    return stderr(self.returns)

  @property
  def mean_score(self) -> float:
    return float(np.mean(self.scores))

  @property
  def stderr_score(self) -> float:
    return stderr(self.scores)

  def summary(self) -> dict[str, float]:
    return {"return": self.mean_return, "return_stderr": self.stderr_return,
            "score": self.mean_score, "score_stderr": self.stderr_score,
            "length": float(np.mean(self.lengths)), "episodes": int(self.returns.size)}


class Evaluator:
  """Evaluates policies on `num_episodes` parallel episodes of `env_name` (module docstring).

  `seed` fixes the initial states (every call uses the same ones); extra keyword arguments go to
  `jaxrl.envs.make` (e.g. goal_obs="flat" for PointMaze).
  """

  def __init__(self, env_name: str, num_episodes: int = 10, backend: str = "native",
               seed: int = 0, **env_kwargs: Any):
    if num_episodes < 1:
      raise ValueError(f"num_episodes={num_episodes}: need at least one episode.")
    self.env_name, self.num_episodes, self.backend, self.seed = (
        env_name, num_episodes, backend, seed)
    self.env = envs.make(env_name, backend=backend, num_envs=num_episodes, seed=seed, **env_kwargs)
    self._compiled: dict[Any, Callable] = {}

  def _score(self, returns: np.ndarray) -> np.ndarray:
    try:
      return normalized_score(self.env_name, returns)
    except ValueError:
      return np.full_like(returns, np.nan)

  def __call__(self, policy: Policy, params: Any, key: jax.Array) -> EvalResult:
    if self.backend == "native":
      returns, lengths = self._run_native(policy, params, key)
    else:
      returns, lengths = self._run_mjx(policy, params, key)
    return EvalResult(returns=returns, lengths=lengths, scores=self._score(returns))

  # ---------------------------------------------------------------- native: host loop
  def _native_step(self, policy: Policy) -> Callable:
    if policy not in self._compiled:
      def act(params, obs, key):
        key, sub = jax.random.split(key)
        return policy(params, obs, sub), key
      self._compiled[policy] = jax.jit(act)
    return self._compiled[policy]

  def _run_native(self, policy, params, key):
    act = self._native_step(policy)
    n = self.num_episodes
    obs, _ = self.env.reset(seed=self.seed)
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    active = np.ones(n, bool)
    while active.any():
      action, key = act(params, obs, key)
      obs, reward, terminated, truncated, _ = self.env.step(np.asarray(action))
      returns += np.where(active, reward, 0.0)
      lengths += active
      active &= ~(terminated | truncated)
    return returns, lengths

  # ---------------------------------------------------------------- mjx: one jitted while_loop
  def _mjx_rollout(self, policy: Policy) -> Callable:
    if policy in self._compiled:
      return self._compiled[policy]
    env, n = self.env, self.num_episodes

    def rollout(params, key, reset_key):
      state = jax.vmap(env.reset_fn)(jax.random.split(reset_key, n))
      zeros = jnp.zeros((n,), state.reward.dtype)
      carry = (state, zeros, jnp.zeros((n,), jnp.int32), jnp.ones((n,), bool), key)

      def body(c):
        st, ret, length, active, k = c
        k, sub = jax.random.split(k)
        st = jax.vmap(env.step_fn)(st, policy(params, st.obs, sub))
        ret = ret + jnp.where(active, st.reward, 0.0)
        length = length + active
        return st, ret, length, active & ~(st.terminated | st.truncated), k

      _, ret, length, _, _ = jax.lax.while_loop(lambda c: jnp.any(c[3]), body, carry)
      return ret, length

    self._compiled[policy] = jax.jit(rollout)
    return self._compiled[policy]

  def _run_mjx(self, policy, params, key):
    ret, length = self._mjx_rollout(policy)(params, key, jax.random.PRNGKey(self.seed))
    return np.asarray(ret, np.float64), np.asarray(length, np.int64)

  def close(self) -> None:
    self.env.close()


def evaluate(policy: Policy, params: Any, env_name: str, num_episodes: int = 10,
             key: jax.Array | None = None, backend: str = "native", seed: int = 0,
             **env_kwargs: Any) -> EvalResult:
  """One-off evaluation (builds an `Evaluator`; keep one to evaluate many snapshots)."""
  evaluator = Evaluator(env_name, num_episodes, backend=backend, seed=seed, **env_kwargs)
  try:
    return evaluator(policy, params, jax.random.PRNGKey(seed) if key is None else key)
  finally:
    evaluator.close()
