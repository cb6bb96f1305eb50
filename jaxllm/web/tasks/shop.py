"""Shop tasks: wishlist and cart (utility checks in the style of WebArena's shopping site)."""
from __future__ import annotations

from typing import Any

from jaxllm.web.axtree import find_bid
from jaxllm.web.tasks.base import Task, register


class _ShopTask(Task):
  site = "shop"
  user = "emma.lewis"
  password = "market123"


@register
class WishlistAdd(_ShopTask):
  """Find a product through search and add it to the wishlist."""
  task_id = "shop.wishlist_add"
  goal = "Add the 'Chicken Tikka Masala Kit' to my wishlist."
  product_id, product = "1", "Chicken Tikka Masala Kit"

  def check(self, state: dict[str, Any]) -> bool:
    return self.product_id in state["wishlists"].get(self.user, [])

  def oracle(self, obs: dict[str, Any]) -> str:
    path = self.path(obs)
    if path == f"/product/{self.product_id}":
      return f"click({find_bid(obs, 'button', 'Add to wishlist')!r})"
    if path.startswith("/search"):
      return f"click({find_bid(obs, 'link', self.product)!r})"
    box = find_bid(obs, "textbox", "Search products")
    return f"fill({box!r}, 'tikka masala')\npress({box!r}, 'Enter')"


@register
class CartAdd(_ShopTask):
  """Browse a category and put a given quantity of a product in the cart."""
  task_id = "shop.cart_add"
  goal = "Put 3 units of the 'Cast Iron Skillet' in my shopping cart."
  product_id, product, qty = "7", "Cast Iron Skillet", 3

  def check(self, state: dict[str, Any]) -> bool:
    return state["carts"].get(self.user, {}).get(self.product_id) == self.qty

  def oracle(self, obs: dict[str, Any]) -> str:
    path = self.path(obs)
    if path == f"/product/{self.product_id}":
      qty = find_bid(obs, "spinbutton", "Quantity")
      return f"fill({qty!r}, '{self.qty}')\nclick({find_bid(obs, 'button', 'Add to cart')!r})"
    if path == "/category/kitchen":
      return f"click({find_bid(obs, 'link', self.product)!r})"
    return f"click({find_bid(obs, 'link', 'Kitchen')!r})"
