"""RACTD: reward-aware consistency trajectory distillation for offline RL (PAPERS.md section 1).

The method in four pieces, one module each:
  data      normalisers, returns-to-go, action-chunk / state-plan batches sampled inside jit
  networks  the chunk U-Net (teacher; student with a stop-time embedding), the reward MLP
  losses    EDM teacher loss, reward regression, CTM + DSM + reward student loss
  train     (init_fn, step_fn) pairs for experiments.runtime.run, data-parallel over the mesh
  policy    teacher (80-bin Heun) and student (1-step CTM) samplers as policies; latency
  maze      Maze2D: plan states once per episode, follow with the waypoint controller

The pipeline that runs them in order, with resume and evaluation, is experiments/trainers/ractd.py;
presets are in experiments/configs/ractd.py.
"""
