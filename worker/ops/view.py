"""The ``stats`` snapshot as text: a plain table for a core install (every row), and for
``--watch`` (the ``ops`` extra) a screen that fits the terminal: queues, partitions and
counts summarised in a fixed 18 lines that fit 80 columns, then as many live workers as
the height leaves ("and N more" for the rest), so the totals, workers and rates are always
on screen and nothing is cut mid-table."""

from __future__ import annotations

from typing import Any

__all__ = ["plain_lines", "rich_view", "sparkline", "watch_lines"]

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


def _per_s(value: float) -> str:
    return f"{value:,.1f}"


def _queue_lines(s: dict[str, Any]) -> list[str]:
    track = [q for q in s["queues"] if q["name"] in {p["queue"] for p in s["partitions"]}]
    others = [q for q in s["queues"] if q not in track]
    groups = [(f"track ({len(track)} partitions)", track)] + [(q["name"], [q]) for q in others]
    lines = [f"{'QUEUES':<26}{'queued':>10}{'oldest':>12}{'dead':>10}"]
    for name, queues in groups:
        ages = [q["oldest_age_s"] for q in queues if q["oldest_age_s"] is not None]
        lines.append(
            f"{name[:25]:<26}{sum(q['depth'] for q in queues):>10,}"
            f"{_age(max(ages) if ages else None):>12}{sum(q['dead_letters'] for q in queues):>10,}"
        )
    return lines


def _partition_line(s: dict[str, Any]) -> str:
    parts = s["partitions"]
    leased = sum(1 for p in parts if p["lease_holder"])
    claimed = sum(p["claimed"] for p in parts)
    paused = [p for p in parts if p["paused_for_s"]]
    pause = (
        f"{len(paused)} paused (longest {max(p['paused_for_s'] for p in paused):.1f} s)"
        if paused
        else "none paused"
    )
    return f"partitions: {leased} of {len(parts)} leased, {claimed:,} claimed, {pause}"


def _rate_lines(s: dict[str, Any]) -> list[str]:
    lines = [f"{'RATES (last 60 s)':<26}{'req/s':>10}{'limit/s':>12}{'use':>10}{'429s':>10}"]
    for x in s["surfaces"]:
        lines.append(
            f"{x['surface']:<26}{_per_s(x['requests_per_s']):>10}{x['limit_per_s']:>12g}"
            f"{x['use']:>10.0%}{x['429_last_minute']:>10,}"
        )
    return lines


def _count_lines(s: dict[str, Any]) -> list[str]:
    outcomes = ("delivered", "retried", "dead")
    header = f"{'OPERATIONS':<26}" + "".join(f"{o:>12}" for o in outcomes)
    lines = [header]
    windows = (("last 60 s", "last_1m"), ("last 5 min", "last_5m"), ("last hour", "last_60m"))
    for label, key in (*windows, ("all time", "total")):
        counts = s["counters"][key]
        cells = "".join(
            f"{sum(v for k, v in counts.items() if k.endswith('_' + o)):>12,}" for o in outcomes
        )
        lines.append(f"{label:<26}{cells}")
    return lines


def watch_lines(s: dict[str, Any], height: int = 24) -> list[str]:
    """The ``--watch`` screen: at most ``height - 1`` lines (the cursor keeps the last), none
    wider than 80 columns, workers summarised when they do not all fit."""
    top = [
        f"cio-pipeline stats  prefix {s['prefix']!r}  dead letters {s['dead_letters']:,}",
        *_queue_lines(s),
        _partition_line(s),
        *_rate_lines(s),
        *_count_lines(s),
        f"{'delivered/min, 1 h':<19}{sparkline(s['delivered_per_minute'][-60:])}",
    ]
    workers = s["workers"]
    room = max(1, height - 1 - len(top) - 1)  # one line for the WORKERS header
    lines = [*top, f"WORKERS: {len(workers)} live" if workers else "WORKERS: none live"]
    shown = workers if len(workers) <= room else workers[: room - 1]
    for w in shown:
        lines.append(
            f"  {w['name'][:48]:<48} {w['state'][:10]:<10} beat {_age(w['heartbeat_age_s'])} ago"
        )
    if len(shown) < len(workers):
        lines.append(f"  ... and {len(workers) - len(shown)} more ('cio-pipeline stats' lists all)")
    return lines


def rich_view(s: dict[str, Any], height: int = 24) -> Any:
    """:func:`watch_lines` as a ``rich`` renderable (import only with the ``ops`` extra)."""
    from rich.text import Text

    return Text("\n".join(watch_lines(s, height)), no_wrap=True, overflow="ellipsis")
