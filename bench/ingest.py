"""Benchmark: signed 10-event HubSpot deliveries per second through the Procfile's gunicorn
config (SPEC §11: ≥ 0.5× a bare Flask 204 endpoint in the same config, p99 < 50 ms).

    python bench/ingest.py [--requests 3000] [--seconds 20] [--concurrency 8] [--rounds 2]
                           [--database-url postgresql://... --redis-url redis://...]

Two gunicorn servers start from gunicorn.conf.py with the same WEB_CONCURRENCY/WEB_THREADS:
the connector (`app:app`, embedded SQLite database and queue, no worker running) and a bare
Flask app answering 204 on the same route. A load generator in a child process (threads,
keep-alive http.client connections, deliveries signed v3 before the clock starts) drives
each in turn, `--rounds` times alternately, bounded by count and time. Printed: deliveries/s
and p50/p99 latency for both, and the ratio, per round and overall.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import statistics
import threading
import time
from urllib.parse import urlsplit

from common import (
    add_storage_options,
    deployment,
    percentile,
    print_results,
    simulators,
    storage_label,
    storage_overrides,
)

PATH = "/webhooks/hubspot"
WARMUP_REQUESTS = 200


def signed_deliveries(count: int, public_base_url: str, secret: str, first_id: int) -> list:
    """`count` deliveries of 10 distinct property-change events, signed v3 now."""
    from tests.faults.harness import signed_delivery

    now_ms = int(time.time() * 1000)
    deliveries = []
    for n in range(count):
        events = [{"eventId": first_id + n * 10 + k, "subscriptionId": 100_001, "portalId": 62515,
                   "appId": 54321, "occurredAt": now_ms, "attemptNumber": 0,
                   "subscriptionType": "contact.propertyChange", "objectId": 1001 + k,
                   "propertyName": "firstname", "propertyValue": f"v{n}", "changeSource": "CRM"}
                  for k in range(10)]
        deliveries.append(signed_delivery(public_base_url, secret, events))
    return deliveries


def _drive(url: str, deliveries: list, concurrency: int, seconds: float) -> tuple[list, float]:
    """Send every delivery once from `concurrency` threads; (latencies in s, elapsed s)."""
    target = urlsplit(url)
    latencies: list[float] = []
    failures: list[int] = []
    items = iter(deliveries)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        while time.monotonic() < deadline:
            with lock:
                item = next(items, None)
            if item is None:
                break
            body, headers = item
            started = time.perf_counter()
            try:
                connection.request("POST", PATH, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 204
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            took = time.perf_counter() - started
            with lock:
                (latencies.append(took) if ok else failures.append(1))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries to {url} failed")
    return latencies, elapsed


def load_generator(url: str, public_base_url: str, secret: str, count: int, concurrency: int,
                   seconds: float, first_id: int, results) -> None:
    """Child process: warm up, then measure one run against `url`."""
    warmup = signed_deliveries(WARMUP_REQUESTS, public_base_url, secret, first_id)
    measured = signed_deliveries(count, public_base_url, secret, first_id + 10 * WARMUP_REQUESTS)
    _drive(url, warmup, concurrency, seconds)
    latencies, elapsed = _drive(url, measured, concurrency, seconds)
    results.put({"sent": len(latencies), "elapsed": elapsed,
                 "rate": len(latencies) / elapsed,
                 "p50_ms": 1000 * percentile(latencies, 0.50),
                 "p99_ms": 1000 * percentile(latencies, 0.99)})


def measure(url: str, public_base_url: str, secret: str, args, first_id: int) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=load_generator, args=(
        url, public_base_url, secret, args.requests, args.concurrency, args.seconds, first_id,
        results))
    child.start()
    outcome = results.get(timeout=args.seconds * 3 + 120)
    child.join(30)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    add_storage_options(parser)
    args = parser.parse_args()

    with simulators() as (hubspot, talkstack), \
            deployment(hubspot, talkstack, **storage_overrides(args)) as stack:
        connector = stack.start_web()
        bare = stack.processes.web(app="bench.common:create_bare_app()")
        secret, public = hubspot.client_secret, stack.public_base_url
        rounds = []
        for n in range(args.rounds):
            first_id = 1_000_000 * (n + 1)
            bare_run = measure(bare.url, public, secret, args, first_id)
            connector_run = measure(connector.url, public, secret, args, first_id)
            rounds.append({"bare": bare_run, "connector": connector_run,
                           "ratio": connector_run["rate"] / bare_run["rate"]})
    report(args, rounds)


def report(args, rounds: list[dict]) -> None:
    rows = []
    for n, r in enumerate(rounds, 1):
        for name in ("bare", "connector"):
            run = r[name]
            rows.append((f"round {n} {name}",
                         f"{run['rate']:7.0f} deliveries/s  p50 {run['p50_ms']:5.1f} ms  "
                         f"p99 {run['p99_ms']:5.1f} ms  ({run['sent']} in {run['elapsed']:.1f}s)"))
        rows.append((f"round {n} ratio", f"{r['ratio']:.2f}× (target ≥ 0.5×)"))
    ratio = statistics.median(r["ratio"] for r in rounds)
    p99 = max(r["connector"]["p99_ms"] for r in rounds)
    rows.append(("median ratio", f"{ratio:.2f}× (target ≥ 0.5×)"))
    rows.append(("worst connector p99", f"{p99:.1f} ms (target < 50 ms)"))
    print_results(f"ingest: signed 10-event deliveries, concurrency {args.concurrency}, "
                  f"gunicorn.conf.py defaults, {storage_label(args)}", rows,
                  {"bench": "ingest", "ratio": ratio, "connector_p99_ms": p99, "rounds": rounds,
                   "concurrency": args.concurrency, "storage": storage_label(args)})


if __name__ == "__main__":
    main()
