"""Send benchmark: what a transactional send's record costs the producer, per call.

    .venv/bin/python bench/sends.py [--calls 2000]

Interleaved, on a private ``redis-server`` (a free loopback port, no persistence, stopped
at the end), so that noise hits every row alike: a Redis ``PING``; the send's job write
(validated, as ``send_email`` did before sends had records); ``send_email`` as it is (the
record, then the job); ``cancel_send`` of a queued send. Prints each row's p50 in
microseconds and as a multiple of PING.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# This script is named like nothing in the package, but keep its folder off the path anyway.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from cio_pipeline.devtools.redis_server import RedisStartError, start_redis_server  # noqa: E402
from cio_pipeline.producer import APIClient, SendEmailRequest, Settings  # noqa: E402
from cio_pipeline.producer.jobs import send_job  # noqa: E402
from cio_pipeline.producer.sends import send_payload  # noqa: E402
from cio_pipeline.worker.core.lifecycle import stop  # noqa: E402

REQUEST = SendEmailRequest(
    transactional_message_id=1, to="ann@example.com", identifiers={"id": "42"}
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls
    with tempfile.TemporaryDirectory() as workdir:
        try:
            process, port = start_redis_server(workdir)
        except RedisStartError as error:
            raise SystemExit(str(error)) from None
        try:
            _measure(f"redis://127.0.0.1:{port}/0", calls)
        finally:
            stop(process)


def _measure(url: str, calls: int) -> None:
    api = APIClient("unused", settings=Settings(redis_url=url))
    counter = iter(range(10**9))

    def job_only() -> None:
        # the old send_email: validate, then write the job
        op = send_payload("email", REQUEST, SendEmailRequest)
        api._enqueuer.enqueue(send_job(op, f"j{next(counter)}", api.keys))

    def send() -> None:
        api.send_email(REQUEST, idempotency_key=f"s{next(counter)}")

    queued = [f"c{n}" for n in range(calls)]
    for key in queued:
        api.send_email(REQUEST, idempotency_key=key)
    cancel_keys = iter(queued)

    def cancel() -> None:
        api.cancel_send(next(cancel_keys))

    rows: dict[str, Callable[[], object]] = {
        "PING": api.redis.ping,
        "send_email before (job only)": job_only,
        "send_email (record + job)": send,
        "cancel_send (queued)": cancel,
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(calls):
        for name, call in rows.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    ping = statistics.median(times["PING"])
    print(f"{'per call, p50 of ' + str(calls):<32}{'us':>8}{'x PING':>9}")
    for name, samples in times.items():
        p50 = statistics.median(samples)
        print(f"{name:<32}{p50 * 1e6:>8.1f}{p50 / ping:>9.2f}")
    api.close()


if __name__ == "__main__":
    main()
