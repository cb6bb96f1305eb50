"""RACTD (reward-aware consistency trajectory distillation): dataset -> teacher -> reward -> student.

  python -m experiments.main --config experiments/configs/ractd.py:smoke --workdir runs/ractd-smoke
  python -m experiments.main --config experiments/configs/ractd.py:hopper-medium-replay \
      --workdir runs/ractd-hmr
  python -m experiments.main --config experiments/configs/ractd.py:maze2d-large --workdir runs/m2l

Presets: smoke (hopper, a 20k-transition dataset from a short SAC run, tiny U-Net; minutes on
CPU); {hopper,walker2d,halfcheetah}-{medium,medium-replay,medium-expert}; maze2d-{umaze,medium,
large}. A rerun of the same command resumes at the stage it stopped in.

Paper values (PAPERS.md section 1): U-Net down dims 512/1024/2048, kernel 5, chunk 16; EDM sigma in
[0.002, 80], rho 7, sigma_data 0.5, 80 bins, Heun; teacher AdamW lr 1e-4 batch 1024 with EMA;
student batch 4800, AdamW lr 1e-4 wd 1e-4 cosine, dropout 0.2, alpha = beta = 1, reward weight per
task (REWARD_WEIGHTS); reward model 64-128-256 Mish MLP on gamma 0.99 returns-to-go; Maze2D
horizons 128/256/384. Not in the paper, decided here (config values): step counts (teacher
200k, reward 50k, student 100k), teacher EMA 0.999, student eval EMA 0.999, warm-up 1000 steps,
obs standardisation, FiLM condition embedding width 256, 10 evaluation episodes.

Each stage section (teacher, reward, student) holds its batch size, EMA decay, the loop's fields
(num_steps, steps_per_call, log_every, checkpoint_every, keep_checkpoints) and an `optim`
section (experiments/runtime/optim.py: AdamW, linear warm-up then cosine to 0, global-norm
clipping at 1), e.g. --config.student.optim.lr=3e-4.
"""
import ml_collections

from experiments.configs import unknown_preset
from experiments.runtime.optim import optim_config

LOCOMOTION = ("hopper", "walker2d", "halfcheetah")
LEVELS = ("medium", "medium-replay", "medium-expert")
# sigma_r per task (PAPERS.md): hopper / walker2d / halfcheetah, and the mazes.
REWARD_WEIGHTS = {
    "hopper-medium": 1.0, "walker2d-medium": 0.4, "halfcheetah-medium": 0.5,
    "hopper-medium-replay": 1.0, "walker2d-medium-replay": 0.5, "halfcheetah-medium-replay": 1.0,
    "hopper-medium-expert": 0.5, "walker2d-medium-expert": 0.2, "halfcheetah-medium-expert": 0.0,
    "maze2d-umaze": 1e-4, "maze2d-medium": 1e-4, "maze2d-large": 1e-5,
}
MAZE_HORIZONS = {"umaze": 128, "medium": 256, "large": 384}
PRESETS = ("smoke",) + tuple(f"{e}-{lv}" for e in LOCOMOTION for lv in LEVELS) + tuple(
    f"maze2d-{m}" for m in MAZE_HORIZONS)


def _stage(batch_size, num_steps, lr=1e-4, weight_decay=0.0, ema_decay=0.0, warmup_steps=1000,
           log_every=1000, checkpoint_every=10_000, steps_per_call=100):
  return ml_collections.ConfigDict(dict(
      batch_size=batch_size, num_steps=num_steps, ema_decay=ema_decay,
      optim=optim_config(name="adamw", lr=lr, weight_decay=weight_decay, schedule="cosine",
                         warmup_steps=warmup_steps, max_grad_norm=1.0),
      steps_per_call=steps_per_call, log_every=log_every, checkpoint_every=checkpoint_every,
      keep_checkpoints=2))


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise unknown_preset("ractd", preset, PRESETS)
  c = ml_collections.ConfigDict()
  c.trainer = "ractd"
  c.seed = 0
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.task = "hopper-medium-replay"   # <env>-<level> or maze2d-<size>

  c.data = ml_collections.ConfigDict()
  c.data.path = ""                  # an existing D4RL-layout HDF5 / Minari dir; "" -> generate
  c.data.preset = ""                # experiments/configs/datasets.py preset; "" -> same as task
  c.data.data_dir = ""              # "" -> $JAXRL_DATA_DIR or ~/.cache/jaxresearch/data
  c.data.gamma = 0.99

  c.model = ml_collections.ConfigDict()
  c.model.horizon = 16              # action chunk (locomotion) or plan length (mazes)
  c.model.down_dims = (512, 1024, 2048)
  c.model.kernel_size = 5
  c.model.emb_dim = 128
  c.model.cond_embed_dim = 256
  c.model.dropout = 0.2             # student only
  c.model.reward_widths = (64, 128, 256)

  c.edm = ml_collections.ConfigDict(dict(sigma_min=0.002, sigma_max=80.0, rho=7.0,
                                         sigma_data=0.5, num_bins=80))

  c.teacher = _stage(1024, 200_000, lr=1e-4, ema_decay=0.999)
  c.reward = _stage(1024, 50_000, lr=3e-4)
  c.student = _stage(4800, 100_000, lr=1e-4, weight_decay=1e-4, ema_decay=0.999)
  c.student.alpha = 1.0
  c.student.beta = 1.0
  c.student.reward_weight = 1.0
  c.student.num_heun_steps = 1
  c.student.dsm_stop = "t"          # jaxdiff.ctm: official CTM form; "sigma_min" = PAPERS wording

  c.eval = ml_collections.ConfigDict()
  c.eval.episodes = 10
  c.eval.seed = 100
  c.eval.teacher_bins = 80          # Heun bins for the teacher (159 NFE)
  c.eval.student_steps = 1
  c.eval.gamma = 0.0                # CTM gamma-sampling when student_steps > 1
  c.eval.max_episode_steps = 0      # 0 -> the environment's limit (1000 / maze limits)
  c.eval.latency_repeats = 20
  c.eval.skip_teacher = False       # the teacher's 159-NFE episodes are the slow part on CPU

  if preset == "smoke":
    c.task = "hopper-medium"
    c.data.preset = "smoke"
    c.model.down_dims = (32, 64, 128)
    c.model.emb_dim = 32
    c.model.cond_embed_dim = 64
    c.model.reward_widths = (64, 128, 256)
    for stage, steps in ((c.teacher, 1500), (c.reward, 1000), (c.student, 500)):
      stage.update(dict(num_steps=steps, steps_per_call=50, log_every=250, checkpoint_every=500))
      stage.optim.warmup_steps = 100
    c.teacher.batch_size = 256
    c.teacher.optim.lr = 1e-3
    c.teacher.ema_decay = 0.99
    c.reward.batch_size = 256
    c.reward.optim.lr = 1e-3
    c.student.batch_size = 128
    c.student.optim.lr = 3e-4
    c.student.ema_decay = 0.9
    c.eval.episodes = 5
    c.eval.teacher_bins = 80
    c.eval.max_episode_steps = 300
    c.eval.latency_repeats = 10
  elif preset.startswith("maze2d-"):
    size = preset.split("-", 1)[1]
    c.task = preset
    c.model.horizon = MAZE_HORIZONS[size]
    c.student.reward_weight = REWARD_WEIGHTS[preset]
  else:
    c.task = preset
    c.student.reward_weight = REWARD_WEIGHTS[preset]
  return c
