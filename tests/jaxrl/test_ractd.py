"""RACTD pieces: data preparation, student-from-teacher init, reward term, sharded == unsharded."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType

from experiments import runtime
from experiments.runtime import optim
from jaxdiff import ctm, edm
from jaxrl.ractd import data as rdata
from jaxrl.ractd import losses, maze, networks, policy, train
from tests.jaxrl.ractd_fixtures import ACT, ECFG, OBS, TINY, synthetic_dataset, tiny_nets


@pytest.fixture(scope="module")
def prep():
  return rdata.prepare(synthetic_dataset(), "chunks", horizon=8)


def test_prepare_chunks_normalises_and_pads(prep):
  ds = synthetic_dataset()
  obs_n = np.asarray(prep.data.fields["obs_n"])
  np.testing.assert_allclose(obs_n.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(obs_n.std(0), 1, atol=1e-4)
  rtg = np.asarray(prep.data.fields["rtg"])
  assert rtg.min() == pytest.approx(0) and rtg.max() == pytest.approx(1)
  # hand-computed G at the first row of episode 0 (terminal episode, 40 steps)
  g = sum(0.99 ** k * ds.rewards[k] for k in range(40))
  assert prep.rtg_norm.inverse(rtg[0]) == pytest.approx(g, rel=1e-4)
  # a chunk starting 3 steps before an episode end repeats the last action
  starts = jnp.array([37])
  b = rdata.diffusion_batch(prep, prep.data, jax.random.PRNGKey(0), 4)
  assert b["x0"].shape == (4, 8, ACT) and b["cond"].shape == (4, OBS)
  from jaxrl import data as jdata
  w = jdata.windows_at(prep.data, starts, 8, keys=("actions",))
  np.testing.assert_array_equal(np.asarray(w["actions"][0, 3:]),
                                np.repeat(ds.actions[39][None], 5, 0))


def test_prepare_states_conditions_on_start_and_window_end():
  ds = synthetic_dataset(obs=4, act=2)
  ds.infos["goal"] = np.asarray(ds.observations[:, :2] + 1.0, np.float32)
  p = rdata.prepare(ds, "states", horizon=8)
  assert (p.channels, p.cond_dim, p.goal_dims) == (4, 6, 2)
  obs_n = np.asarray(p.data.fields["obs_n"])
  assert obs_n.min() == pytest.approx(-1) and obs_n.max() == pytest.approx(1)
  b = rdata.diffusion_batch(p, p.data, jax.random.PRNGKey(1), 16)
  np.testing.assert_array_equal(np.asarray(b["cond"][:, :4]), np.asarray(b["x0"][:, 0]))
  np.testing.assert_array_equal(np.asarray(b["cond"][:, 4:]), np.asarray(b["x0"][:, -1, :2]))
  r = rdata.reward_batch(p, p.data, jax.random.PRNGKey(2), 8)
  assert r["inputs"].shape == (8, 6)


def test_student_initialised_from_teacher_is_the_teacher_for_every_stop_time(prep):
  teacher, student, _ = tiny_nets(prep)
  init = networks.student_params_from_teacher(student.init_params, teacher.init_params,
                                              TINY["emb_dim"])
  # give the teacher non-trivial weights (fresh init has zero-ish outputs in places)
  key = jax.random.PRNGKey(3)
  x = jax.random.normal(key, (5, 8, ACT))
  cond = jax.random.normal(jax.random.PRNGKey(4), (5, OBS))
  sigma = jnp.array([0.01, 0.3, 1.0, 5.0, 60.0])
  d_teacher = edm.denoise(teacher.apply(teacher.init_params), x, sigma, cond)
  for s_scale in (1e-3, 0.5, 1.0):
    s = jnp.maximum(sigma * s_scale, ECFG.sigma_min)
    _, g = ctm.ctm_g(student.apply(init), x, sigma, s, cond, return_inner=True)
    np.testing.assert_allclose(np.asarray(g), np.asarray(d_teacher), rtol=1e-5, atol=1e-5)
  # dropout: a key changes the output, no key is deterministic
  y0 = student.apply(init)(x, sigma, cond, sigma)
  y1 = student.apply(init, jax.random.PRNGKey(5))(x, sigma, cond, sigma)
  assert float(jnp.abs(y0 - y1).max()) > 1e-3
  np.testing.assert_array_equal(np.asarray(y0), np.asarray(student.apply(init)(x, sigma, cond,
                                                                                sigma)))


def test_reward_mlp_is_residual_with_the_paper_widths():
  import flax.nnx as nnx
  m = networks.RewardMLP(14, rngs=nnx.Rngs(0))
  params = networks.FunctionalNet(m).init_params
  shapes = sorted(tuple(x.shape) for x in jax.tree.leaves(params))
  assert (14, 64) in shapes and (64, 128) in shapes and (128, 256) in shapes and (256, 1) in shapes
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 14))
  # by hand: h <- proj(h) + fc2(mish(fc1(h))), head(mish(h))
  h = x
  for fc1, fc2, proj in zip(m.fc1, m.fc2, m.proj):
    h = h @ proj.kernel[...] + (jax.nn.mish(h @ fc1.kernel[...] + fc1.bias[...])
                                @ fc2.kernel[...] + fc2.bias[...])
  want = (jax.nn.mish(h) @ m.head.kernel[...] + m.head.bias[...])[:, 0]
  np.testing.assert_allclose(np.asarray(m(x[:, :11], x[:, 11:])), np.asarray(want), rtol=1e-5,
                             atol=1e-6)


def test_student_loss_is_ctm_plus_dsm_plus_weighted_reward_term(prep):
  teacher, student, reward = tiny_nets(prep)
  params = networks.student_params_from_teacher(student.init_params, teacher.init_params,
                                                TINY["emb_dim"])
  b = rdata.diffusion_batch(prep, prep.data, jax.random.PRNGKey(0), 6)
  key = jax.random.PRNGKey(7)
  denoise = edm.make_denoiser(teacher.apply(teacher.init_params))
  r_fn = reward.apply(reward.init_params)
  w = losses.StudentLoss(alpha=0.7, beta=1.3, reward_weight=2.5)
  total, parts = losses.student_loss(student.apply(params), student.apply(params), denoise, r_fn,
                                     b, key, ECFG, w, "chunks")
  k_ctm, k_dsm, k_r = jax.random.split(key, 3)
  want_ctm = ctm.ctm_loss(student.apply(params), student.apply(params), denoise, b["x0"], k_ctm,
                          b["cond"], ECFG)
  want_dsm = ctm.ctm_dsm_loss(student.apply(params), b["x0"], k_dsm, b["cond"], ECFG)
  x_t = ECFG.sigma_max * jax.random.normal(k_r, b["x0"].shape)
  a0 = ctm.ctm_g(student.apply(params), x_t, ECFG.sigma_max, ECFG.sigma_min, b["cond"])[:, 0]
  want_r = -jnp.mean(r_fn(jnp.concatenate([b["obs_n"], a0], -1)))
  np.testing.assert_allclose(float(parts["ctm"]), float(want_ctm), rtol=1e-5)
  np.testing.assert_allclose(float(parts["dsm"]), float(want_dsm), rtol=1e-5)
  np.testing.assert_allclose(float(parts["reward"]), float(want_r), rtol=1e-5)
  np.testing.assert_allclose(float(total), 0.7 * float(want_ctm) + 1.3 * float(want_dsm)
                             + 2.5 * float(want_r), rtol=1e-5)
  # without the reward model the term is absent
  total0, parts0 = losses.student_loss(student.apply(params), student.apply(params), denoise, None,
                                       b, key, ECFG, w, "chunks")
  assert float(parts0["reward"]) == 0.0
  np.testing.assert_allclose(float(total0), float(total) - 2.5 * float(want_r), rtol=1e-5)


def _trainers(prep, mesh):
  teacher, student, reward = tiny_nets(prep)
  tx = optim.make_optimizer(optim.optim_config(lr=1e-3, weight_decay=1e-4, warmup_steps=2,
                                                max_grad_norm=1.0), 10)
  stage = train.Stage(batch_size=16, tx=tx, ema_decay=0.9)
  t_init, t_step = train.make_teacher(prep, teacher, stage, ECFG, 0, mesh)
  r_init, r_step = train.make_reward(prep, reward, stage, 1, mesh)
  s_params = networks.student_params_from_teacher(student.init_params, teacher.init_params,
                                                  TINY["emb_dim"])
  s_init, s_step = train.make_student(prep, student, teacher, reward, s_params, stage, ECFG,
                                      losses.StudentLoss(reward_weight=0.5), 2, mesh)
  s_consts = {"data": prep.data, "teacher": teacher.init_params, "reward": reward.init_params}
  return {"teacher": (t_init, t_step, prep.data), "reward": (r_init, r_step, prep.data),
          "student": (s_init, s_step, s_consts)}


@pytest.mark.parametrize("name", ["teacher", "reward", "student"])
def test_sharded_step_equals_single_device(devices, prep, name):
  """Three steps on a (data=4, fsdp=2) mesh of 8 fake CPUs equal three steps on one device."""
  results = []
  for mesh in (runtime.make_mesh({"data": 1}, devices[:1]),
               jax.make_mesh((4, 2), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                             devices=devices)):
    init_fn, step_fn, consts = _trainers(prep, mesh)[name]
    state_sh = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
    consts = jax.device_put(consts, runtime.replicated_sharding(consts, mesh))
    step = jax.jit(step_fn, in_shardings=(state_sh, None, runtime.replicated_sharding(consts, mesh)),
                   out_shardings=(state_sh, None))
    state = jax.jit(init_fn, out_shardings=state_sh)()
    ms = []
    for _ in range(3):
      state, m = step(state, None, consts)
      ms.append(m)
    results.append((jax.device_get(state), jax.device_get(ms)))
  (s1, m1), (s8, m8) = results
  assert np.isfinite(m1[-1]["loss"])
  chex.assert_trees_all_close(m8, m1, rtol=2e-5, atol=2e-6)
  chex.assert_trees_all_close(s8["params"], s1["params"], rtol=2e-5, atol=2e-6)


def test_policies_shapes_nfe_and_clamp(prep):
  teacher, student, _ = tiny_nets(prep)
  shape = (8, ACT)
  t_sample = policy.make_sampler("teacher", teacher, shape, ECFG, num_bins=4)
  s_sample = policy.make_sampler("student", student, shape, ECFG, steps=1)
  cond = jnp.zeros((3, OBS))
  for sample, params in ((t_sample, teacher.init_params), (s_sample, student.init_params)):
    x = jax.jit(sample)(params, cond, jax.random.PRNGKey(0))
    assert x.shape == (3,) + shape and float(jnp.abs(x).max()) <= 1.0
  assert policy.nfe("teacher", 80) == 159 and policy.nfe("student", 80, 1) == 1
  pol = policy.chunk_policy(s_sample, np.zeros(OBS, np.float32), np.ones(OBS, np.float32))
  assert pol(student.init_params, np.zeros((2, OBS)), jax.random.PRNGKey(1)).shape == (2, ACT)


def test_maze_controller_follows_plan_then_goal():
  plan = np.zeros((1, 3, 4))
  plan[0, 1] = [1.0, 2.0, 0.5, 0.0]
  state = np.array([[0.5, 1.0, 0.0, 0.2]])
  # a = (wp_xy - s_xy) + (wp_vel - s_vel), clipped
  np.testing.assert_allclose(maze.follow(plan, 0, state, np.zeros((1, 2))),
                             [[min(0.5 + 0.5, 1.0), 1.0 - 0.2]])
  np.testing.assert_allclose(maze.follow(plan, 5, state, np.array([[0.6, 1.3]])),
                             [[0.1, 0.3 - 0.2]], atol=1e-12)


def test_maze_reward_term_sums_the_plan_and_planner_runs_an_episode():
  """States kind: -mean_b sum_h R([x_hat_bh, goal_b]); the planner drives PointMaze for a full
  episode and returns D4RL-normalised maze2d scores."""
  ds = synthetic_dataset(obs=4, act=2)
  ds.infos["goal"] = np.asarray(ds.observations[:, :2] * 0.5, np.float32)
  p = rdata.prepare(ds, "states", horizon=8)
  teacher, student, reward = tiny_nets(p)
  b = rdata.diffusion_batch(p, p.data, jax.random.PRNGKey(0), 4)
  r_fn = reward.apply(reward.init_params)
  key = jax.random.PRNGKey(1)
  got = losses.reward_term(student.apply(student.init_params), r_fn, b, key, ECFG, "states", 2)
  x_t = ECFG.sigma_max * jax.random.normal(key, b["x0"].shape)
  x_hat = ctm.ctm_g(student.apply(student.init_params), x_t, ECFG.sigma_max, ECFG.sigma_min,
                    b["cond"])
  want = 0.0
  for i in range(4):
    goal = np.repeat(np.asarray(b["cond"][i, -2:])[None], 8, 0)
    want -= float(jnp.sum(r_fn(jnp.concatenate([x_hat[i], goal], -1)))) / 4
  np.testing.assert_allclose(float(got), want, rtol=1e-5)

  sample = policy.make_sampler("student", student, (8, 4), ECFG)
  res, plan = maze.evaluate_planner("pointmaze-umaze", sample, student.init_params, p.obs_scaler,
                                    num_episodes=2, seed=0, key=jax.random.PRNGKey(2))
  assert plan.shape == (2, 8, 4)
  # plans are unscaled back into the data's state range
  lo, hi = ds.observations.min(0), ds.observations.max(0)
  assert np.all(plan >= lo - 1e-4) and np.all(plan <= hi + 1e-4)
  np.testing.assert_array_equal(res.lengths, [300, 300])
  np.testing.assert_allclose(res.scores, 100 * (res.returns - 23.85) / (161.86 - 23.85))
