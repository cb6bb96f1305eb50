"""SRT trainer: the smoke pipeline end to end (tiny), and a resumed arm == an uninterrupted one."""
import json
import os

import chex
import jax
import pytest

from experiments import runtime
from experiments.configs import srt as srt_config
from experiments.errors import UserError
from experiments.trainers import srt


def _config(base_dir, **train):
  c = srt_config.get_config("smoke")
  c.base.dir = str(base_dir)
  c.base.num_steps, c.data.sft_size = 40, 600
  c.data.val_size, c.data.test_size = 8, 8
  c.rl.val_samples = c.rl.test_samples = 2
  c.train.update(train)
  return c


@pytest.mark.slow
def test_smoke_pipeline_and_resume(tmp_path, devices):
  base = tmp_path / "base"
  full = srt.train_and_evaluate(_config(base, num_steps=4), str(tmp_path / "full"))
  assert set(full["arms"]) == {"ground_truth", "srt"}
  for arm, out in full["arms"].items():
    assert out["steps"] == 4 and 0.0 <= out["final"]["accuracy"] <= 1.0
    rows = runtime.read_metrics(str(tmp_path / "full" / arm))
    train = [r for r in rows if f"{arm}/reward" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    for key in ("sc/labelled_fraction", "sc/correct_label_fraction", "gt/accuracy",
                "sc/top_answer_share", "entropy", "kl_ref", "response_length", "time/sample_s"):
      assert f"{arm}/{key}" in train[-1], key
    assert any(f"{arm}_eval/majority_accuracy" in r for r in rows)
  assert os.path.exists(tmp_path / "full" / "curves.png")
  assert json.load(open(tmp_path / "full" / "results.json"))["base"]["test"]["accuracy"] >= 0

  # An arm stopped after 2 steps and rerun to 4 ends where the uninterrupted one did.
  cfg = _config(base, num_steps=2)
  cfg.arms = "srt"
  srt.train_and_evaluate(cfg, str(tmp_path / "resumed"))
  cfg.train.num_steps = 4
  again = srt.train_and_evaluate(cfg, str(tmp_path / "resumed"))
  assert again["arms"]["srt"]["steps"] == 4
  a = _restore(tmp_path / "full" / "srt")
  b = _restore(tmp_path / "resumed" / "srt")
  chex.assert_trees_all_close(a, b, rtol=0, atol=0)


def _restore(arm_dir):
  import orbax.checkpoint as ocp
  mngr = ocp.CheckpointManager(str(arm_dir / "checkpoints"), item_names=("state", "meta"))
  state = mngr.restore(4, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
  mngr.close()
  return jax.device_get(state["params"])


def test_bad_arm_is_one_line():
  c = srt_config.get_config("smoke")
  c.arms = "srt,nope"
  with pytest.raises(UserError, match="arms='srt,nope'; valid: comma-separated ground_truth"):
    srt.parse_arms(c)
