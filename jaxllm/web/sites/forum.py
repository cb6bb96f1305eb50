"""Sandbox discussion forum: forums, posts, comments and votes (a small Reddit-like site).

State layout: `forums` {slug: {title, description}}, `posts` {id: {id, forum, title, body, author,
votes: {user: +1|-1}, comments: [{id, author, body}]}}, `users` {username: {...}}.
"""
from __future__ import annotations

from typing import Any

from jaxllm.web.sites.framework import Request, Response, Site, esc, redirect

_FORUMS = {
  "gardening": ("Gardening", "Soil, seeds and everything that grows."),
  "cooking": ("Cooking", "Recipes, techniques and kitchen disasters."),
  "cycling": ("Cycling", "Road, gravel and commuting by bike."),
}
_POSTS = [
  # (forum, title, author, body, score-seed voters)
  ("gardening", "Tomato leaves turning yellow", "river.stone",
   "My tomato plants have yellow lower leaves. Too much water?", ["maple.jones"]),
  ("gardening", "Best ground cover for shade", "maple.jones",
   "Looking for something that survives under an oak tree.", []),
  ("gardening", "Composting in a small flat", "ash.patel",
   "Has anyone tried a bokashi bin indoors?", ["river.stone", "maple.jones"]),
  ("cooking", "Sourdough starter smells like nail polish", "ash.patel",
   "Day six of my starter and it smells of acetone. Normal?", ["river.stone"]),
  ("cooking", "Weeknight curry ideas", "river.stone",
   "Need quick curries under thirty minutes.", []),
  ("cycling", "Tubeless tyre keeps losing air", "maple.jones",
   "Sealant added twice, still flat after two days.", ["ash.patel"]),
  ("cycling", "Commuting in winter rain", "ash.patel",
   "Mudguards, overshoes, what else do I need?", []),
]
_COMMENTS = {1: [("maple.jones", "Probably overwatering; let the soil dry out.")],
             4: [("river.stone", "Feed it more often, the smell goes away.")]}


class ForumSite(Site):
  """The forum."""
  name = "forum"
  title = "Postmill Forum"

  def seed(self) -> dict[str, Any]:
    users = {u: {"password": "forum123", "name": n} for u, n in [
      ("river.stone", "River Stone"), ("maple.jones", "Maple Jones"), ("ash.patel", "Ash Patel")]}
    posts, cid = {}, 1
    for i, (forum, title, author, body, voters) in enumerate(_POSTS, start=1):
      comments = []
      for c_author, c_body in _COMMENTS.get(i, []):
        comments.append({"id": cid, "author": c_author, "body": c_body})
        cid += 1
      posts[str(i)] = {"id": str(i), "forum": forum, "title": title, "author": author,
                       "body": body, "votes": {v: 1 for v in voters}, "comments": comments}
    forums = {k: {"title": t, "description": d} for k, (t, d) in _FORUMS.items()}
    return {"users": users, "forums": forums, "posts": posts,
            "_next": {"post": len(posts) + 1, "comment": cid}}

  def nav(self, req: Request) -> str:
    links = "".join(f'<a href="/f/{k}">f/{k}</a>' for k in _FORUMS)
    return f'{links}<a href="/submit">Submit a post</a>'

  def register(self) -> None:
    self.route("GET", "/", self.home)
    self.route("GET", r"/f/(\w+)", self.forum)
    self.route("GET", r"/post/(\d+)", self.post)
    self.route("POST", r"/post/(\d+)/vote", self.vote, login=True)
    self.route("POST", r"/post/(\d+)/comment", self.comment, login=True)
    self.route("GET", "/submit", self.submit_form, login=True)
    self.route("POST", "/submit", self.submit, login=True)
    self.route("GET", r"/user/([\w.]+)", self.user)

  @staticmethod
  def score(post: dict[str, Any]) -> int:
    return sum(post["votes"].values())

  def _vote_buttons(self, req: Request, post: dict[str, Any]) -> str:
    mine = post["votes"].get(req.user or "", 0)
    buttons = []
    for direction, label, value in (("up", "Upvote", 1), ("down", "Downvote", -1)):
      pressed = "true" if mine == value else "false"
      buttons.append(
        f'<form class="inline" method="post" action="/post/{post["id"]}/vote">'
        f'<input type="hidden" name="dir" value="{direction}"><button type="submit" '
        f'aria-pressed="{pressed}" aria-label="{label} {esc(post["title"])}">{label}</button>'
        "</form>")
    return (f'{buttons[0]} <span class="score">{self.score(post)} points</span> {buttons[1]}')

  def _post_list(self, req: Request, posts: list[dict[str, Any]]) -> str:
    posts = sorted(posts, key=lambda p: (-self.score(p), int(p["id"])))
    rows = "".join(
      f'<article class="item"><h2><a href="/post/{p["id"]}">{esc(p["title"])}</a></h2>'
      f'<p>in <a href="/f/{p["forum"]}">f/{p["forum"]}</a> by '
      f'<a href="/user/{p["author"]}">{esc(p["author"])}</a> - {len(p["comments"])} comments</p>'
      f"{self._vote_buttons(req, p)}</article>" for p in posts)
    return rows or "<p>No posts yet.</p>"

  def home(self, req: Request) -> Response:
    forums = "".join(f'<li><a href="/f/{k}">f/{k}</a>: {esc(v["description"])}</li>'
                     for k, v in self.state["forums"].items())
    body = (f"<h2>Forums</h2><ul>{forums}</ul><h2>Popular posts</h2>"
            + self._post_list(req, list(self.state["posts"].values())))
    return self.page(req, "Front page", body)

  def forum(self, req: Request) -> Response:
    slug = req.params[0]
    if slug not in self.state["forums"]:
      return self.not_found(req, "Forum")
    posts = [p for p in self.state["posts"].values() if p["forum"] == slug]
    return self.page(req, f"f/{slug}", self._post_list(req, posts))

  def post(self, req: Request, flash: str = "") -> Response:
    p = self.state["posts"].get(req.params[0])
    if p is None:
      return self.not_found(req, "Post")
    comments = "".join(
      f'<li class="item comment" id="comment-{c["id"]}"><p><a href="/user/{c["author"]}">'
      f'{esc(c["author"])}</a> wrote:</p><p>{esc(c["body"])}</p></li>' for c in p["comments"])
    body = (f'<p>in <a href="/f/{p["forum"]}">f/{p["forum"]}</a> by '
            f'<a href="/user/{p["author"]}">{esc(p["author"])}</a></p>'
            f'<div class="item">{esc(p["body"])}</div>{self._vote_buttons(req, p)}'
            f'<h2>Comments</h2><ul>{comments or "<li>No comments yet.</li>"}</ul>'
            f'<form method="post" action="/post/{p["id"]}/comment">'
            '<p><label for="comment-body">Your comment</label><br>'
            '<textarea id="comment-body" name="body" rows="4" cols="60"></textarea></p>'
            '<p><button type="submit">Post comment</button></p></form>')
    return self.page(req, p["title"], body, flash)

  def vote(self, req: Request) -> Response:
    p = self.state["posts"].get(req.params[0])
    if p is None:
      return self.not_found(req, "Post")
    value = {"up": 1, "down": -1}.get(req.form.get("dir", ""), 0)
    if value == 0 or p["votes"].get(req.user) == value:
      p["votes"].pop(req.user, None)  # voting the same way twice takes the vote back
    else:
      p["votes"][req.user] = value
    return redirect(f"/post/{p['id']}")

  def comment(self, req: Request) -> Response:
    p = self.state["posts"].get(req.params[0])
    if p is None:
      return self.not_found(req, "Post")
    text = req.form.get("body", "").strip()
    if not text:
      return self.post(req, "A comment cannot be empty.")
    p["comments"].append({"id": self.next_id("comment"), "author": req.user, "body": text})
    return redirect(f"/post/{p['id']}")

  def submit_form(self, req: Request, flash: str = "") -> Response:
    options = "".join(f'<option value="{k}">f/{k}</option>' for k in self.state["forums"])
    body = ('<form method="post" action="/submit">'
            f'<p><label for="s-forum">Forum</label> <select id="s-forum" name="forum">{options}'
            '</select></p><p><label for="s-title">Title</label> '
            '<input id="s-title" name="title" size="60"></p>'
            '<p><label for="s-body">Body</label><br><textarea id="s-body" name="body" rows="6" '
            'cols="60"></textarea></p><p><button type="submit">Create post</button></p></form>')
    return self.page(req, "Submit a post", body, flash)

  def submit(self, req: Request) -> Response:
    forum, title = req.form.get("forum", ""), req.form.get("title", "").strip()
    if forum not in self.state["forums"] or not title:
      return self.submit_form(req, "Choose a forum and write a title.")
    pid = str(self.next_id("post"))
    self.state["posts"][pid] = {"id": pid, "forum": forum, "title": title, "author": req.user,
                                "body": req.form.get("body", ""), "votes": {}, "comments": []}
    return redirect(f"/post/{pid}")

  def user(self, req: Request) -> Response:
    name = req.params[0]
    if name not in self.state["users"]:
      return self.not_found(req, "User")
    posts = [p for p in self.state["posts"].values() if p["author"] == name]
    return self.page(req, f"u/{name}", self._post_list(req, posts))
