"""D4RL maze2d behaviour: a PD waypoint controller on BFS grid paths to random goals.

For each pair of free cells a breadth-first search over the 4-connected free cells gives the
next cell on a shortest path (`next_hop`). Each step the controller finds the agent's cell and the
goal's cell; the waypoint is the centre of the next cell on the path (the goal itself once the
agent is in the goal's cell), and

  action = clip(kp * (waypoint - position) - kd * velocity, -1, 1)      (D4RL: kp=10, kd=1)

`collect_maze` runs the continuing PointMaze task (sparse reward) with this controller: when an
agent comes within `goal_radius` (the sparse-reward radius 0.45) of its goal it gets a new goal, a uniformly drawn free cell centre
plus uniform noise, as D4RL's maze2d generator re-targets. Episodes end only at the environment's
time limit (timeouts; terminals are all False). `infos/goal`, `infos/qpos`, `infos/qvel` hold the
goal and the state each observation was taken in.
"""
from __future__ import annotations

import collections


import numpy as np

from jaxrl import envs
from jaxrl.behavior.rollout import as_d4rl, contiguous
from jaxrl.envs.pointmaze import GOAL_THRESHOLD, PointMaze


def grid_cells(task: PointMaze) -> tuple[np.ndarray, np.ndarray]:
  """((n, 2) row/col indices, (n, 2) xy centres) of the free cells, row-major."""
  ij = np.array([(i, j) for i, row in enumerate(task.layout) for j, c in enumerate(row) if c != "#"])
  return ij, np.array([task.cell_xy(i, j) for i, j in ij])


def next_hop_table(task: PointMaze) -> np.ndarray:
  """(n, n) index of the next free cell on a shortest path from cell a to cell b (b if a == b)."""
  ij, _ = grid_cells(task)
  index = {tuple(c): k for k, c in enumerate(ij)}
  n = len(ij)
  table = np.zeros((n, n), np.int64)
  for dst in range(n):  # BFS outward from the destination: parent = next hop towards it
    table[dst, dst] = dst
    seen, queue = {dst}, collections.deque([dst])
    while queue:
      cur = queue.popleft()
      i, j = ij[cur]
      for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        nb = index.get((i + di, j + dj))
        if nb is not None and nb not in seen:
          seen.add(nb)
          table[nb, dst] = cur
          queue.append(nb)
  return table


class WaypointController:
  """Batched PD controller following BFS waypoints (module docstring)."""

  def __init__(self, task: PointMaze, kp: float = 10.0, kd: float = 1.0):
    self.task, self.kp, self.kd = task, kp, kd
    self.ij, self.centres = grid_cells(task)
    self.next_hop = next_hop_table(task)
    s = task.maze_size_scaling
    self._lookup = -np.ones((len(task.layout), len(task.layout[0])), np.int64)
    self._lookup[self.ij[:, 0], self.ij[:, 1]] = np.arange(len(self.ij))
    self._origin = np.array([len(task.layout[0]) / 2 * s, len(task.layout) / 2 * s])

  def cell_of(self, xy: np.ndarray) -> np.ndarray:
    """Index of the free cell containing each xy (the nearest free centre if off the grid)."""
    s = self.task.maze_size_scaling
    j = np.floor((xy[:, 0] + self._origin[0]) / s).astype(np.int64)
    i = np.floor((self._origin[1] - xy[:, 1]) / s).astype(np.int64)
    i = np.clip(i, 0, self._lookup.shape[0] - 1)
    j = np.clip(j, 0, self._lookup.shape[1] - 1)
    cell = self._lookup[i, j]
    nearest = np.argmin(np.linalg.norm(self.centres[None] - xy[:, None], axis=-1), axis=-1)
    return np.where(cell >= 0, cell, nearest)

  def waypoint(self, qpos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    src, dst = self.cell_of(qpos), self.cell_of(goal)
    hop = self.next_hop[src, dst]
    return np.where((src == dst)[:, None], goal, self.centres[hop])

  def __call__(self, qpos: np.ndarray, qvel: np.ndarray, goal: np.ndarray) -> np.ndarray:
    wp = self.waypoint(qpos, goal)
    return np.clip(self.kp * (wp - qpos) - self.kd * qvel, -1.0, 1.0)


def collect_maze(env_name: str, num_transitions: int, num_envs: int = 8, seed: int = 0,
                 kp: float = 10.0, kd: float = 1.0, goal_radius: float = GOAL_THRESHOLD,
                 action_noise: float = 0.0) -> dict[str, np.ndarray]:
  """maze2d-style dataset of `num_transitions` (module docstring), D4RL keys plus infos/*."""
  env = envs.make(env_name, backend="native", num_envs=num_envs, seed=seed)
  task = env.task
  ctrl = WaypointController(task, kp, kd)
  rng = np.random.default_rng(seed + 1)
  _, centres = grid_cells(task)
  r, s = task.position_noise_range, task.maze_size_scaling
  obs, _ = env.reset(seed=seed)
  keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts",
          "infos/goal", "infos/qpos", "infos/qvel", "env_ids")
  rows: dict[str, list[np.ndarray]] = {k: [] for k in keys}
  for _ in range(-(-num_transitions // num_envs)):
    qpos, qvel = env.get_state()
    goal = env.goal
    reached = np.linalg.norm(qpos - goal, axis=-1) <= goal_radius
    if reached.any():
      new = centres[rng.integers(0, len(centres), size=num_envs)]
      goal = np.where(reached[:, None], new + rng.uniform(-r, r, size=(num_envs, 2)) * s, goal)
      obs = env.set_state(qpos, qvel, goal)
    action = ctrl(qpos, qvel, goal)
    if action_noise:
      action = np.clip(action + action_noise * rng.normal(size=action.shape), -1.0, 1.0)
    next_obs, reward, terminated, truncated, info = env.step(action)
    for k, v in (("observations", obs["observation"]), ("actions", action), ("rewards", reward),
                 ("next_observations", info["final_obs"]["observation"]),
                 ("terminals", terminated), ("timeouts", truncated), ("infos/goal", goal),
                 ("infos/qpos", qpos), ("infos/qvel", qvel), ("env_ids", np.arange(num_envs))):
      rows[k].append(np.asarray(v))
    obs = next_obs
  env.close()
  stream = {k: np.concatenate(v) for k, v in rows.items()}
  return as_d4rl(contiguous(stream, num_transitions))


def goals_reached(data: dict[str, np.ndarray]) -> int:
  """How many times the goal changed within an episode (each change = a goal reached)."""
  g = data["infos/goal"]
  changed = np.any(g[1:] != g[:-1], axis=-1)
  ends = data["terminals"][:-1] | data["timeouts"][:-1]
  return int(np.sum(changed & ~ends))


