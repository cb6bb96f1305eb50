"""Forum tasks: voting and commenting (in the style of WebArena's Reddit site)."""
from __future__ import annotations

from typing import Any

from jaxllm.web.axtree import find_bid
from jaxllm.web.tasks.base import Task, register


class _ForumTask(Task):
  site = "forum"
  user = "river.stone"
  password = "forum123"


@register
class Upvote(_ForumTask):
  """Upvote a named post in a named forum."""
  task_id = "forum.upvote"
  goal = "Upvote the post 'Best ground cover for shade' in f/gardening."
  post_id, title = "2", "Best ground cover for shade"

  def check(self, state: dict[str, Any]) -> bool:
    return state["posts"][self.post_id]["votes"].get(self.user) == 1

  def oracle(self, obs: dict[str, Any]) -> str:
    if self.path(obs) in ("/f/gardening", f"/post/{self.post_id}"):
      return f"click({find_bid(obs, 'button', 'Upvote ' + self.title)!r})"
    return f"click({find_bid(obs, 'link', 'f/gardening')!r})"


@register
class Comment(_ForumTask):
  """Reply to a post with a given comment."""
  task_id = "forum.comment"
  goal = ("Reply to the post 'Sourdough starter smells like nail polish' with the comment: "
          "Acetone smell means it is hungry; feed it twice a day.")
  post_id, title = "4", "Sourdough starter smells like nail polish"
  text = "Acetone smell means it is hungry; feed it twice a day."

  def check(self, state: dict[str, Any]) -> bool:
    return any(c["author"] == self.user and c["body"].strip() == self.text
               for c in state["posts"][self.post_id]["comments"])

  def oracle(self, obs: dict[str, Any]) -> str:
    if self.path(obs) == f"/post/{self.post_id}":
      box = find_bid(obs, "textbox", "Your comment")
      return f"fill({box!r}, {self.text!r})\nclick({find_bid(obs, 'button', 'Post comment')!r})"
    return f"click({find_bid(obs, 'link', self.title)!r})"
