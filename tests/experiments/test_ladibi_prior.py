"""The LADiBI prior stage: sharded (data=4, fsdp=2 over 8 fake CPUs) == single-device updates, and
a few steps of the real update lower the EDM loss (tiny network, 16 px scenes)."""
import chex
import jax
import numpy as np
from jax.sharding import AxisType

from experiments import runtime
from experiments.configs import ladibi as configs
from experiments.trainers import ladibi


def tiny_config():
  c = configs.get_config("prior-smoke")
  c.data.size, c.data.batch_size = 16, 8
  c.model.channels, c.model.attn_levels = (8, 16), ()
  c.model.emb_dim = c.model.text_dim = 16
  c.model.num_heads = 2
  c.augment.motion_bank, c.augment.jpeg_bank = 4, 4
  c.augment.degrade_fraction = 0.5
  c.optim.warmup_steps = 0
  return c


def _run(mesh, config, steps):
  init_fn, step_fn, consts, *_ = ladibi.prior_trainer(config, mesh)
  state_sh = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
  consts_sh = runtime.replicated_sharding(consts, mesh)
  consts = jax.device_put(consts, consts_sh)
  step = jax.jit(step_fn, in_shardings=(state_sh, None, consts_sh), out_shardings=(state_sh, None))
  state = jax.jit(init_fn, out_shardings=state_sh)()
  ms = []
  for _ in range(steps):
    state, m = step(state, None, consts)
    ms.append(m)
  return jax.device_get(state), jax.device_get(ms)


def test_sharded_prior_step_equals_single_device(devices):
  config = tiny_config()
  s1, m1 = _run(runtime.make_mesh({"data": 1}, devices[:1]), config, 3)
  s8, m8 = _run(jax.make_mesh((4, 2), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                              devices=devices), config, 3)
  assert np.isfinite(m1[-1]["loss"]) and m1[-1]["grad_norm"] > 0
  chex.assert_trees_all_close(m8, m1, rtol=2e-5, atol=2e-6)
  chex.assert_trees_all_close(s8["params"], s1["params"], rtol=2e-5, atol=2e-5)
  chex.assert_trees_all_close(s8["ema"], s1["ema"], rtol=2e-5, atol=2e-5)
