"""Environment and agent throughput against references, in one process.

  python -m experiments.bench.envs [--env hopper] [--native-batch 64] [--native-steps 200]
      [--mjx-batch 16] [--mjx-steps 20] [--sac-updates 50] [--repeats 3] [--only sac ...]

Rows (each a median of `repeats` timed runs after a warm-up / compile run):
  native     jaxrl.envs native backend: `env.step` on `native-batch` environments (random actions,
             autoreset, observations, rewards) for `native-steps` env steps
  rollout    MuJoCo's own `mujoco.rollout` (C++ thread pool, one MjData per thread) on the same
             model and batch, the same number of physics steps (frame_skip per env step), the
             controls given up front; physics only, no observation/reward/reset
  mjx        jaxrl.envs MJX backend: jit(lax.scan(vmap(step_fn))) over `mjx-steps` steps of
             `mjx-batch` environments, with Gymnasium's physics (hopper: RK4) and the backend's
             solver cap (mjx_env.DEFAULT_OPT); again with the MJCF's solver defaults (100 / 50
             iterations), and again on brax's own MJCF of the env (brax's hopper.xml: Euler, 4 solver
             iterations, only the foot collides with the floor) with its options as written: the
             same physics brax steps, so the like-for-like row against brax
  brax-mjx   brax.envs.get_environment(env, backend="mjx") stepped the same way (skipped, and
             said so, if brax cannot build the environment)
  sac-jax    jaxrl SAC: `sac-updates` gradient updates as one jitted lax.scan (2x256 MLPs, twin Q,
             batch 256)
  sac-torch  the same networks, losses and optimisers in PyTorch on the CPU, one update per call
Ratios (last line, JSON): ours / reference rates (higher is better for us).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import rollout

from experiments.bench.common import median_time, print_ratios, print_table
from jaxrl import envs
from jaxrl.agents import sac
from jaxrl.envs.mjx_env import MjxEnv


def native_rate(name, batch, steps, repeats):
  env = envs.make(name, backend="native", num_envs=batch, seed=0)
  env.reset()
  rng = np.random.default_rng(0)
  acts = rng.uniform(env.action_low, env.action_high, size=(steps, batch, env.action_size))

  def go():
    for a in acts:
      env.step(a)

  t = median_time(go, repeats=repeats)
  env.close()
  return batch * steps / t


def rollout_rate(name, batch, steps, repeats):
  task = envs.make_task(name)
  model = task.build_model()
  nthread = min(batch, os.cpu_count() or 1)
  datas = [mujoco.MjData(model) for _ in range(nthread)]
  d0 = mujoco.MjData(model)
  spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
  state0 = np.zeros(mujoco.mj_stateSize(model, spec))
  mujoco.mj_getState(model, d0, state0, spec)
  rng = np.random.default_rng(0)
  ctrl = rng.uniform(task.action_low, task.action_high, size=(batch, steps, model.nu))
  ctrl = np.repeat(ctrl, task.frame_skip, axis=1)
  init = np.tile(state0, (batch, 1))
  t = median_time(lambda: rollout.rollout(model, datas, init, ctrl, persistent_pool=True),
                  repeats=repeats)
  return batch * steps / t


def _scan_rate(reset, step, act_size, batch, steps, repeats):
  @jax.jit
  def run(state, key):
    def body(s, k):
      return step(s, jax.random.uniform(k, (batch, act_size), minval=-1.0, maxval=1.0)), None
    state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
    return state

  state = reset(jax.random.split(jax.random.PRNGKey(0), batch))
  jax.block_until_ready(run(state, jax.random.PRNGKey(1)))  # compile
  t = median_time(lambda: jax.block_until_ready(run(state, jax.random.PRNGKey(1))),
                  repeats=repeats, warmup=0)
  return batch * steps / t


def mjx_rate(name, batch, steps, repeats, opt=None):
  env = envs.make(name, backend="mjx", num_envs=batch, mjx_opt=opt)
  return _scan_rate(jax.vmap(env.reset_fn), jax.vmap(env.step_fn), env.action_size, batch,
                    steps, repeats)


def mjx_rate_on_brax_model(name, batch, steps, repeats):
  """Our MJX env (same task code: observation, reward, termination, autoreset) on brax's MJCF."""
  import brax  # pylint: disable=g-import-not-at-top
  xml = os.path.join(os.path.dirname(brax.__file__), "envs", "assets", f"{name}.xml")
  if not os.path.exists(xml):
    raise FileNotFoundError(f"brax ships no {xml}")
  env = MjxEnv(dataclasses.replace(envs.make_task(name), xml_file=xml), opt={})
  return _scan_rate(jax.vmap(env.reset_fn), jax.vmap(env.step_fn), env.mj_model.nu, batch,
                    steps, repeats)


def _optional_row(what, rate_fn, a):
  """rate_fn(env, mjx_batch, mjx_steps, repeats), or None (said so) if brax cannot provide it."""
  try:
    return rate_fn(a.env, a.mjx_batch, a.mjx_steps, a.repeats)
  except Exception as e:  # noqa: BLE001  (report and skip the row)
    msg = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
    print(f"{what}: could not build or step the environment, row skipped ({msg})")
    return None


def brax_rate(name, batch, steps, repeats):
  import brax.envs  # pylint: disable=g-import-not-at-top
  env = brax.envs.get_environment(name, backend="mjx")
  return _scan_rate(jax.vmap(env.reset), jax.vmap(env.step), env.action_size, batch, steps,
                    repeats)


def _sac_batch(rng, shape, obs_dim, act_dim):
  return {"observations": rng.normal(size=shape + (obs_dim,)).astype(np.float32),
          "actions": rng.uniform(-1, 1, size=shape + (act_dim,)).astype(np.float32),
          "rewards": rng.normal(size=shape).astype(np.float32),
          "next_observations": rng.normal(size=shape + (obs_dim,)).astype(np.float32),
          "terminals": (rng.random(shape) < 0.05).astype(np.float32)}


def sac_jax_rate(obs_dim, act_dim, updates, repeats):
  config = sac.SACConfig()
  nets = sac.make_networks(obs_dim, act_dim, config.hidden)
  update_many = jax.jit(sac.make_update_many(nets, config), donate_argnums=0)
  batches = jax.tree.map(jnp.asarray, _sac_batch(np.random.default_rng(0), (updates, 256),
                                                 obs_dim, act_dim))
  holder = [sac.init_state(nets, config, 0)]

  def go():
    holder[0], m = update_many(holder[0], batches)
    jax.block_until_ready(m)

  return updates / median_time(go, repeats=repeats)


def sac_torch_rate(obs_dim, act_dim, updates, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)

  def mlp(i, o):
    return nn.Sequential(nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, o))

  actor, q1, q2 = mlp(obs_dim, 2 * act_dim), mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
  t1, t2 = mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
  t1.load_state_dict(q1.state_dict())
  t2.load_state_dict(q2.state_dict())
  log_alpha = torch.zeros((), requires_grad=True)
  opt_a = torch.optim.Adam(actor.parameters(), 3e-4)
  opt_q = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), 3e-4)
  opt_t = torch.optim.Adam([log_alpha], 3e-4)
  np_batch = _sac_batch(np.random.default_rng(0), (256,), obs_dim, act_dim)
  b = {k: torch.from_numpy(v) for k, v in np_batch.items()}

  def sample(obs):
    mean, log_std = actor(obs).chunk(2, -1)
    log_std = log_std.clamp(-5, 2)
    u = mean + log_std.exp() * torch.randn_like(mean)
    logp = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    logp = logp - (2 * (np.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
    return torch.tanh(u), logp

  def update():
    alpha = log_alpha.exp().detach()
    with torch.no_grad():
      a2, lp2 = sample(b["next_observations"])
      x2 = torch.cat([b["next_observations"], a2], -1)
      v = torch.min(t1(x2), t2(x2))[:, 0] - alpha * lp2
      y = b["rewards"] + 0.99 * (1 - b["terminals"]) * v
    x = torch.cat([b["observations"], b["actions"]], -1)
    lq = ((q1(x)[:, 0] - y) ** 2 + (q2(x)[:, 0] - y) ** 2).mean()
    opt_q.zero_grad()
    lq.backward()
    opt_q.step()
    a, lp = sample(b["observations"])
    xa = torch.cat([b["observations"], a], -1)
    la = (alpha * lp - torch.min(q1(xa), q2(xa))[:, 0]).mean()
    opt_a.zero_grad()
    la.backward()
    opt_a.step()
    lt = -(log_alpha * (lp.detach() - act_dim)).mean()
    opt_t.zero_grad()
    lt.backward()
    opt_t.step()
    with torch.no_grad():
      for tgt, src in ((t1, q1), (t2, q2)):
        for pt, ps in zip(tgt.parameters(), src.parameters()):
          pt.mul_(0.995).add_(ps, alpha=0.005)

  def go():
    for _ in range(updates):
      update()

  return updates / median_time(go, repeats=repeats)


def _native_rows(a, rows, ratios):
  nat = native_rate(a.env, a.native_batch, a.native_steps, a.repeats)
  ref = rollout_rate(a.env, a.native_batch, a.native_steps, a.repeats)
  rows += [["native", f"{a.env} x{a.native_batch}", "env steps/s", nat],
           ["mujoco.rollout", f"{a.env} x{a.native_batch}", "env steps/s", ref]]
  ratios["native_vs_mujoco_rollout"] = nat / ref


def _mjx_rows(a, rows, ratios):
  mjx = mjx_rate(a.env, a.mjx_batch, a.mjx_steps, a.repeats)
  mjx_mjcf = mjx_rate(a.env, a.mjx_batch, a.mjx_steps, a.repeats, opt={})
  setting = f"{a.env} x{a.mjx_batch}"
  rows += [["mjx (Gymnasium physics)", setting, "env steps/s", mjx],
           ["mjx, MJCF solver defaults", setting, "env steps/s", mjx_mjcf]]
  ratios["mjx_solver_cap_speedup"] = mjx / mjx_mjcf
  ratios["mjx_vs_brax_mjx"] = ratios["mjx_same_model_vs_brax_mjx"] = None
  same = _optional_row(f"our mjx on brax's {a.env} MJCF", mjx_rate_on_brax_model, a)
  if same is not None:
    rows.append(["mjx on brax's MJCF (same physics)", setting, "env steps/s", same])
  bx = _optional_row(f"brax mjx {a.env}", brax_rate, a)
  if bx is not None:
    rows.append(["brax mjx", setting, "env steps/s", bx])
    ratios["mjx_vs_brax_mjx"] = mjx / bx
    ratios["mjx_same_model_vs_brax_mjx"] = None if same is None else same / bx


def _sac_rows(a, rows, ratios):
  task = envs.make_task(a.env)
  sj = sac_jax_rate(task.observation_size, task.action_size, a.sac_updates, a.repeats)
  st = sac_torch_rate(task.observation_size, task.action_size, a.sac_updates, a.repeats)
  rows += [["sac (jax)", "2x256, batch 256", "updates/s", sj],
           ["sac (torch cpu)", "2x256, batch 256", "updates/s", st]]
  ratios["sac_jax_vs_torch"] = sj / st


GROUPS = {"native": _native_rows, "mjx": _mjx_rows, "sac": _sac_rows}


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--native-batch", type=int, default=64)
  p.add_argument("--native-steps", type=int, default=200)
  p.add_argument("--mjx-batch", type=int, default=16)
  p.add_argument("--mjx-steps", type=int, default=20)
  p.add_argument("--sac-updates", type=int, default=50)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--only", choices=tuple(GROUPS), action="append",
                 help="run only these row groups (repeatable; default: all)")
  a = p.parse_args()
  rows, ratios = [], {}
  t0 = time.perf_counter()
  for name in a.only or GROUPS:
    GROUPS[name](a, rows, ratios)
  print_table(f"environment and SAC throughput ({time.perf_counter() - t0:.0f}s)",
              ["what", "setting", "unit", "rate"], rows)
  print_ratios(ratios)


if __name__ == "__main__":
  main()
