"""The trade a Celery task works on, from the ids its arguments name: an order, a parent order,
a fill, an account or a strategy, completed with the account and strategy they belong to (one
primary-key read) so that every line the task logs can be found by any of them."""

from __future__ import annotations

import inspect
from typing import Any

from celery import Task


def trade_ids_of_task(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, object]:
    try:
        bound = inspect.signature(task.run).bind_partial(*args, **kwargs).arguments
    except TypeError:  # arguments that do not fit: the task itself will say so
        return {}
    return trade_ids_of(
        order_id=bound.get("order_id"),
        parent_id=bound.get("parent_id"),
        fill_id=bound.get("fill_id"),
        account_id=bound.get("account_id"),
        strategy_id=bound.get("strategy_id"),
    )


def trade_ids_of(
    *,
    order_id: Any = None,
    parent_id: Any = None,
    fill_id: Any = None,
    account_id: Any = None,
    strategy_id: Any = None,
) -> dict[str, object]:
    from execution.models import Fill, Order, ParentOrder

    ids: dict[str, object] = {"account_id": account_id, "strategy_id": strategy_id}
    row: dict[str, Any] | None = None
    if fill_id is not None:
        found: Any = (
            Fill.objects.filter(pk=fill_id)
            .values("order_id", "order__parent_id", "order__account_id", "order__strategy_id")
            .first()
        )
        if found is not None:
            row = {key.removeprefix("order__"): value for key, value in found.items()}
    elif order_id is not None:
        found = (
            Order.objects.filter(pk=order_id)
            .values("account_id", "strategy_id", "parent_id")
            .first()
        )
        if found is not None:
            row = {**found, "order_id": order_id}
    elif parent_id is not None:
        found = ParentOrder.objects.filter(pk=parent_id).values("account_id", "strategy_id").first()
        if found is not None:
            row = {**found, "parent_id": parent_id}
    if row is not None:
        ids.update(
            order_id=row.get("order_id"),
            parent_order_id=row.get("parent_id"),
            account_id=row.get("account_id"),
            strategy_id=row.get("strategy_id"),
        )
    elif order_id is not None:
        ids["order_id"] = order_id  # an id that names nothing is still worth logging
    return {name: value for name, value in ids.items() if value is not None}
