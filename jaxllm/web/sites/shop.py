"""Sandbox online shop: catalogue, search, product pages, cart, wishlist, account and contact form.

Seeded with a fixed grocery-and-home catalogue and two fake customers. State layout:
`products` {id: {...}}, `carts` {user: {product_id: qty}}, `wishlists` {user: [product_id]},
`orders` [...], `contact_messages` [...], `users` {username: {name, email, address,
delivery_notes, ...}} (the account page edits address and delivery notes). Product ids are strings
(JSON keys).
"""
from __future__ import annotations

from typing import Any

from jaxllm.web.sites.framework import Request, Response, Site, esc, redirect

_PRODUCTS = [
  # (name, category, price, description)
  ("Chicken Tikka Masala Kit", "pantry", 8.99, "Spice blend and sauce for four servings."),
  ("Basmati Rice 2kg", "pantry", 5.49, "Long-grain aged basmati rice."),
  ("Organic Rolled Oats", "pantry", 3.25, "Whole-grain oats, 1kg bag."),
  ("Dark Roast Coffee Beans", "pantry", 12.00, "Single-origin beans, 500g."),
  ("Green Tea Sampler", "pantry", 9.75, "Twelve varieties of loose-leaf green tea."),
  ("Stainless Steel Kettle", "kitchen", 34.90, "1.7 litre kettle with auto shut-off."),
  ("Cast Iron Skillet", "kitchen", 27.50, "Pre-seasoned 26cm skillet."),
  ("Bamboo Cutting Board", "kitchen", 15.20, "Large board with juice groove."),
  ("Chef Knife 20cm", "kitchen", 45.00, "High-carbon stainless steel blade."),
  ("Cotton Bath Towel Set", "home", 29.99, "Set of four towels, grey."),
  ("Scented Soy Candle", "home", 11.40, "Lavender scent, 40 hour burn time."),
  ("Wool Throw Blanket", "home", 58.00, "Soft merino wool, 130x170cm."),
  ("LED Desk Lamp", "home", 39.95, "Dimmable lamp with USB charging port."),
  ("Yoga Mat", "sport", 22.00, "6mm non-slip mat with strap."),
  ("Running Water Bottle", "sport", 9.10, "Insulated 750ml bottle."),
  ("Resistance Band Set", "sport", 18.60, "Five bands of increasing strength."),
]
_CATEGORIES = {"pantry": "Pantry", "kitchen": "Kitchen", "home": "Home", "sport": "Sport"}


class ShopSite(Site):
  """The online shop."""
  name = "shop"
  title = "OneStop Market"

  def seed(self) -> dict[str, Any]:
    products = {
      str(i + 1): {"id": str(i + 1), "name": n, "category": c, "price": p, "description": d}
      for i, (n, c, p, d) in enumerate(_PRODUCTS)}
    users = {
      "emma.lewis": {"password": "market123", "name": "Emma Lewis",
                     "email": "emma.lewis@example.com", "address": "12 Elm Row, Springfield",
                     "delivery_notes": ""},
      "omar.haddad": {"password": "market456", "name": "Omar Haddad",
                      "email": "omar.haddad@example.com", "address": "4 Quay Street, Riverton",
                      "delivery_notes": ""},
    }
    orders = [
      {"id": "1042", "user": "emma.lewis", "date": "2024-03-02", "items": {"2": 1, "6": 1},
       "status": "Delivered"},
      {"id": "1057", "user": "emma.lewis", "date": "2024-04-18", "items": {"14": 2},
       "status": "Shipped"},
      {"id": "1063", "user": "omar.haddad", "date": "2024-05-01", "items": {"4": 3},
       "status": "Processing"},
    ]
    return {"users": users, "products": products, "orders": orders,
            "carts": {"emma.lewis": {"3": 1}, "omar.haddad": {}},
            "wishlists": {"emma.lewis": ["11"], "omar.haddad": []},
            "contact_messages": []}

  def nav(self, req: Request) -> str:
    links = "".join(f'<a href="/category/{k}">{esc(v)}</a>' for k, v in _CATEGORIES.items())
    return (f'{links}<form class="inline" role="search" method="get" action="/search">'
            '<input name="q" aria-label="Search products" placeholder="Search products"> '
            '<button type="submit">Search</button></form>'
            '<a href="/cart">Cart</a><a href="/wishlist">Wishlist</a>'
            '<a href="/account">My account</a><a href="/contact">Contact us</a>')

  def register(self) -> None:
    self.route("GET", "/", self.home)
    self.route("GET", r"/category/(\w+)", self.category)
    self.route("GET", "/search", self.search)
    self.route("GET", r"/product/(\d+)", self.product)
    self.route("GET", "/cart", self.cart, login=True)
    self.route("POST", "/cart/add", self.cart_add, login=True)
    self.route("POST", "/cart/remove", self.cart_remove, login=True)
    self.route("GET", "/wishlist", self.wishlist, login=True)
    self.route("POST", "/wishlist/add", self.wishlist_add, login=True)
    self.route("POST", "/wishlist/remove", self.wishlist_remove, login=True)
    self.route("GET", "/account", self.account, login=True)
    self.route("POST", "/account", self.account_edit, login=True)
    self.route("GET", "/contact", self.contact)
    self.route("POST", "/contact", self.contact_send)

  # ---------------------------------------------------------------- catalogue
  def _list(self, products: list[dict[str, Any]]) -> str:
    if not products:
      return "<p>No products found.</p>"
    rows = "".join(
      f'<li class="item"><a href="/product/{p["id"]}">{esc(p["name"])}</a> '
      f'<span class="price">${p["price"]:.2f}</span></li>' for p in products)
    return f'<ul class="products">{rows}</ul>'

  def home(self, req: Request) -> Response:
    body = self._list(list(self.state["products"].values()))
    body += ('<footer><p>Partner offers at <a href="http://partner.example.com/deals">'
             'partner.example.com</a></p></footer>')
    return self.page(req, "All products", body)

  def category(self, req: Request) -> Response:
    slug = req.params[0]
    if slug not in _CATEGORIES:
      return self.not_found(req, "Category")
    items = [p for p in self.state["products"].values() if p["category"] == slug]
    return self.page(req, _CATEGORIES[slug], self._list(items))

  def search(self, req: Request) -> Response:
    q = req.query.get("q", "").strip().lower()
    words = q.split()
    items = [p for p in self.state["products"].values()
             if words and all(w in (p["name"] + " " + p["description"]).lower() for w in words)]
    return self.page(req, f'Search results for "{req.query.get("q", "")}"', self._list(items))

  def product(self, req: Request) -> Response:
    p = self.state["products"].get(req.params[0])
    if p is None:
      return self.not_found(req, "Product")
    body = (f'<p class="price">Price: ${p["price"]:.2f}</p><p>{esc(p["description"])}</p>'
            f'<p>Category: <a href="/category/{p["category"]}">'
            f'{esc(_CATEGORIES[p["category"]])}</a></p>'
            f'<form method="post" action="/cart/add"><input type="hidden" name="product" '
            f'value="{p["id"]}"><label for="qty">Quantity</label> '
            '<input id="qty" name="qty" type="number" min="1" max="99" value="1"> '
            '<button type="submit">Add to cart</button></form>'
            f'<form method="post" action="/wishlist/add"><input type="hidden" name="product" '
            f'value="{p["id"]}"><button type="submit">Add to wishlist</button></form>')
    return self.page(req, p["name"], body)

  # ---------------------------------------------------------------- cart and wishlist
  def cart(self, req: Request, flash: str = "") -> Response:
    cart = self.state["carts"].setdefault(req.user, {})
    if not cart:
      return self.page(req, "Shopping cart", "<p>Your cart is empty.</p>", flash)
    rows, total = [], 0.0
    for pid, qty in cart.items():
      p = self.state["products"][pid]
      total += qty * p["price"]
      rows.append(f'<tr><td><a href="/product/{pid}">{esc(p["name"])}</a></td><td>{qty}</td>'
                  f'<td><form method="post" action="/cart/remove"><input type="hidden" '
                  f'name="product" value="{pid}"><button type="submit" aria-label="Remove '
                  f'{esc(p["name"])} from cart">Remove</button></form></td></tr>')
    body = ('<table><thead><tr><th>Product</th><th>Quantity</th><th></th></tr></thead><tbody>'
            + "".join(rows) + f"</tbody></table><p>Total: ${total:.2f}</p>")
    return self.page(req, "Shopping cart", body, flash)

  def cart_add(self, req: Request) -> Response:
    pid = req.form.get("product", "")
    try:
      qty = int(req.form.get("qty", "1"))
    except ValueError:
      qty = 0
    if pid not in self.state["products"] or not 1 <= qty <= 99:
      return self.cart(req, "Could not add that item.")
    cart = self.state["carts"].setdefault(req.user, {})
    cart[pid] = cart.get(pid, 0) + qty
    return self.cart(req, f'Added {qty} x {self.state["products"][pid]["name"]} to your cart.')

  def cart_remove(self, req: Request) -> Response:
    self.state["carts"].setdefault(req.user, {}).pop(req.form.get("product", ""), None)
    return redirect("/cart")

  def wishlist(self, req: Request, flash: str = "") -> Response:
    items = self.state["wishlists"].setdefault(req.user, [])
    if not items:
      return self.page(req, "My wishlist", "<p>Your wishlist is empty.</p>", flash)
    rows = "".join(
      f'<li class="item"><a href="/product/{pid}">{esc(self.state["products"][pid]["name"])}</a>'
      f' <form class="inline" method="post" action="/wishlist/remove"><input type="hidden" '
      f'name="product" value="{pid}"><button type="submit" aria-label="Remove '
      f'{esc(self.state["products"][pid]["name"])} from wishlist">Remove</button></form></li>'
      for pid in items)
    return self.page(req, "My wishlist", f"<ul>{rows}</ul>", flash)

  def wishlist_add(self, req: Request) -> Response:
    pid = req.form.get("product", "")
    if pid not in self.state["products"]:
      return self.wishlist(req, "Unknown product.")
    items = self.state["wishlists"].setdefault(req.user, [])
    if pid not in items:
      items.append(pid)
    return self.wishlist(req, f'Added {self.state["products"][pid]["name"]} to your wishlist.')

  def wishlist_remove(self, req: Request) -> Response:
    items = self.state["wishlists"].setdefault(req.user, [])
    pid = req.form.get("product", "")
    if pid in items:
      items.remove(pid)
    return redirect("/wishlist")

  # ---------------------------------------------------------------- account and contact
  def account(self, req: Request, flash: str = "") -> Response:
    u = self.state["users"][req.user]
    orders = [o for o in self.state["orders"] if o["user"] == req.user]
    rows = "".join(
      f'<tr><td>#{o["id"]}</td><td>{o["date"]}</td><td>{esc(o["status"])}</td><td>'
      + ", ".join(f'{q} x {esc(self.state["products"][pid]["name"])}'
                  for pid, q in o["items"].items()) + "</td></tr>" for o in orders)
    notes = u.get("delivery_notes", "")
    body = (f'<section id="profile"><h2>Profile</h2><p>Name: {esc(u["name"])}</p>'
            f'<p>Email: {esc(u["email"])}</p><p>Address: {esc(u["address"])}</p>'
            f'<p>Delivery notes: {esc(notes) or "none"}</p></section>'
            '<section><h2>Edit profile</h2><form method="post" action="/account">'
            f'<p><label for="a-address">Address</label> <input id="a-address" name="address" '
            f'size="50" value="{esc(u["address"])}"></p>'
            '<p><label for="a-notes">Delivery notes</label><br><textarea id="a-notes" '
            f'name="delivery_notes" rows="3" cols="50">{esc(notes)}</textarea></p>'
            '<p><button type="submit">Save changes</button></p></form></section>'
            '<section><h2>Orders</h2><table><thead><tr><th>Order</th><th>Date</th>'
            f'<th>Status</th><th>Items</th></tr></thead><tbody>{rows}</tbody></table></section>')
    return self.page(req, "My account", body, flash)

  def account_edit(self, req: Request) -> Response:
    address = req.form.get("address", "").strip()
    if not address:
      return self.account(req, "The address cannot be empty.")
    u = self.state["users"][req.user]
    u["address"] = address
    u["delivery_notes"] = req.form.get("delivery_notes", "").strip()
    return self.account(req, "Your profile was saved.")

  def contact(self, req: Request, flash: str = "") -> Response:
    body = ('<form method="post" action="/contact">'
            '<p><label for="c-name">Your name</label> <input id="c-name" name="name"></p>'
            '<p><label for="c-email">Email</label> <input id="c-email" name="email" '
            'type="email"></p>'
            '<p><label for="c-topic">Topic</label> <select id="c-topic" name="topic">'
            '<option value="order">Order problem</option>'
            '<option value="product">Product question</option>'
            '<option value="other">Other</option></select></p>'
            '<p><label for="c-message">Message</label> '
            '<textarea id="c-message" name="message" rows="5" cols="50"></textarea></p>'
            '<p><button type="submit">Send message</button></p></form>')
    return self.page(req, "Contact us", body, flash)

  def contact_send(self, req: Request) -> Response:
    msg = {k: req.form.get(k, "") for k in ("name", "email", "topic", "message")}
    if not msg["message"].strip():
      return self.contact(req, "Please write a message.")
    msg["user"] = req.user
    self.state["contact_messages"].append(msg)
    return self.contact(req, "Thank you, your message was sent.")
