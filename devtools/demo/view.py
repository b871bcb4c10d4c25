"""The demo's screens (rich): the live progress panel and the closing summary."""

from __future__ import annotations

from rich.table import Table

from cio_pipeline.devtools.demo.privacy import Privacy
from cio_pipeline.devtools.demo.progress import JobCounts, Traffic
from cio_pipeline.devtools.demo.webhook_loop import GuardedSend, LoopState
from cio_pipeline.devtools.demo.workload import Produced
from cio_pipeline.worker.deadletters.store import DeadLetterEntry

__all__ = ["live_table", "summary_table"]


def _suppressions(loop: LoopState) -> str:
    by_reason = ", ".join(f"{reason} {n}" for reason, n in sorted(loop.suppressions.items()))
    return f"{len(loop.suppressed)} ({by_reason})" if by_reason else "0"


def _webhook_rows(table: Table, loop: LoopState) -> None:
    table.add_row(
        "webhook events received / processed",
        f"{loop.received} / {loop.processed + loop.duplicates}",
    )
    table.add_row("suppressions recorded", _suppressions(loop))
    table.add_row("sends skipped (suppressed)", str(loop.skipped_sends))


def live_table(
    planned: int,
    produced: Produced,
    counts: JobCounts,
    traffic: Traffic,
    track_limit: float,
    loop: LoopState,
) -> Table:
    """One refresh of the live progress panel."""
    table = Table(title="cio-pipeline demo: live", show_header=False, min_width=52)
    table.add_column(style="bold")
    table.add_column(justify="right")
    done = counts.delivered + counts.dead
    table.add_row("produced", f"{len(produced.job_ids)} / {planned}")
    table.add_row("queued (not yet delivered)", str(counts.pending))
    table.add_row("delivered", f"[green]{counts.delivered}[/]")
    table.add_row("dead-lettered", f"[red]{counts.dead}[/]" if counts.dead else "0")
    table.add_row("done", f"{done / planned:.0%}")
    table.add_row(
        "Track requests/s (last second)", f"{traffic.track_rate_now:.0f} / limit {track_limit:.0f}"
    )
    table.add_row("operations per batch request", f"{traffic.ops_per_batch:.1f}")
    table.add_row("429s absorbed", str(traffic.rate_limited))
    _webhook_rows(table, loop)
    return table


def summary_table(
    produced: Produced,
    counts: JobCounts,
    traffic: Traffic,
    dead: list[DeadLetterEntry],
    wall_s: float,
    track_limit: float,
    loop: LoopState,
    guarded: GuardedSend | None,
    privacy: Privacy | None = None,
) -> Table:
    """The closing summary."""
    table = Table(title="cio-pipeline demo: summary", show_header=False, min_width=52)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("operations produced", str(len(produced.job_ids)))
    for kind, ids in produced.by_kind.items():
        table.add_row(f"  {kind}", str(len(ids)))
    table.add_row("delivered", f"[green]{counts.delivered}[/]")
    table.add_row("dead letters", f"[red]{counts.dead}[/]" if counts.dead else "0")
    for entry in dead:
        status = entry.status if entry.status is not None else "-"
        table.add_row(
            f"  {entry.operation or entry.description}",
            f"HTTP {status}: {entry.message or entry.reason}",
        )
    table.add_row("still queued", str(counts.pending))
    table.add_row(
        "HTTP requests: Track / App", f"{traffic.track_requests} / {traffic.app_requests}"
    )
    table.add_row(
        "operations per /api/v2/batch request",
        f"{traffic.ops_per_batch:.1f} ({traffic.batch_requests} requests)",
    )
    table.add_row("peak Track requests in 1 s", f"{traffic.peak_rate} (limit {track_limit:.0f})")
    table.add_row("429s absorbed (retried, nothing lost)", str(traffic.rate_limited))
    table.add_row("transactional sends", str(traffic.sends))
    _webhook_rows(table, loop)
    if loop.duplicates or loop.failed:
        table.add_row("  of which repeats / failed", f"{loop.duplicates} / {loop.failed}")
    for address, reason in sorted(loop.suppressed.items()):
        table.add_row(f"  {address}", reason)
    if guarded is not None:
        result = guarded.result or {}
        shown = (
            f"skipped: {result['reason']}"
            if result.get("skipped")
            else str(result or "not finished")
        )
        table.add_row(f"  guarded send to {guarded.address}", shown)
    if privacy is not None:
        table.add_row(
            "cancelled send",
            f"{privacy.cancel_result}: "
            + ("[red]sent[/]" if privacy.reminder_sent else "never sent"),
        )
        delete = "delete delivered" if privacy.delete_delivered else "[red]delete not delivered[/]"
        table.add_row(
            "erased person",
            f"{privacy.dropped} of {privacy.queued_for_erased} queued operations dropped, {delete}",
        )
    table.add_row("wall time", f"{wall_s:.1f} s")
    return table
