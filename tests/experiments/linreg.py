"""A tiny linear-regression trainer used to test the runtime in-process (not a method)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

DIM = 16
TRUE_W = np.linspace(-1.0, 1.0, DIM).astype(np.float32)


def init_fn():
  params = {"w": jnp.zeros((DIM, 8)), "b": jnp.zeros((8,))}
  return {"params": params, "opt": optax.adam(1e-2).init(params),
          "rng": jax.random.PRNGKey(0)}


def step_fn(state, batch, consts):
  del consts
  x, y = batch["x"], batch["y"]

  def loss_fn(p):
    pred = x @ p["w"] + p["b"]
    return jnp.mean((pred - y[:, None]) ** 2)

  loss, grads = jax.value_and_grad(loss_fn)(state["params"])
  updates, opt = optax.adam(1e-2).update(grads, state["opt"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  rng, _ = jax.random.split(state["rng"])
  return ({"params": params, "opt": opt, "rng": rng},
          {"loss": loss, "grad_norm": optax.global_norm(grads)})


def make_get_batch(batch_size=32, nan_at=None):
  def get_batch(step):
    rs = np.random.default_rng([1234, step])
    x = rs.normal(size=(batch_size, DIM)).astype(np.float32)
    y = (x @ TRUE_W).astype(np.float32)
    if nan_at is not None and step == nan_at:
      y[0] = np.nan
    return {"x": x, "y": y}
  return get_batch
