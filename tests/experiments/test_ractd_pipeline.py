"""The RACTD pipeline (experiments/trainers/ractd.py) at toy scale, in process.

A run preempted inside the student stage and rerun gives the same results as an uninterrupted run
(the teacher and reward stages are restored, not retrained), results.json has the promised keys,
and bad settings fail with one line.
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache as cc

from experiments.configs import ractd as ractd_config
from experiments.errors import Preempted, UserError
from experiments.runtime import checkpoint
from experiments.trainers import ractd
from jaxrl import data as jdata
from tests.jaxrl.ractd_fixtures import synthetic_dataset


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
  """The four pipeline runs below compile the same programs: cache them (as the runner does)."""
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  old = {n: getattr(jax.config, n) for n in names}
  cc.reset_cache()
  jax.config.update(names[0], str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update(names[1], 0)
  jax.config.update(names[2], 0)
  yield
  for n, v in old.items():
    jax.config.update(n, v)
  cc.reset_cache()


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("ractd") / "synthetic.hdf5")
  jdata.write_hdf5(path, synthetic_dataset(episodes=10, length=40))
  return path


def tiny_config(path):
  c = ractd_config.get_config("smoke")
  c.data.path = path
  c.mesh = {"data": 2, "fsdp": 1, "tensor": 1}   # data-parallel over 2 of the 8 fake devices
  c.mesh.data = -1
  c.model.down_dims = (16, 32)
  c.model.kernel_size = 3
  c.model.emb_dim = 16
  c.model.cond_embed_dim = 16
  c.model.reward_widths = (8, 8, 8)
  for stage in (c.teacher, c.reward, c.student):
    stage.update(dict(num_steps=20, steps_per_call=5, log_every=10, checkpoint_every=10,
                      batch_size=16))
    stage.optim.warmup_steps = 2
  c.eval.update(dict(episodes=2, max_episode_steps=10, teacher_bins=4, latency_repeats=2))
  return c


def test_preempted_pipeline_resumes_to_the_uninterrupted_result(tmp_path, dataset_path,
                                                                 monkeypatch):
  full = ractd.train_and_evaluate(tiny_config(dataset_path), str(tmp_path / "full"))
  for who in ("teacher", "student"):
    for key in ("normalized_score", "score_stderr", "nfe", "seconds_per_action"):
      assert np.isfinite(full[who][key]), (who, key)
  assert full["teacher"]["nfe"] == 7 and full["student"]["nfe"] == 1
  saved = json.loads((tmp_path / "full" / "results.json").read_text())
  assert saved["student"]["scores"] == full["student"]["scores"]

  # preempt the second run at student step 10 (the runtime's preemption path: save, raise)
  calls = {"n": 0}

  def preempt_in_student(self, step):
    if "student" in str(self.directory) and step == 10:
      calls["n"] += 1
      return True
    return False

  wd = str(tmp_path / "resumed")
  with monkeypatch.context() as m:
    m.setattr(checkpoint.Checkpointer, "reached_preemption", preempt_in_student)
    with pytest.raises(Preempted):
      ractd.train_and_evaluate(tiny_config(dataset_path), wd)
  assert calls["n"] == 1
  assert sorted(os.listdir(os.path.join(wd, "student"))) == ["10"]
  assert not os.path.exists(os.path.join(wd, "results.json"))

  resumed = ractd.train_and_evaluate(tiny_config(dataset_path), wd)
  assert resumed["steps"] == full["steps"]
  for who in ("teacher", "student"):
    np.testing.assert_allclose(resumed[who]["scores"], full[who]["scores"], rtol=1e-6)
    assert resumed[who]["return"] == pytest.approx(full[who]["return"], rel=1e-6)

  # a third run finds every stage and both evaluations done: it reuses them
  again = ractd.train_and_evaluate(tiny_config(dataset_path), wd)
  assert again["student"]["scores"] == resumed["student"]["scores"]
  assert again["seconds"]["eval_teacher"] < resumed["seconds"]["eval_teacher"]


def test_bad_settings_fail_with_one_line(tmp_path, dataset_path):
  c = tiny_config(dataset_path)
  c.task = "ant-medium"
  with pytest.raises(UserError, match="config.task='ant-medium'"):
    ractd.train_and_evaluate(c, str(tmp_path / "a"))
  c = tiny_config(str(tmp_path / "missing.hdf5"))
  with pytest.raises(UserError, match="missing.hdf5"):
    ractd.train_and_evaluate(c, str(tmp_path / "b"))
  c = tiny_config(dataset_path)
  c.student.optim.warmup_steps = 20
  with pytest.raises(UserError, match=r"student.optim.warmup_steps=20 must be in \[0, num_steps"):
    ractd.train_and_evaluate(c, str(tmp_path / "w"))
  c = tiny_config(dataset_path)
  c.student.dsm_stop = "x"
  with pytest.raises(UserError, match="dsm_stop"):
    ractd.train_and_evaluate(c, str(tmp_path / "c"))
  c = tiny_config(dataset_path)
  c.data.path = ""
  c.data.preset = "halfcheetah-medium"
  with pytest.raises(UserError, match="needs hopper"):
    ractd.train_and_evaluate(c, str(tmp_path / "d"))
