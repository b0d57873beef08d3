"""Retention: attendance rows and ground-rule acceptances are deleted once they are
older than the retention period (settings.retention_days), at server start and
then every hour while the server runs.

The audit log is not touched: it is append-only (NEN 7513) and holds pseudonymous
ids only. Each run that deletes something writes one audit entry with the counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from grouproom.store.records import AuditEntry
from grouproom.store.store import RetentionCounts, Store

logger = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0  # seconds between runs
RETENTION_ACTOR = "retention"


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def apply_retention(store: Store, days: int, now: datetime) -> RetentionCounts:
    """One run: delete what is older than `days` before `now`; audit the counts."""
    counts = await store.delete_expired(now - timedelta(days=days))
    if counts.total:
        await store.append_audit(
            AuditEntry(
                now,
                RETENTION_ACTOR,
                "system",
                "retention",
                None,
                None,
                f"older than {days} days: {counts.attendance} attendance rows, "
                f"{counts.acceptances} rule acceptances deleted",
            )
        )
        logger.info(
            "retention: %d attendance rows and %d rule acceptances older than %d days deleted",
            counts.attendance,
            counts.acceptances,
            days,
        )
    return counts


async def keep_applying_retention(
    store: Store,
    days: int,
    interval: float = RETENTION_INTERVAL,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """Run retention every `interval` seconds until cancelled. A failed run (the
    database out of reach) is logged and tried again at the next interval."""
    while True:
        await asyncio.sleep(interval)
        try:
            await apply_retention(store, days, clock())
        except Exception as exc:
            logger.error("retention run failed: %s", type(exc).__name__)
