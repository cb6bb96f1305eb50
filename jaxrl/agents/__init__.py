"""RL agents: SAC (the D4RL behaviour-policy recipe) and its online training loop."""
from jaxrl.agents.sac import SAC, SACConfig, SACState
from jaxrl.agents.sac_train import SACTrainConfig, SACTrainResult, Snapshot, train_sac

__all__ = ["SAC", "SACConfig", "SACState", "SACTrainConfig", "SACTrainResult", "Snapshot",
           "train_sac"]
