"""User-facing errors: one line that names the problem and the fix, never a traceback.

Anything a user can cause (a config name, a flag value, a path, a dataset, a checkpoint) raises
`UserError`; `experiments.main` prints its message on one line and exits non-zero. Internal
invariants stay assertions.
"""


class UserError(Exception):
  """A mistake the user can fix; its message is printed as one line."""

  exit_code = 2


class CheckpointError(UserError):
  """A checkpoint on disk cannot be restored."""

  exit_code = 3


class NonFiniteError(UserError):
  """A NaN/Inf loss or gradient stopped training."""

  exit_code = 4


class Preempted(Exception):
  """SIGTERM (or a TPU preemption notice) arrived; a checkpoint was written."""

  exit_code = 143
