"""Sandbox code-hosting issue tracker: projects, issues, comments and members (GitLab-like).

State layout: `projects` {slug: {slug, name, description, members: {user: role}}}, `issues`
{slug: {number: {number, title, body, author, state, assignee, comments: [{author, body}]}}},
`users` {username: {...}}, `invitations` [{project, user, role, by, message}]. Issue numbers are
strings (JSON keys) counted per project.
"""
from __future__ import annotations

from typing import Any

from jaxllm.web.sites.framework import Request, Response, Site, esc, redirect

ROLES = ("Guest", "Reporter", "Developer", "Maintainer")
_PROJECTS = {
  "garden-lights": ("Garden Lights", "Firmware for solar garden lights.",
                    {"nina.berg": "Maintainer", "tomas.reyes": "Developer"}),
  "recipe-box": ("Recipe Box", "A tiny web app for family recipes.",
                 {"tomas.reyes": "Maintainer", "nina.berg": "Reporter"}),
  "bike-log": ("Bike Log", "Command-line ride tracker.", {"nina.berg": "Maintainer"}),
}
_ISSUES = {
  "garden-lights": [
    ("Lights stay on during the day", "nina.berg", "open", "tomas.reyes"),
    ("Battery voltage reading is noisy", "tomas.reyes", "open", ""),
    ("Add a low-battery blink pattern", "nina.berg", "open", ""),
    ("Typo in README build steps", "tomas.reyes", "closed", ""),
    ("Support 12V panels", "nina.berg", "open", "nina.berg"),
  ],
  "recipe-box": [
    ("Search ignores accents", "nina.berg", "open", "tomas.reyes"),
    ("Export recipes as PDF", "tomas.reyes", "open", ""),
    ("Ingredient list loses order after edit", "nina.berg", "open", ""),
  ],
  "bike-log": [("Import GPX files", "nina.berg", "open", "")],
}


class TrackerSite(Site):
  """The issue tracker."""
  name = "tracker"
  title = "CodeHub"

  def seed(self) -> dict[str, Any]:
    users = {u: {"password": "hub12345", "name": n} for u, n in [
      ("nina.berg", "Nina Berg"), ("tomas.reyes", "Tomas Reyes"),
      ("leo.nakamura", "Leo Nakamura"), ("ivy.okafor", "Ivy Okafor"), ("sam.ortiz", "Sam Ortiz"),
      ("grace.liu", "Grace Liu"), ("ben.adler", "Ben Adler"), ("mia.kowalski", "Mia Kowalski"),
      ("raj.menon", "Raj Menon"), ("zoe.hart", "Zoe Hart")]}
    projects = {s: {"slug": s, "name": n, "description": d, "members": dict(m)}
                for s, (n, d, m) in _PROJECTS.items()}
    issues = {}
    for slug, rows in _ISSUES.items():
      issues[slug] = {
        str(i): {"number": str(i), "title": t, "body": f"Details for: {t}.", "author": a,
                 "state": s, "assignee": asg, "comments": []}
        for i, (t, a, s, asg) in enumerate(rows, start=1)}
    issues["garden-lights"]["1"]["comments"].append(
      {"author": "tomas.reyes", "body": "The light sensor threshold looks too low."})
    return {"users": users, "projects": projects, "issues": issues, "invitations": []}

  def nav(self, req: Request) -> str:
    return '<a href="/">Projects</a>'

  def register(self) -> None:
    self.route("GET", "/", self.home)
    self.route("GET", r"/p/([\w-]+)", self.project)
    self.route("GET", r"/p/([\w-]+)/issues", self.issue_list)
    self.route("GET", r"/p/([\w-]+)/issues/new", self.new_issue_form, login=True)
    self.route("POST", r"/p/([\w-]+)/issues/new", self.new_issue, login=True)
    self.route("GET", r"/p/([\w-]+)/issues/(\d+)", self.issue)
    self.route("POST", r"/p/([\w-]+)/issues/(\d+)/comment", self.comment, login=True)
    self.route("POST", r"/p/([\w-]+)/issues/(\d+)/state", self.set_state, login=True)
    self.route("GET", r"/p/([\w-]+)/members", self.members)
    self.route("POST", r"/p/([\w-]+)/members", self.add_member, login=True)

  def _project(self, req: Request) -> dict[str, Any] | None:
    return self.state["projects"].get(req.params[0])

  def _tabs(self, slug: str) -> str:
    return (f'<nav aria-label="Project"><a href="/p/{slug}">Overview</a> | '
            f'<a href="/p/{slug}/issues">Issues</a> | <a href="/p/{slug}/members">Members</a>'
            "</nav>")

  def home(self, req: Request) -> Response:
    rows = "".join(f'<li class="item"><a href="/p/{s}">{esc(p["name"])}</a>: '
                   f'{esc(p["description"])}</li>' for s, p in self.state["projects"].items())
    return self.page(req, "Projects", f"<ul>{rows}</ul>")

  def project(self, req: Request) -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    n_open = sum(i["state"] == "open" for i in self.state["issues"][p["slug"]].values())
    body = (f'{self._tabs(p["slug"])}<p>{esc(p["description"])}</p>'
            f'<p>{n_open} open issues, {len(p["members"])} members.</p>')
    return self.page(req, p["name"], body)

  def issue_list(self, req: Request) -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    state = req.query.get("state", "open")
    issues = [i for i in self.state["issues"][p["slug"]].values()
              if state == "all" or i["state"] == state]
    rows = "".join(
      f'<tr><td>#{i["number"]}</td><td><a href="/p/{p["slug"]}/issues/{i["number"]}">'
      f'{esc(i["title"])}</a></td><td>{esc(i["state"])}</td><td>{esc(i["assignee"] or "-")}</td>'
      "</tr>" for i in issues)
    body = (f'{self._tabs(p["slug"])}<p><a href="?state=open">Open</a> | '
            f'<a href="?state=closed">Closed</a> | <a href="?state=all">All</a> | '
            f'<a href="/p/{p["slug"]}/issues/new">New issue</a></p>'
            '<table><thead><tr><th>Number</th><th>Title</th><th>State</th><th>Assignee</th></tr>'
            f"</thead><tbody>{rows}</tbody></table>")
    return self.page(req, f'{p["name"]} issues', body)

  def issue(self, req: Request, flash: str = "") -> Response:
    p = self._project(req)
    i = self.state["issues"].get(req.params[0], {}).get(req.params[1]) if p else None
    if i is None:
      return self.not_found(req, "Issue")
    comments = "".join(f'<li class="item comment"><p><strong>{esc(c["author"])}</strong> '
                       f'commented:</p><p>{esc(c["body"])}</p></li>' for c in i["comments"])
    toggle = "Reopen issue" if i["state"] == "closed" else "Close issue"
    base = f'/p/{p["slug"]}/issues/{i["number"]}'
    body = (f'{self._tabs(p["slug"])}<p>Issue #{i["number"]} - <strong>{esc(i["state"])}'
            f'</strong> - opened by {esc(i["author"])} - assignee: {esc(i["assignee"] or "none")}'
            f'</p><div class="item">{esc(i["body"])}</div>'
            f'<h2>Comments</h2><ul>{comments or "<li>No comments yet.</li>"}</ul>'
            f'<form method="post" action="{base}/comment"><p><label for="note">Add a comment'
            '</label><br><textarea id="note" name="body" rows="4" cols="60"></textarea></p>'
            '<p><button type="submit">Comment</button></p></form>'
            f'<form method="post" action="{base}/state"><button type="submit">{toggle}</button>'
            "</form>")
    return self.page(req, f'{i["title"]} (#{i["number"]})', body, flash)

  def comment(self, req: Request) -> Response:
    p = self._project(req)
    i = self.state["issues"].get(req.params[0], {}).get(req.params[1]) if p else None
    if i is None:
      return self.not_found(req, "Issue")
    text = req.form.get("body", "").strip()
    if not text:
      return self.issue(req, "A comment cannot be empty.")
    i["comments"].append({"author": req.user, "body": text})
    return redirect(f'/p/{p["slug"]}/issues/{i["number"]}')

  def set_state(self, req: Request) -> Response:
    p = self._project(req)
    i = self.state["issues"].get(req.params[0], {}).get(req.params[1]) if p else None
    if i is None:
      return self.not_found(req, "Issue")
    if req.user not in p["members"]:
      return self.issue(req, "Only project members can close or reopen issues.")
    i["state"] = "open" if i["state"] == "closed" else "closed"
    return redirect(f'/p/{p["slug"]}/issues/{i["number"]}')

  def new_issue_form(self, req: Request, flash: str = "") -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    body = (f'{self._tabs(p["slug"])}<form method="post" action="/p/{p["slug"]}/issues/new">'
            '<p><label for="i-title">Title</label> <input id="i-title" name="title" size="60">'
            '</p><p><label for="i-body">Description</label><br><textarea id="i-body" name="body"'
            ' rows="6" cols="60"></textarea></p><p><button type="submit">Create issue</button>'
            "</p></form>")
    return self.page(req, "New issue", body, flash)

  def new_issue(self, req: Request) -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    title = req.form.get("title", "").strip()
    if not title:
      return self.new_issue_form(req, "An issue needs a title.")
    issues = self.state["issues"][p["slug"]]
    number = str(max(int(n) for n in issues) + 1 if issues else 1)
    issues[number] = {"number": number, "title": title, "body": req.form.get("body", ""),
                      "author": req.user, "state": "open", "assignee": "", "comments": []}
    return redirect(f'/p/{p["slug"]}/issues/{number}')

  def members(self, req: Request, flash: str = "") -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    rows = "".join(f"<tr><td>{esc(u)}</td><td>{esc(self.state['users'][u]['name'])}</td>"
                   f"<td>{esc(r)}</td></tr>" for u, r in p["members"].items())
    roles = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
    body = (f'{self._tabs(p["slug"])}<table><thead><tr><th>Username</th><th>Name</th>'
            f"<th>Role</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<h2>Invite a member</h2><form method="post" action="/p/{p["slug"]}/members">'
            '<p><label for="m-user">Username</label> <input id="m-user" name="username"></p>'
            f'<p><label for="m-role">Role</label> <select id="m-role" name="role">{roles}'
            '</select></p><p><label for="m-message">Invitation message (optional)</label><br>'
            '<textarea id="m-message" name="message" rows="3" cols="60"></textarea></p>'
            '<p><button type="submit">Invite</button></p></form>')
    return self.page(req, f'{p["name"]} members', body, flash)

  def add_member(self, req: Request) -> Response:
    p = self._project(req)
    if p is None:
      return self.not_found(req, "Project")
    user, role = req.form.get("username", "").strip(), req.form.get("role", "")
    if p["members"].get(req.user) != "Maintainer":
      return self.members(req, "Only maintainers can invite members.")
    if user not in self.state["users"] or role not in ROLES:
      return self.members(req, f"No such user: {user}")
    p["members"][user] = role
    self.state["invitations"].append({"project": p["slug"], "user": user, "role": role,
                                      "by": req.user, "message": req.form.get("message", "")})
    return self.members(req, f"{user} is now a {role}.")
