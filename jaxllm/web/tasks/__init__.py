"""Tasks on the sandbox sites; importing this package fills the `TASKS` registry."""
from jaxllm.web.tasks import forum, mail, shop, tracker  # noqa: F401  (registration)
from jaxllm.web.tasks.base import TASKS, Task, register

__all__ = ["TASKS", "Task", "register"]
