"""edm2d (the template trainer) end to end, in process: a shortened smoke run learns the ring.

The run's own evaluation is the check: sliced W2 of 4096 EMA-model Heun samples against 4096 exact
ring8 samples (256 fixed projections), next to the references the trainer reports.
"""
from __future__ import annotations

import json
import os

import orbax.checkpoint as ocp

from experiments.configs import edm2d as edm2d_config
from experiments.trainers import edm2d

STEPS = 1000
# Bound on the model's sliced W2, from measured runs of this variant (seeds 0, 1, 2): model 0.025,
# 0.045, 0.038 -- the same as the exact denoiser through the same sampler (0.025, 0.040, 0.046)
# and the finite-sample floor, two exact sample sets (0.039, 0.021, 0.038): at n = 4096 the
# metric is noise-dominated once the model is right. The untrained model is at 0.75-2.7. Exact
# samples of slightly wrong rings are at: radius 0.9 instead of 1, 0.078; one of the 8 modes
# missing, 0.14; std 0.15 instead of 0.1, 0.046. So 0.07 leaves 1.5x margin over the worst
# measured seed and still fails a model that drops a mode or misplaces the ring by 10%.
BOUND = 0.07


def test_shortened_smoke_run_matches_the_mixture(tmp_path):
  c = edm2d_config.get_config("smoke")
  # smoke is 4000 steps of a 256-wide MLP at batch 512 (over 2 min on the tests' 8 fake
  # devices); this variant (35 s on 2 cores) reaches the same sliced W2 (smoke, seed 0: 0.027).
  c.train.num_steps = STEPS
  c.model.hidden = 128
  c.data.batch_size = 256
  r = edm2d.train_and_evaluate(c, str(tmp_path))

  assert r["steps"] == STEPS
  assert r["sliced_w2"] < BOUND, r["rows"]
  # the references behave as the bound's justification says: the untrained model is far off,
  # the sampler with the exact denoiser and a second exact set are at noise level
  assert r["sliced_w2_untrained"] > 10 * BOUND, r["rows"]
  assert r["sliced_w2_exact_denoiser"] < BOUND and r["sliced_w2_floor"] < BOUND, r["rows"]
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["sliced_w2"] == r["sliced_w2"] and os.path.exists(tmp_path / "samples.png")

  # the checkpoint is the codebase's train-state layout (experiments/runtime/optim.py)
  tree = ocp.StandardCheckpointer().restore(str(tmp_path / "checkpoints" / str(STEPS) / "state"))
  assert {"params", "opt_state", "step", "rng", "ema"} <= set(tree)
  assert int(tree["step"]) == STEPS and tree["rng"].dtype.name == "uint32"
