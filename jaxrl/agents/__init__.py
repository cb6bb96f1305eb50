"""RL agents: SAC (jaxrl.agents.sac, the D4RL behaviour-policy recipe) on shared networks."""
