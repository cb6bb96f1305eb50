"""PAPRIKA (PAPERS.md section 6): training a generally curious agent on multi-turn games.

  games       the ten task groups behind one interface (`games.GROUPS`)
  turns       the agent's <Think>/<Answer> turn format; one game played as a chat (`Episode`)
  policies    scripted noisy legal-move players (behaviour-cloning data for from-scratch models)
  collect     many games decoding together through the batched sampler
  pairs       chosen / rejected selection and the RPO token layout
  curriculum  learning potential and the UCB curriculum over task categories
  evaluate    success and turns per group

The trainer (`experiments/trainers/paprika.py`) runs rounds of collect -> RPO/SFT via the runner.
"""
