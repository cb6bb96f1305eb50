"""PointMaze (UMaze, Medium, Large) with Gymnasium-Robotics PointMaze-v3 semantics.

The layouts are D4RL's maze2d mazes (`#` wall, `O` free cell), as Gymnasium-Robotics ships them. The
model is the point mass of `point.xml` (2 slide joints, gear-100 motors, Euler, dt = 0.01, frame skip
1, no gravity) plus one 1x1x0.4 box per wall cell, the maze centred on the origin: cell (i, j) has
centre x = (j + 0.5) - width / 2, y = height / 2 - (i + 0.5) (maze_size_scaling = 1).

Step: action clipped to [-1, 1]; qvel clipped to [-5, 5]; one MuJoCo step.

  observation   = [qpos, qvel]  (4)     achieved_goal = qpos (2)     desired_goal = goal (2)
  reward        = 1[|qpos - goal| <= 0.45]  ("sparse", default)  or  exp(-|qpos - goal|)  ("dense")
  terminated    = False                    (continuing_task=True, default)
                  or 1[|qpos - goal| <= 0.45]  (continuing_task=False)
  truncated     = after 300 / 600 / 800 steps (umaze / medium / large)
  info          = success (the same test as the sparse reward), distance

goal_obs="dict" (default) returns Gymnasium-Robotics' dict {observation, achieved_goal,
desired_goal}; goal_obs="flat" returns the vector [qpos, qvel, goal] (6), D4RL maze2d's state plus
target.

Reset: goal = a uniformly drawn free cell centre + U(-0.25, 0.25)^2; start = a uniformly drawn free
cell whose centre is farther than 0.5 from the noisy goal, + U(-0.25, 0.25)^2; qvel = 0. That is the
distribution Gymnasium-Robotics draws (it rejects and redraws; we draw from the valid cells), not
its random stream. Gymnasium-Robotics' `reset_target` (a new goal on reaching the old one in a
continuing task) is not implemented: its default is off.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from jaxrl.envs import core

LAYOUTS: dict[str, tuple[str, ...]] = {
    "umaze": (
        "#####",
        "#OOO#",
        "###O#",
        "#OOO#",
        "#####",
    ),
    "medium": (
        "########",
        "#OO##OO#",
        "#OO#OOO#",
        "##OOO###",
        "#OO#OOO#",
        "#O#OO#O#",
        "#OOO#OO#",
        "########",
    ),
    "large": (
        "############",
        "#OOOO#OOOOO#",
        "#O##O#O#O#O#",
        "#OOOOOO#OOO#",
        "#O####O###O#",
        "#OO#O#OOOOO#",
        "##O#O#O#O###",
        "#OO#OOO#OOO#",
        "############",
    ),
}
MAX_EPISODE_STEPS = {"umaze": 300, "medium": 600, "large": 800}
GOAL_THRESHOLD = 0.45


@dataclasses.dataclass(frozen=True, eq=False)
class PointMaze(core.Task):
  """A goal-conditioned point mass in a maze (see module docstring)."""

  name: str
  layout: tuple[str, ...]
  max_episode_steps: int
  reward_type: str = "sparse"
  continuing_task: bool = True
  goal_obs: str = "dict"
  position_noise_range: float = 0.25
  maze_size_scaling: float = 1.0
  maze_height: float = 0.4
  frame_skip: int = 1
  goal_size: ClassVar[int] = 2

  def __post_init__(self):
    if self.reward_type not in ("sparse", "dense"):
      raise ValueError(f"reward_type={self.reward_type!r}: choose 'sparse' or 'dense'.")
    if self.goal_obs not in ("dict", "flat"):
      raise ValueError(f"goal_obs={self.goal_obs!r}: choose 'dict' or 'flat'.")

  # ---------------------------------------------------------------- maze
  def cell_xy(self, i: int, j: int) -> tuple[float, float]:
    """World (x, y) of the centre of cell (row i, column j)."""
    s = self.maze_size_scaling
    x = (j + 0.5) * s - len(self.layout[0]) / 2 * s
    y = len(self.layout) / 2 * s - (i + 0.5) * s
    return x, y

  @property
  def free_cells(self) -> np.ndarray:
    """(n, 2) centres of the free cells, row-major."""
    return np.array([self.cell_xy(i, j) for i, row in enumerate(self.layout)
                     for j, c in enumerate(row) if c != "#"])

  def build_model(self) -> mujoco.MjModel:
    root = ET.parse(core.asset_path("point.xml")).getroot()
    worldbody = root.find("worldbody")
    s, h = self.maze_size_scaling, self.maze_height
    for i, row in enumerate(self.layout):
      for j, c in enumerate(row):
        if c != "#":
          continue
        x, y = self.cell_xy(i, j)
        ET.SubElement(
            worldbody, "geom", name=f"block_{i}_{j}", pos=f"{x} {y} {h / 2 * s}",
            size=f"{0.5 * s} {0.5 * s} {h / 2 * s}", type="box", material="",
            contype="1", conaffinity="1", rgba="0.7 0.5 0.3 1.0")
    ET.SubElement(worldbody, "site", name="target", pos=f"0 0 {h / 2 * s}",
                  size=f"{0.2 * s}", rgba="1 0 0 0.7", type="sphere")
    return mujoco.MjModel.from_xml_string(ET.tostring(root, encoding="unicode"))

  # ------------------------------------------------------------- dynamics
  def prepare(self, qvel, action, xp):
    return xp.clip(qvel, -5.0, 5.0), xp.clip(action, -1.0, 1.0)

  def observe(self, qpos, qvel, goal, xp):
    observation = xp.concatenate([qpos, qvel], axis=-1)
    if self.goal_obs == "flat":
      return xp.concatenate([observation, goal], axis=-1)
    return {"observation": observation, "achieved_goal": qpos, "desired_goal": goal}

  def evaluate(self, qpos_before, qpos, qvel, action, goal, xp):
    del qpos_before, qvel, action
    distance = xp.sqrt(xp.sum(xp.square(qpos - goal), axis=-1))
    success = distance <= GOAL_THRESHOLD
    if self.reward_type == "dense":
      reward = xp.exp(-distance)
    else:
      reward = success.astype(distance.dtype)
    if self.continuing_task:
      terminated = xp.zeros(success.shape, dtype=bool)
    else:
      terminated = success
    return reward, terminated, {"success": success, "distance": distance}

  # ---------------------------------------------------------------- reset
  def sample_init_np(self, rng, n):
    cells = self.free_cells
    r, s = self.position_noise_range, self.maze_size_scaling
    goal = cells[rng.integers(0, len(cells), size=n)] + rng.uniform(-r, r, size=(n, 2)) * s
    far = np.linalg.norm(cells[None] - goal[:, None], axis=-1) > 0.5 * s  # (n, cells)
    start = cells[np.argmax(np.where(far, rng.random(far.shape), -1.0), axis=-1)]
    qpos = start + rng.uniform(-r, r, size=(n, 2)) * s
    return qpos, np.zeros((n, 2)), goal

  def sample_init_jax(self, key):
    cells = jnp.asarray(self.free_cells, jnp.float32)
    r, s = self.position_noise_range, self.maze_size_scaling
    k_goal, k_goal_noise, k_start, k_start_noise = jax.random.split(key, 4)
    goal = cells[jax.random.randint(k_goal, (), 0, cells.shape[0])]
    goal = goal + jax.random.uniform(k_goal_noise, (2,), jnp.float32, -r, r) * s
    far = jnp.linalg.norm(cells - goal, axis=-1) > 0.5 * s
    start = cells[jax.random.categorical(k_start, jnp.where(far, 0.0, -jnp.inf))]
    qpos = start + jax.random.uniform(k_start_noise, (2,), jnp.float32, -r, r) * s
    return qpos, jnp.zeros((2,), jnp.float32), goal


def pointmaze(size: str, **overrides: Any) -> PointMaze:
  """Gymnasium-Robotics PointMaze_{UMaze,Medium,Large}-v3 on D4RL's maze2d layouts."""
  kw = dict(name=f"pointmaze-{size}", layout=LAYOUTS[size],
            max_episode_steps=MAX_EPISODE_STEPS[size])
  return PointMaze(**(kw | overrides))
