"""RACTD reward-term ablation: one teacher and reward model, students with and without the reward term.

  python scripts/ractd_ablation.py --preset smoke --base runs/ractd-smoke --seeds 0 1 2 \
      [-- extra --config.* flags for every run]

Runs the preset once in BASE (dataset, teacher, reward model, student, evaluation), then for each
seed and for reward weight w in {preset's weight, 0} a student in BASE-rw<w>-seed<s>: the teacher
and reward checkpoints and the teacher's evaluation are copied from BASE, so only the student
trains (the pipeline resumes past the finished stages). `--config.seed=s` changes the student's
initial stop-time embedding, dropout, noise and batch draws. Prints, and writes to
BASE-ablation.json, the mean and standard error over seeds of the student's normalised score with
and without the reward term next to the teacher's.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(preset: str, workdir: str, flags: list[str]) -> dict:
  cmd = [sys.executable, "-m", "experiments.main",
         f"--config=experiments/configs/ractd.py:{preset}", f"--workdir={workdir}", *flags]
  print("+", " ".join(cmd), flush=True)
  subprocess.run(cmd, cwd=ROOT, check=True)
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def stderr(x) -> float:
  x = np.asarray(x, np.float64)
  return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--preset", default="smoke")
  p.add_argument("--base", required=True)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("extra", nargs="*", help="extra --config.* flags (after --)")
  a = p.parse_args()
  base = run(a.preset, a.base, a.extra)
  weight = base["student_config"]["reward_weight"] if "student_config" in base else None
  rows = {}
  for w_name, w_flags in (("with reward term", []),
                          ("without reward term", ["--config.student.reward_weight=0"])):
    scores = []
    for s in a.seeds:
      wd = f"{a.base}-rw{'0' if w_flags else 'p'}-seed{s}"
      os.makedirs(wd, exist_ok=True)
      for name in ("teacher", "reward"):
        if not os.path.exists(os.path.join(wd, name)):
          shutil.copytree(os.path.join(a.base, name), os.path.join(wd, name))
      for name in ("eval_teacher.json",):
        shutil.copyfile(os.path.join(a.base, name), os.path.join(wd, name))
      r = run(a.preset, wd, [*a.extra, f"--config.seed={s}", *w_flags])
      scores.append(r["student"]["normalized_score"])
    rows[w_name] = {"mean": float(np.mean(scores)), "stderr": stderr(scores), "scores": scores}
  out = {"preset": a.preset, "seeds": a.seeds, "reward_weight": weight,
         "teacher": {"normalized_score": base["teacher"]["normalized_score"],
                     "score_stderr": base["teacher"]["score_stderr"]},
         "students": rows}
  with open(f"{a.base}-ablation.json", "w") as f:
    json.dump(out, f, indent=1)
  print(f"\nRACTD ablation ({a.preset}, seeds {a.seeds}): normalised score")
  print(f"  teacher (159 NFE, seed {0}): {out['teacher']['normalized_score']:.2f} "
        f"+- {out['teacher']['score_stderr']:.2f} (episodes)")
  for name, r in rows.items():
    print(f"  student {name:20s}: {r['mean']:.2f} +- {r['stderr']:.2f} (seeds)  {r['scores']}")


if __name__ == "__main__":
  main()
