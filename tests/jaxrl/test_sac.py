"""SAC: the losses against hand values, the train state, learning a one-step task, the buffer's
segments, and the checkpoint-free run equal to itself resumed from host state."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import networks
from jaxrl.agents.sac import ReplayBuffer, losses, snapshots
from jaxrl.agents.sac import train as sac_train
from jaxrl.agents.sac.networks import make_networks
from jaxrl.agents.sac.train import SACConfig, SACTrainConfig


# ------------------------------------------------------------------ losses by hand
def test_td_target_by_hand():
  y = losses.td_target(reward=jnp.array([1.0, 2.0]), terminal=jnp.array([0.0, 1.0]),
                       next_q1=jnp.array([10.0, 5.0]), next_q2=jnp.array([8.0, 7.0]),
                       next_log_prob=jnp.array([-1.0, 3.0]), alpha=0.5, gamma=0.9)
  # 1 + 0.9 * (min(10, 8) - 0.5 * -1) = 1 + 0.9 * 8.5; terminal: reward only
  np.testing.assert_allclose(y, [1.0 + 0.9 * 8.5, 2.0], rtol=1e-6)


def test_critic_loss_by_hand():
  loss = losses.critic_loss(jnp.array([1.0, 3.0]), jnp.array([2.0, 0.0]), jnp.array([0.5, 1.0]))
  # ((0.5^2 + 1.5^2) + (2^2 + 1^2)) / 2
  np.testing.assert_allclose(loss, (0.25 + 2.25 + 4.0 + 1.0) / 2, rtol=1e-6)


def test_actor_loss_by_hand():
  loss = losses.actor_loss(log_prob=jnp.array([-1.0, 2.0]), q1=jnp.array([3.0, 0.0]),
                           q2=jnp.array([4.0, -1.0]), alpha=0.5)
  # mean(0.5 * -1 - 3, 0.5 * 2 - (-1)) = mean(-3.5, 2)
  np.testing.assert_allclose(loss, (-3.5 + 2.0) / 2, rtol=1e-6)


def test_alpha_loss_sign_and_value():
  grad = jax.grad(losses.alpha_loss)
  # entropy -log_prob = 1 below target 3: descent must raise log_alpha (gradient negative)
  assert grad(0.0, jnp.array([-1.0]), 3.0) < 0
  # entropy 5 above target 3: descent lowers log_alpha
  assert grad(0.0, jnp.array([-5.0]), 3.0) > 0
  # -mean(2 * (-1 + 1), 2 * (-3 + 1)) = -mean(0, -4) = 2
  np.testing.assert_allclose(losses.alpha_loss(2.0, jnp.array([-1.0, -3.0]), 1.0), 2.0)
  # no gradient flows into the log-probabilities
  np.testing.assert_array_equal(jax.grad(losses.alpha_loss, 1)(2.0, jnp.array([-1.0]), 1.0), 0)


def test_soft_update_formula():
  target = {"w": jnp.array([1.0, 2.0])}
  online = {"w": jnp.array([3.0, -2.0])}
  out = losses.soft_update(target, online, 0.005)
  np.testing.assert_allclose(out["w"], [0.995 * 1 + 0.005 * 3, 0.995 * 2 - 0.005 * 2], rtol=1e-6)


def test_tanh_gaussian_log_prob():
  mean, log_std = jnp.array([[0.3, -1.0]]), jnp.array([[-0.5, 0.2]])
  a, logp = networks.sample_tanh_gaussian(mean, log_std, jax.random.PRNGKey(0))
  u = np.arctanh(np.asarray(a, np.float64))
  std = np.exp(np.asarray(log_std, np.float64))
  gauss = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
  expected = np.sum(gauss - np.log(1 - np.tanh(u) ** 2), axis=-1)
  np.testing.assert_allclose(logp, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ train state and update
def test_train_state_layout():
  config = SACConfig(hidden=(16, 16))
  nets = make_networks(5, 3, config.hidden)
  state = sac_train.init_state(nets, config, 0)
  assert set(state) == {"params", "target_params", "opt_state", "rng", "explore_rng", "step"}
  assert set(state["params"]) == set(state["opt_state"]) == {"actor", "critic", "log_alpha"}
  assert sac_train.target_entropy(config, nets.act_dim) == -3.0
  np.testing.assert_allclose(jnp.exp(state["params"]["log_alpha"]), 1.0)
  assert state["rng"].dtype == state["explore_rng"].dtype == jnp.uint32
  chex.assert_trees_all_close(state["params"]["critic"], state["target_params"]["critic"])


def _bandit_batches(rng, n, batch, obs_dim=3):
  """One-step episodes: reward -|a - 0.5|^2, always terminal."""
  obs = rng.normal(size=(n, batch, obs_dim)).astype(np.float32)
  act = rng.uniform(-1, 1, size=(n, batch, 2)).astype(np.float32)
  return {"observations": obs, "actions": act,
          "rewards": -np.sum((act - 0.5) ** 2, axis=-1).astype(np.float32),
          "next_observations": obs, "terminals": np.ones((n, batch), np.float32)}


def test_update_learns_one_step_task():
  config = SACConfig(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3, batch_size=128,
                     init_alpha=0.05)
  nets = make_networks(3, 2, config.hidden)
  state = sac_train.init_state(nets, config, 0)
  rng = np.random.default_rng(0)
  obs = jnp.asarray(rng.normal(size=(256, 3)), jnp.float32)

  def score(st):
    a = nets.act_deterministic(st["params"]["actor"], obs, None)
    return float(jnp.mean(-jnp.sum((a - 0.5) ** 2, axis=-1)))

  before = score(state)
  traced = chex.assert_max_traces(sac_train.make_update(nets, config), n=1)
  update_many = jax.jit(lambda s, b: jax.lax.scan(traced, s, b))
  for _ in range(6):
    state, metrics = update_many(state, _bandit_batches(rng, 100, 128))
  after = score(state)
  assert np.all(np.isfinite(jax.tree.leaves(jax.tree.map(np.asarray, metrics))))
  assert int(state["step"]) == 600
  assert after > -0.05 and after > before + 0.1, (before, after)
  # the critic approximates the reward of the policy's action
  a = nets.act_deterministic(state["params"]["actor"], obs, None)
  q1, _ = nets.critic_apply(state["params"]["critic"], obs, a)
  np.testing.assert_allclose(float(jnp.mean(q1)), after, atol=0.05)


# ------------------------------------------------------------------ buffer and host state
def _rows(rng, n, start):
  return {"observations": rng.normal(size=(n, 2)), "actions": rng.normal(size=(n, 1)),
          "rewards": np.arange(start, start + n, dtype=np.float32),
          "next_observations": rng.normal(size=(n, 2)), "terminals": rng.random(n) < 0.3,
          "timeouts": np.zeros(n, bool), "env_ids": np.arange(n) % 2}


def test_buffer_segments_hold_only_new_rows(tmp_path):
  rng = np.random.default_rng(0)
  buf = ReplayBuffer(20, 2, 1)
  buf.add(**_rows(rng, 5, 0))
  d1 = buf.state_dict(str(tmp_path))
  d1_again = buf.state_dict(str(tmp_path))           # nothing new: no new segment
  buf.add(**_rows(rng, 4, 5))
  d2 = buf.state_dict(str(tmp_path))
  assert d1 == d1_again == {"segments": [["rows_0_5.npz", 5]], "size": 5}
  assert d2 == {"segments": [["rows_0_5.npz", 5], ["rows_5_9.npz", 4]], "size": 9}
  assert sorted(p.name for p in tmp_path.iterdir()) == ["rows_0_5.npz", "rows_5_9.npz"]
  with np.load(tmp_path / "rows_5_9.npz") as z:
    np.testing.assert_array_equal(z["rewards"], [5, 6, 7, 8])
  back = ReplayBuffer(20, 2, 1)
  back.load_state_dict(d1, str(tmp_path))            # an older checkpoint: its rows only
  assert back.size == 5
  back.load_state_dict(d2, str(tmp_path))
  for k, v in buf.data().items():
    np.testing.assert_array_equal(back.data()[k], v)
  a, b = np.random.default_rng(3), np.random.default_rng(3)
  chex.assert_trees_all_equal(buf.sample(a, (2, 3)), back.sample(b, (2, 3)))


TINY = dict(train=SACTrainConfig(num_env_steps=120, start_steps=40, num_envs=2, train_every=20,
                                 snapshot_every=60, eval_episodes=1, seed=1),
            config=SACConfig(hidden=(16, 16), batch_size=16))


def test_online_advance_resumed_from_host_state_is_exact(tmp_path):
  """Save train and host state after 60 env steps; a fresh OnlineSAC loaded from them continues
  exactly as the original does."""
  first = sac_train.OnlineSAC("hopper", **TINY)
  state = first.init_state()
  for step in range(0, 60, 20):
    state, _ = first.advance(state, step)
  saved = {n: obj.state_dict(str(tmp_path)) for n, obj in first.host.items()}
  part = jax.device_get(state)
  for step in range(60, 120, 20):
    state, metrics = first.advance(state, step)
  assert {"critic_loss", "alpha", "entropy", "train_return", "env_steps_per_s"} <= set(metrics)

  second = sac_train.OnlineSAC("hopper", **TINY)
  for n, obj in second.host.items():
    obj.load_state_dict(saved[n], str(tmp_path))
  for step in range(60, 120, 20):
    part, _ = second.advance(part, step)
  chex.assert_trees_all_equal(jax.device_get(state), jax.device_get(part))
  for k, v in first.buffer.data().items():
    np.testing.assert_array_equal(second.buffer.data()[k], v)
  first.close()
  second.close()


def test_run_writes_snapshots_and_buffer(tmp_path):
  state = sac_train.run("hopper", TINY["train"], TINY["config"], str(tmp_path), log=print)
  recs = snapshots.records(str(tmp_path))
  assert [r["env_steps"] for r in recs] == [60, 120] and snapshots.is_complete(str(tmp_path))
  assert len(snapshots.replay(str(tmp_path))["rewards"]) == 240
  nets = make_networks(11, 3, (16, 16))
  actor = snapshots.load_actor(str(tmp_path), 120, nets.abstract_actor())
  chex.assert_trees_all_equal(actor.to_pure_dict(),
                              jax.device_get(state["params"]["actor"]).to_pure_dict())
  assert int(state["step"]) == (120 - 40) * 2 + 20 * 2   # updates from env step 40 on
