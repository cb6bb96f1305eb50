"""Offline datasets in the D4RL recipe: SAC behaviour policies, waypoint-controller mazes.

Writes WORKDIR/dataset.hdf5 (D4RL layout) and WORKDIR/manifest.json; generated datasets and SAC
behaviour policies are cached under $JAXRL_DATA_DIR (default ~/.cache/jaxresearch/data), so a
second preset of the same environment reuses the SAC run. The SAC run checkpoints into its cache
directory (sac.checkpoint_every env steps), so rerunning an interrupted command resumes it.

  python -m experiments.main --config experiments/configs/datasets.py:smoke --workdir /tmp/ds
  python -m experiments.main --config experiments/configs/datasets.py:hopper-medium-replay \
      --workdir /tmp/hopper-medium-replay
  python -m experiments.main --config experiments/configs/datasets.py:maze2d-large --workdir /tmp/m2l

Presets: smoke; {hopper,halfcheetah,walker2d}-{random,medium,medium-replay,expert,medium-expert};
maze2d-{umaze,medium,large}. Sizes (dataset.size) follow D4RL: 1M transitions for locomotion
(medium-expert = 2 x 1M; medium-replay = the replay buffer up to the medium snapshot), 1M / 2M / 4M
for the mazes. SAC runs sac.num_env_steps = 1M env steps per locomotion task (D4RL's exact
step counts per task are not documented; decided here, a config value).
"""
import ml_collections

from experiments.configs import sac as sac_config

LOCOMOTION = ("hopper", "halfcheetah", "walker2d")
LEVELS = ("random", "medium", "medium-replay", "expert", "medium-expert")
MAZES = {"umaze": 1_000_000, "medium": 2_000_000, "large": 4_000_000}
PRESETS = ("smoke",) + tuple(f"{e}-{lv}" for e in LOCOMOTION for lv in LEVELS) + tuple(
    f"maze2d-{m}" for m in MAZES)


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "datasets"
  c.seed = 0
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.env = "hopper"
  c.level = "medium"              # or random / medium-replay / expert / medium-expert / maze2d
  c.data_dir = ""                 # "" -> $JAXRL_DATA_DIR or ~/.cache/jaxresearch/data

  c.dataset = ml_collections.ConfigDict()
  c.dataset.size = 1_000_000      # transitions (medium-expert: per half)
  c.dataset.num_envs = 8          # parallel environments for policy rollouts
  c.dataset.deterministic = False  # SAC levels: sample from the tanh-Gaussian, as D4RL
  c.dataset.medium_fraction = 1 / 3

  # The behaviour SAC: sac.py's agent (D4RL recipe) and online sections in one, log / checkpoint
  # cadence included (env steps); a killed build resumes from the last of its checkpoints.
  c.sac = ml_collections.ConfigDict(dict(sac_config.agent_config(), **sac_config.online_config()))

  c.maze = ml_collections.ConfigDict()
  c.maze.kp = 10.0
  c.maze.kd = 1.0
  c.maze.action_noise = 0.0

  c.eval = ml_collections.ConfigDict()
  c.eval.episodes = 10            # evaluation episodes of the behaviour policy (SAC levels)

  if preset == "smoke":  # a short SAC run on hopper and a 20k-transition medium dataset
    c.sac.num_env_steps = 5_000
    c.sac.start_steps = 1_000
    c.sac.snapshot_every = 1_000
    c.sac.log_every = 500
    c.sac.checkpoint_every = 1_000
    c.sac.eval_episodes = 5
    c.dataset.size = 20_000
  elif preset.startswith("maze2d-"):
    size = preset.split("-", 1)[1]
    c.env, c.level, c.dataset.size = f"pointmaze-{size}", "maze2d", MAZES[size]
  else:
    c.env, c.level = preset.split("-", 1)
  return c
