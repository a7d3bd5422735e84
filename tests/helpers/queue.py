"""The queue an order shows, ranked as the labeling session ranks it: the order's ``rank`` on
the rows the store hands out (the store itself ranks nothing)."""

from __future__ import annotations

from typing import Any

from tui_label.core import orders
from tui_label.core.orders import OrderChoice
from tui_label.core.types import QueueItem
from tui_label.errors import UsageError
from tui_label.store import Store


def queue_of(store: Store, order: OrderChoice | str = "unlabeled", class_id: int | None = None,
             model: Any = None, *, overlap: float = 0.0) -> list[QueueItem]:
    """``order`` (a choice, or an order's name with ``class_id`` where it needs a class)
    ranked over ``store``'s rows, with ``model`` for the orders that need one."""
    if isinstance(order, str):
        if order not in orders.ORDERS:
            raise UsageError(f"unknown order {order!r} (choose from {orders.usage()})")
        order = OrderChoice(order, class_id)
    return order.rank(store.rows_for(order.order.source, overlap), model)
