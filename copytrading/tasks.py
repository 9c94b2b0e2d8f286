"""Celery tasks of copy trading (thin: each calls a service and is idempotent)."""

from __future__ import annotations

from celery import shared_task

from copytrading.services.mirroring import copy_stop_loss_check, mirror_fill
from copytrading.services.reconciliation import copy_orphans_report
from copytrading.services.snapshots import equity_snapshots_take


@shared_task(name="copytrading.mirror_fill")
def mirror_fill_task(fill_id: int) -> int:
    """One task per leader fill (never per follower); a repeat writes nothing."""
    return len(mirror_fill(fill_id=fill_id).orders)


@shared_task(name="copytrading.check_copy_stop_losses")
def check_copy_stop_losses() -> int:
    return len(copy_stop_loss_check())


@shared_task(name="copytrading.take_equity_snapshots")
def take_equity_snapshots() -> int:
    """Once a day: a repeat the same day writes nothing (unique per day)."""
    return equity_snapshots_take().subscriptions


@shared_task(name="copytrading.report_copy_orphans")
def report_copy_orphans() -> int:
    return len(copy_orphans_report())
