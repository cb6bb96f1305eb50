"""Issue-tracker tasks: commenting on an issue and inviting a member (WebArena-GitLab style)."""
from __future__ import annotations

from typing import Any

from jaxllm.web.axtree import find_bid
from jaxllm.web.tasks.base import Task, register


class _TrackerTask(Task):
  site = "tracker"
  user = "nina.berg"
  password = "hub12345"


@register
class IssueComment(_TrackerTask):
  """Leave a given comment on issue #3 of a project."""
  task_id = "tracker.issue_comment"
  goal = ("On issue #3 of the Garden Lights project, add the comment: "
          "Fixed in firmware 2.1, please retest.")
  project, number, text = "garden-lights", "3", "Fixed in firmware 2.1, please retest."

  def check(self, state: dict[str, Any]) -> bool:
    issue = state["issues"][self.project][self.number]
    return any(c["author"] == self.user and c["body"].strip() == self.text
               for c in issue["comments"])

  def oracle(self, obs: dict[str, Any]) -> str:
    path = self.path(obs)
    if path == f"/p/{self.project}/issues/{self.number}":
      box = find_bid(obs, "textbox", "Add a comment")
      return f"fill({box!r}, {self.text!r})\nclick({find_bid(obs, 'button', 'Comment')!r})"
    if path.startswith(f"/p/{self.project}/issues"):
      title = self.state()["issues"][self.project][self.number]["title"]
      return f"click({find_bid(obs, 'link', title)!r})"
    if path == f"/p/{self.project}":
      return f"click({find_bid(obs, 'link', 'Issues')!r})"
    return f"click({find_bid(obs, 'link', 'Garden Lights')!r})"


@register
class InviteMember(_TrackerTask):
  """Invite a user to a project with a given role (as that project's maintainer)."""
  task_id = "tracker.invite_member"
  user = "tomas.reyes"
  goal = "Invite the user leo.nakamura to the Recipe Box project as a Developer."
  project, invitee, role = "recipe-box", "leo.nakamura", "Developer"

  def check(self, state: dict[str, Any]) -> bool:
    return state["projects"][self.project]["members"].get(self.invitee) == self.role

  def oracle(self, obs: dict[str, Any]) -> str:
    path = self.path(obs)
    if path == f"/p/{self.project}/members":
      return (f"fill({find_bid(obs, 'textbox', 'Username')!r}, {self.invitee!r})\n"
              f"select_option({find_bid(obs, 'combobox', 'Role')!r}, {self.role!r})\n"
              f"click({find_bid(obs, 'button', 'Invite')!r})")
    if path == f"/p/{self.project}":
      return f"click({find_bid(obs, 'link', 'Members')!r})"
    return f"click({find_bid(obs, 'link', 'Recipe Box')!r})"
