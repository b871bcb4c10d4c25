"""The ``stats`` snapshot as text: a plain table for a core install, a ``rich`` view for
``--watch`` (the ``ops`` extra) with a per-minute throughput sparkline."""

from __future__ import annotations

from typing import Any

__all__ = ["plain_lines", "rich_view", "sparkline"]

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """One character per value, scaled to the largest."""
    top = max(values, default=0)
    if top == 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[round(v / top * (len(_BARS) - 1))] for v in values)


def _age(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (
            f"queue {q['name']}",
            f"{q['depth']} queued, oldest {_age(q['oldest_age_s'])}, {q['dead_letters']} dead",
        )
        for q in s["queues"]
    ]
    for p in s["partitions"]:
        pause = (
            f", paused {p['paused_for_s']:.1f} s ({p['pause_reason']})" if p["paused_for_s"] else ""
        )
        rows.append(
            (
                f"partition {p['partition']}",
                f"lease {p['lease_holder'] or '-'}, claimed {p['claimed']}{pause}",
            )
        )
    for x in s["surfaces"]:
        rows.append(
            (
                f"surface {x['surface']}",
                f"{x['requests_per_s']:.1f}/s of {x['limit_per_s']:g}/s, "
                f"429s last minute {x['429_last_minute']}",
            )
        )
    for window in ("last_1m", "last_5m", "last_60m"):
        counts = s["counters"][window]
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if "latency" not in k)
        rows.append((f"counters {window}", shown or "-"))
    if s["track_ops_per_request"] is not None:
        rows.append(("operations per Track request", str(s["track_ops_per_request"])))
    if s["webhooks"]:
        rows.append(("webhooks", ", ".join(f"{k} {v}" for k, v in s["webhooks"].items())))
    rows.append(("dead letters", str(s["dead_letters"])))
    for w in s["workers"]:
        rows.append(
            (f"worker {w['name']}", f"{w['state']}, heartbeat {_age(w['heartbeat_age_s'])} ago")
        )
    if not s["workers"]:
        rows.append(("workers", "none live"))
    rows.append(("delivered/minute, last hour", sparkline(s["delivered_per_minute"])))
    return rows


def plain_lines(s: dict[str, Any]) -> list[str]:
    """The snapshot as aligned lines (no extra needed)."""
    rows = _rows(s)
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


def rich_view(s: dict[str, Any]) -> Any:
    """The snapshot as a ``rich`` table (import only with the ``ops`` extra)."""
    from rich.table import Table

    table = Table(title=f"cio-pipeline stats (prefix {s['prefix']!r})")
    table.add_column("what")
    table.add_column("now")
    for name, value in _rows(s):
        table.add_row(name, value)
    return table
