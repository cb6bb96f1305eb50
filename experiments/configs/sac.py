"""Online SAC (jaxrl.agents.sac, the D4RL behaviour-policy recipe) on native MuJoCo environments.

Runs on the experiments loop: checkpoints (train state, replay buffer segments, environments
mid-episode, numpy Generator) every `train.checkpoint_every` env steps, resume by rerunning the
same command, SIGTERM -> checkpoint and exit 143. Writes WORKDIR/metrics.jsonl (losses, alpha,
entropy, train returns, env steps/s; evaluations under sac_eval/), evaluated actor snapshots in
WORKDIR/snapshots/ and WORKDIR/results.json.

  python -m experiments.main --config experiments/configs/sac.py:smoke --workdir /tmp/sac
  python -m experiments.main --config experiments/configs/sac.py:hopper --workdir /tmp/sac-hopper

Presets: smoke (hopper, 3k env steps, 64-unit networks: about a minute on a 2-core CPU); hopper,
halfcheetah, walker2d (1M env steps, 2x256 networks, as D4RL's behaviour policies). Step counts
are per environment; every `*_every` is a multiple of `train.train_every` (the env steps of one
loop call).
"""
import ml_collections

PRESETS = ("smoke", "hopper", "halfcheetah", "walker2d")


def agent_config() -> ml_collections.ConfigDict:
  """The SAC hyperparameters (jaxrl.agents.sac.SACConfig), D4RL recipe defaults."""
  return ml_collections.ConfigDict({
      "hidden_dim": 256, "num_layers": 2, "lr": 3e-4, "batch_size": 256, "gamma": 0.99,
      "tau": 0.005, "init_alpha": 1.0})


def online_config() -> ml_collections.ConfigDict:
  """Online settings (jaxrl.agents.sac.SACTrainConfig) and the loop's checkpoint cadence."""
  return ml_collections.ConfigDict({
      "num_env_steps": 1_000_000, "start_steps": 10_000, "num_envs": 1, "updates_per_step": 1,
      "train_every": 50, "snapshot_every": 20_000, "eval_episodes": 10, "log_every": 1000,
      "checkpoint_every": 20_000, "keep_checkpoints": 2})


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "sac"
  c.seed = 0
  c.env = "hopper" if preset == "smoke" else preset
  c.sac = agent_config()
  c.train = online_config()
  if preset == "smoke":
    c.sac.hidden_dim = 64
    c.train.num_env_steps = 3000
    c.train.start_steps = 1000
    c.train.snapshot_every = 1000
    c.train.eval_episodes = 3
    c.train.log_every = 500
    c.train.checkpoint_every = 1000
  return c
