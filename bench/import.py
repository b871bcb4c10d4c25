"""Import benchmark: ``cio-pipeline import`` beside a Python loop calling ``identify`` per row.

    .venv/bin/python bench/import.py [--rows 200000]

Writes a CSV of ``--rows`` people (id, email, zip, plan, created_at, age), starts a private
redis-server on a free loopback port (so nothing else moves its memory figure; no workers, so
every job stays queued), and runs, each in a fresh child process:

- ``cio-pipeline import`` (validation included, ``--progress plain``): rows/s (wall, from
  process start to exit), rows per CPU second of the process (what load elsewhere on a shared
  machine moves least) and peak RSS;
  then Redis ``used_memory`` growth per queued operation;
- the baseline: ``csv.DictReader`` and ``CustomerIO.identify(...)`` per row, one round trip
  each (the "looping individual identify calls" the import replaces).

Goal: at least 30,000 rows/s for the import on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This script is named like nothing it imports, but keep its folder off the path as the
# other benchmarks do.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402

from cio_pipeline.devtools.redis_server import RedisStartError, start_redis_server  # noqa: E402
from cio_pipeline.worker.core.lifecycle import stop  # noqa: E402

_LOOP = """
import csv, sys
from cio_pipeline.producer import CustomerIO, Settings
cio = CustomerIO(settings=Settings(redis_url=sys.argv[2]))
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        person = row.pop("id")
        cio.identify(person, **{k: v for k, v in row.items() if v != ""})
"""


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w") as f:
        f.write("id,email,zip,plan,created_at,age\n")
        for n in range(rows):
            f.write(
                f"p{n % 50_000},p{n}@example.com,02134,pro,2024-01-0{1 + n % 9}T00:00:00Z,"
                f"{n % 90}\n"
            )


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run a child to its end; wall seconds, CPU seconds (user + system) and peak RSS
    (bytes). On a shared machine the wall figure moves with the neighbours' load; the CPU
    figure much less, so it is the one to compare across runs."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise SystemExit(f"{args[:4]} exited with {process.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows
    work = Path(tempfile.mkdtemp(prefix="cio-bench-import-"))
    try:
        server, port = start_redis_server(str(work))
    except RedisStartError as error:
        shutil.rmtree(work, ignore_errors=True)
        raise SystemExit(str(error)) from None
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        csv_path = work / "people.csv"
        _write_csv(csv_path, rows)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "REDIS_URL"))}
        env["REDIS_URL"] = url
        before = int(client.info("memory")["used_memory"])
        ours, ours_cpu, ours_rss = _child(
            [
                sys.executable,
                "-m",
                "cio_pipeline.worker.cli",
                "import",
                str(csv_path),
                "--progress",
                "plain",
                "--max-backlog",
                str(rows * 2),
            ],
            env,
        )
        queued = sum(int(client.llen(f"rq:queue:cio-track-{p}")) for p in range(8))
        per_job = (int(client.info("memory")["used_memory"]) - before) / max(1, queued)
        client.flushdb()
        loop, loop_cpu, loop_rss = _child([sys.executable, "-c", _LOOP, str(csv_path), url], env)
        client.flushdb()
        print(
            f"{rows:,} rows, {queued:,} queued by the import; load average "
            f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
        print(f"{'':32}{'rows/s':>10}{'rows/CPU-s':>12}{'peak RSS':>10}")
        print(
            f"{'cio-pipeline import':32}{rows / ours:>10,.0f}{rows / ours_cpu:>12,.0f}"
            f"{ours_rss / 2**20:>8.0f}MB"
        )
        print(
            f"{'identify() per row (baseline)':32}{rows / loop:>10,.0f}"
            f"{rows / loop_cpu:>12,.0f}{loop_rss / 2**20:>8.0f}MB"
        )
        print(f"ratio: {loop / ours:.1f}x the baseline's rows/s")
        print(
            f"Redis memory per queued operation: {per_job:,.0f} bytes "
            f"(1 GB holds {2**30 / per_job:,.0f})"
        )
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
