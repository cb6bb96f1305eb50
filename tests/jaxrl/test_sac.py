"""SAC: the loss pieces against hand values, and learning on a one-step task."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import networks, sac
from jaxrl.agents.sac import SAC, SACConfig


def test_td_target_by_hand():
  y = sac.td_target(reward=jnp.array([1.0, 2.0]), terminal=jnp.array([0.0, 1.0]),
                    next_q1=jnp.array([10.0, 5.0]), next_q2=jnp.array([8.0, 7.0]),
                    next_log_prob=jnp.array([-1.0, 3.0]), alpha=0.5, gamma=0.9)
  # 1 + 0.9 * (min(10, 8) - 0.5 * -1) = 1 + 0.9 * 8.5; terminal: reward only
  np.testing.assert_allclose(y, [1.0 + 0.9 * 8.5, 2.0], rtol=1e-6)


def test_alpha_loss_sign():
  grad = jax.grad(sac.alpha_loss)
  # entropy -log_prob = 1 below target 3: descent must raise log_alpha (gradient negative)
  assert grad(0.0, jnp.array([-1.0]), 3.0) < 0
  # entropy 5 above target 3: descent lowers log_alpha
  assert grad(0.0, jnp.array([-5.0]), 3.0) > 0
  np.testing.assert_allclose(sac.alpha_loss(2.0, jnp.array([-1.0, -3.0]), 1.0), -2.0 * -1.0)


def test_soft_update_formula():
  target = {"w": jnp.array([1.0, 2.0])}
  online = {"w": jnp.array([3.0, -2.0])}
  out = sac.soft_update(target, online, 0.005)
  np.testing.assert_allclose(out["w"], [0.995 * 1 + 0.005 * 3, 0.995 * 2 - 0.005 * 2], rtol=1e-6)


def test_tanh_gaussian_log_prob():
  mean, log_std = jnp.array([[0.3, -1.0]]), jnp.array([[-0.5, 0.2]])
  a, logp = networks.sample_tanh_gaussian(mean, log_std, jax.random.PRNGKey(0))
  u = np.arctanh(np.asarray(a, np.float64))
  std = np.exp(np.asarray(log_std, np.float64))
  gauss = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
  expected = np.sum(gauss - np.log(1 - np.tanh(u) ** 2), axis=-1)
  np.testing.assert_allclose(logp, expected, rtol=1e-4, atol=1e-4)


def test_target_entropy_and_init():
  agent = SAC(5, 3, SACConfig(hidden=(16, 16)))
  state = agent.init(0)
  assert agent.target_entropy == -3.0
  np.testing.assert_allclose(jnp.exp(state.log_alpha), 1.0)
  assert state.rng.dtype == jnp.uint32
  chex.assert_trees_all_close(state.critic, state.target_critic)


def _bandit_batches(rng, n, batch, obs_dim=3):
  """One-step episodes: reward -|a - 0.5|^2, always terminal."""
  obs = rng.normal(size=(n, batch, obs_dim)).astype(np.float32)
  act = rng.uniform(-1, 1, size=(n, batch, 2)).astype(np.float32)
  return {"observations": obs, "actions": act,
          "rewards": -np.sum((act - 0.5) ** 2, axis=-1).astype(np.float32),
          "next_observations": obs, "terminals": np.ones((n, batch), np.float32)}


def test_update_learns_one_step_task():
  agent = SAC(3, 2, SACConfig(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3, batch_size=128,
                              init_alpha=0.05))
  state = agent.init(0)
  rng = np.random.default_rng(0)
  obs = jnp.asarray(rng.normal(size=(256, 3)), jnp.float32)

  def score(st):
    a = agent.act_deterministic(st.actor, obs, None)
    return float(jnp.mean(-jnp.sum((a - 0.5) ** 2, axis=-1)))

  before = score(state)
  traced = chex.assert_max_traces(agent._update, n=1)
  update_many = jax.jit(lambda s, b: jax.lax.scan(traced, s, b))
  for _ in range(6):
    state, metrics = update_many(state, _bandit_batches(rng, 100, 128))
  after = score(state)
  assert np.all(np.isfinite(jax.tree.leaves(jax.tree.map(np.asarray, metrics))))
  assert int(state.step) == 600
  assert after > -0.05 and after > before + 0.1, (before, after)
  # the critic approximates the reward of the policy's action
  a = agent.act_deterministic(state.actor, obs, None)
  q1, _ = agent.critic_apply(state.critic, obs, a)
  np.testing.assert_allclose(float(jnp.mean(q1)), after, atol=0.05)
