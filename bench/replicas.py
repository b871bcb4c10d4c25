"""What CIO_REDIS_MIN_REPLICAS=1 costs a producer call: identify() p50 with and without it,
beside a PING, on a private master + replica on loopback (started here, in a temp dir).

    .venv/bin/python bench/replicas.py [--calls 2000] [--rounds 3]

Samples are interleaved (one call of each kind in turn) so that machine noise hits all
three alike; the table prints each p50 and its ratio to PING's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Keep this folder off the import path (bench/producer.py is named like the package).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402

from cio_pipeline.devtools.redis_server import RedisStartError, start_redis_server  # noqa: E402
from cio_pipeline.producer import CustomerIO, Settings  # noqa: E402
from cio_pipeline.worker.core.lifecycle import stop  # noqa: E402


def _start(workdir: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    try:
        return start_redis_server(workdir, *extra)
    except RedisStartError as error:
        sys.exit(str(error))


@contextmanager
def master_and_replica() -> Iterator[int]:
    """A master and its replica on loopback; yields the master's port."""
    with tempfile.TemporaryDirectory() as master_dir, tempfile.TemporaryDirectory() as rdir:
        master_process, master_port = _start(master_dir)
        processes = [master_process]
        try:
            processes.append(_start(rdir, "--replicaof", "127.0.0.1", str(master_port))[0])
            master = redis.Redis(port=master_port)
            deadline = time.monotonic() + 30
            while master.info("replication").get("slave0", {}).get("state") != "online":
                if time.monotonic() > deadline:
                    sys.exit("the replica did not connect")
                time.sleep(0.05)
            yield master_port
        finally:
            for process in processes:
                stop(process)


def measure(calls: int, rounds: int) -> dict[str, float]:
    """p50 seconds of PING, identify(), identify() with MIN_REPLICAS=1."""
    with master_and_replica() as port:
        url = f"redis://127.0.0.1:{port}/0"
        ping_client = redis.Redis(port=port)
        plain = CustomerIO(settings=Settings(redis_url=url))
        durable = CustomerIO(settings=Settings(redis_url=url, redis_min_replicas=1))
        kinds: dict[str, Callable[[], object]] = {
            "PING": ping_client.ping,
            "identify()": lambda: plain.identify("42", plan="pro"),
            "identify(), MIN_REPLICAS=1": lambda: durable.identify("42", plan="pro"),
        }
        for call in kinds.values():
            call()  # connect and load the script outside the measurement
        samples: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(rounds * calls):
            for name, call in kinds.items():
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
        plain.close()
        durable.close()
        return {name: statistics.median(values) for name, values in samples.items()}


def report(calls: int, rounds: int) -> None:
    """Print the table."""
    p50 = measure(calls, rounds)
    ping = p50["PING"]
    print(f"{'master + 1 replica, loopback: p50':<36}{'us':>12}{'vs PING':>10}")
    for name, value in p50.items():
        print(f"{'  ' + name:<36}{value * 1e6:>12.0f}{value / ping:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report(args.calls, args.rounds)


if __name__ == "__main__":
    main()
