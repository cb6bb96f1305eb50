"""Tasks on the sandbox sites; importing this package fills the `TASKS` registry.

MiniWoB++ tasks (`miniwob.<name>`, from the installed `miniwob` package) register themselves in
`jaxllm.web.miniwob`, imported here, and the AgentDAM privacy tasks (`agentdam.<site>.<n>`) in
`jaxllm.agentdam.tasks`.
"""
from jaxllm.web.tasks import forum, mail, shop, tracker  # noqa: F401  (registration)
from jaxllm.web.tasks.base import TASKS, Task, register
from jaxllm.web import miniwob  # noqa: F401,E402  (registration of the miniwob.* tasks)
from jaxllm.agentdam import tasks as _agentdam  # noqa: F401,E402  (the agentdam.* tasks)

__all__ = ["TASKS", "Task", "register"]
