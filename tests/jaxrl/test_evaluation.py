"""Evaluation: the D4RL score formula, standard errors, first-episode accounting, one trace."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl import evaluation


def test_normalized_score_by_hand():
  np.testing.assert_allclose(evaluation.normalized_score("hopper", [-20.272305, 3234.3]),
                             [0.0, 100.0])
  mid = (23.85 + 161.86) / 2
  np.testing.assert_allclose(evaluation.normalized_score("pointmaze-umaze", mid), 50.0)
  np.testing.assert_allclose(evaluation.normalized_score("maze2d-large-v1", 273.99), 100.0)
  np.testing.assert_allclose(evaluation.normalized_score("walker2d-medium-v2", 1000.0),
                             100 * (1000 - 1.629008) / (4592.3 - 1.629008))
  with pytest.raises(ValueError):
    evaluation.normalized_score("cartpole", 1.0)


def test_stderr_by_hand():
  # std(ddof=1) of 1..4 = sqrt(5/3); / sqrt(4)
  assert evaluation.stderr([1, 2, 3, 4]) == pytest.approx(np.sqrt(5 / 3) / 2)
  assert evaluation.stderr([7.0]) == 0.0


def _policy(params, obs, key):
  del key
  return jnp.tanh(jnp.asarray(obs, jnp.float32) @ params)


def test_first_episode_only_and_single_trace():
  n, params = 4, jnp.array([[0.5, -1.0, 0.3]] * 11) * jnp.arange(11)[:, None] / 11
  traced = chex.assert_max_traces(_policy, n=1)
  ev = evaluation.Evaluator("hopper", num_episodes=n, seed=3)
  r1 = ev(traced, params, jax.random.PRNGKey(0))
  r2 = ev(traced, params, jax.random.PRNGKey(1))  # same policy: no retrace
  np.testing.assert_allclose(r1.returns, r2.returns)  # deterministic policy, same initial states

  # reference: the same batch stepped by hand, each env's first episode summed separately
  env = envs.make("hopper", num_envs=n, seed=3)
  obs, _ = env.reset(seed=3)
  ret, length, open_ = np.zeros(n), np.zeros(n, int), np.ones(n, bool)
  for _ in range(1000):
    obs, r, term, trunc, _ = env.step(np.asarray(_policy(params, jnp.asarray(obs, jnp.float32),
                                                         None)))
    ret[open_] += r[open_]
    length[open_] += 1
    open_ &= ~(term | trunc)
    if not open_.any():
      break
  np.testing.assert_allclose(r1.returns, ret, rtol=1e-5)
  np.testing.assert_array_equal(r1.lengths, length)
  assert len(set(length.tolist())) > 1  # episodes ended at different steps
  np.testing.assert_allclose(r1.scores, evaluation.normalized_score("hopper", ret), rtol=1e-5)
  s = r1.summary()
  assert s["episodes"] == n and s["score_stderr"] == pytest.approx(evaluation.stderr(r1.scores))
