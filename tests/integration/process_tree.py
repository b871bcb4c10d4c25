"""Helpers of the process-manager tests (honcho, supervisord): a process's descendants as
/proc shows them, and whether each is still alive (a reused pid is not the same process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Proc:
    """A process as /proc shows it; ``started`` tells a reused pid from the same process."""

    pid: int
    ppid: int
    started: int
    state: str
    command: str


def scan() -> dict[int, Proc]:
    """Every process /proc lists now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        found[pid] = Proc(pid, int(fields[1]), int(fields[19]), fields[0], command)
    return found


def descendants(root: int) -> list[Proc]:
    """The children of ``root``, their children, and so on."""
    table = scan()
    family: list[Proc] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p in table.values() if p.ppid == parent]
        family += children
        frontier += [c.pid for c in children]
    return family


def alive(proc: Proc) -> bool:
    """``proc`` itself still runs (not a zombie, not another process on its pid)."""
    now = scan().get(proc.pid)
    return now is not None and now.started == proc.started and now.state != "Z"


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.1)  # polling processes and ports that announce nothing else


def answers(url: str) -> bool:
    """``GET url`` answers 200."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
