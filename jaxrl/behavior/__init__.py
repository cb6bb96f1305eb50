"""Behaviour policies and offline dataset generation in the D4RL recipe (see `datasets.generate`)."""
from jaxrl.behavior.datasets import (LOCOMOTION_LEVELS, MAZE_LEVEL, BehaviorPolicies, DatasetSpec,
                                     data_dir, generate)
from jaxrl.behavior.maze import WaypointController, collect_maze

__all__ = ["LOCOMOTION_LEVELS", "MAZE_LEVEL", "BehaviorPolicies", "DatasetSpec",
           "WaypointController", "collect_maze", "data_dir", "generate"]
