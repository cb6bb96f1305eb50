"""jaxllm.sharding: regex and logical rules -> PartitionSpecs (precedence, fallbacks, checks),
FSDP by size, batch and train-state shardings; the rules reach a loaded HF checkpoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import AxisType, PartitionSpec as P

from jaxllm import sharding
from jaxllm.hf_io import load_hf_model
from jaxllm.models import ModelConfig, Transformer, logical_to_mesh_rules, model_shardings

CFG = ModelConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_layers=2, num_heads=4,
                  num_kv_heads=2, head_dim=8)


@pytest.fixture(scope="module")
def mesh(devices):
  return jax.make_mesh((1, 2, 4), ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3,
                       devices=devices)


def _abstract_state():
  return nnx.state(nnx.eval_shape(lambda: Transformer(CFG, rngs=nnx.Rngs(0))))


def test_regex_rules_give_per_dim_specs_and_win_over_logical_names(mesh):
  rules = ((r"layers/1/mlp/up_proj", ("tensor", "fsdp")),      # one layer's [embed, mlp] swapped
           (r"layers/\d+/attn/o_proj", None),                    # replicated
           (r"lm_head", ("fsdp",)),                               # trailing dims replicate
           ("embed", "fsdp"), ("mlp", "tensor"), ("heads", "tensor"), ("kv_heads", "tensor"))
  sh = model_shardings(_abstract_state(), mesh, rules)
  spec = lambda leaf: leaf.value.spec
  assert spec(sh["layers"][1]["mlp"]["up_proj"]) == P("tensor", "fsdp")
  assert spec(sh["layers"][0]["mlp"]["up_proj"]) == P("fsdp", "tensor")   # logical names
  assert spec(sh["layers"][0]["attn"]["o_proj"]) == P(None, None, None)
  assert spec(sh["lm_head"]) == P("fsdp", None)
  # 'lm_head' reads as a logical name: only the regex form matched it, the embed dim via 'embed'.
  assert sharding.is_logical("lm_head") and not sharding.is_logical(r"lm_head$")
  # kv_heads=2 does not divide over tensor=4: replicated; 'head_dim' has no rule.
  assert spec(sh["layers"][0]["attn"]["k_proj"]) == P("fsdp", None, None)
  assert spec(sh["layers"][0]["attn"]["q_proj"]) == P("fsdp", "tensor", None)
  assert spec(sh["final_norm"]["scale"]) == P(None)


def test_regex_rules_on_plain_pytrees_and_fallbacks(mesh):
  tree = {"enc": {"w": jnp.zeros((8, 12)), "b": jnp.zeros((12,))}, "head": jnp.zeros((6, 4))}
  rules = ((r"enc/w", ("fsdp", "tensor")), (r"enc/.*", ("tensor",)),
           (r"head$", (("fsdp", "tensor"), None)))
  sh = sharding.rule_shardings(tree, mesh, rules)
  assert sh["enc"]["w"].spec == P("fsdp", "tensor")
  assert sh["enc"]["b"].spec == P("tensor")                 # first match wins
  assert sh["head"].spec == P(None, None)                   # 6 does not divide over 2 x 4
  assert sharding.rule_shardings(tree, mesh, ())["head"].spec == P()   # no rule: replicated
  # A bare name is a logical axis, never a path: plain arrays have none, so it places nothing.
  assert sharding.rule_shardings(tree, mesh, (("head", "fsdp"),))["head"].spec == P()
  # One mesh axis is never used twice in one spec; absent and size-1 axes drop out.
  spec = lambda axes: sharding.leaf_spec("x", (8, 8), None, mesh, ((r"x$", axes),))
  assert spec(("fsdp", "fsdp")) == P("fsdp", None)
  assert spec(("data", "pod")) == P(None, None)


def test_logical_rules_match_the_model_defaults(mesh):
  """The sft config's default rules (no 'batch', no None entries) place like the library's."""
  config_rules = (("vocab", "tensor"), ("embed", "fsdp"), ("mlp", "tensor"), ("heads", "tensor"),
                  ("kv_heads", "tensor"))
  state = _abstract_state()
  a = jax.tree.leaves(model_shardings(state, mesh, config_rules))
  b = jax.tree.leaves(model_shardings(state, mesh, logical_to_mesh_rules(fsdp=True, tensor=True)))
  assert [s.spec for s in a] == [s.spec for s in b]


@pytest.mark.parametrize("rules, message", [
    ((("embed",),), "each rule is a (pattern, mesh axes) pair"),
    (((r"layers/(", "fsdp"),), "not a valid regex"),
    ((("embed", "fsdpp"),), "unknown mesh axes ['fsdpp']"),
    (((r"layers/.*", ("fsdp", ("tensor", "model"))),), "unknown mesh axes ['model']"),
])
def test_check_rules_is_one_line(mesh, rules, message):
  with pytest.raises(ValueError) as err:
    sharding.check_rules(rules, mesh)
  assert message in str(err.value) and "\n" not in str(err.value)


def test_fsdp_batch_and_replicated(mesh):
  tree = {"big": jnp.zeros((6, 16)), "small": jnp.zeros((4,)), "odd": jnp.zeros((3, 5))}
  sh = sharding.fsdp_sharding(tree, mesh, min_size=8)
  assert sh["big"].spec == P(None, "fsdp") and sh["small"].spec == P() and sh["odd"].spec == P()
  both = sharding.fsdp_sharding(tree, mesh, axis=("fsdp", "tensor"), min_size=8)
  assert both["big"].spec == P(None, ("fsdp", "tensor"))
  assert sharding.batch_sharding(mesh).spec == P(("data", "fsdp"))
  assert sharding.batch_sharding(mesh, leading=1).spec == P(None, ("data", "fsdp"))
  assert all(s.spec == P() for s in jax.tree.leaves(sharding.replicated_sharding(tree, mesh)))


def test_train_state_shardings_moments_and_ema_follow_params(mesh):
  params = {"w": jnp.zeros((8, 16)), "b": jnp.zeros((16,))}
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3))
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
           "rng": jax.random.PRNGKey(0), "ema": params}
  param_sh = sharding.fsdp_sharding(params, mesh, min_size=0)
  sh = sharding.train_state_shardings(jax.eval_shape(lambda: state), param_sh, mesh)
  adam = sh["opt_state"][1][0]
  assert adam.mu == param_sh and adam.nu == param_sh and sh["ema"] == param_sh
  assert adam.count.spec == P() and sh["step"].spec == P() and sh["rng"].spec == P()
  placed = jax.jit(lambda: state, out_shardings=sh)()
  assert placed["opt_state"][1][0].mu["w"].sharding.spec == P(None, "fsdp")
  with pytest.raises(ValueError, match="structure of state"):
    sharding.train_state_shardings(state, {"w": param_sh["w"]}, mesh)


def test_regex_rules_reach_a_loaded_checkpoint(hf_checkpoints, mesh):
  directory, _ = hf_checkpoints["llama_gqa"]
  rules = ((r"layers/0/mlp/down_proj", (None, "tensor")),) + logical_to_mesh_rules()
  model = load_hf_model(directory, mesh=mesh, rules=rules)
  down0 = model.layers[0].mlp.down_proj.value
  down1 = model.layers[1].mlp.down_proj.value
  assert down1.sharding.spec == P("tensor", "fsdp")          # logical ('mlp', 'embed')
  assert down0.sharding.spec == P(None, "tensor")              # the regex
  ref = load_hf_model(directory)
  np.testing.assert_array_equal(np.asarray(down0), np.asarray(ref.layers[0].mlp.down_proj.value))
