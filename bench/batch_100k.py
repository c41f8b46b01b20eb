"""Benchmark: a 100,000-contact HubSpot list turned into batch files (SPEC §11).

    python bench/batch_100k.py [--contacts N] [--format csv|xlsx] [--max-rows 5000]

The HubSpot simulator runs in a child process (seeded with N contacts, some with bad
numbers, no number, opted out or sharing a number, all in one list), so this process's peak
RSS is the pipeline's alone. The pipeline runs in dry-run mode (files built and stored in
SQLite, nothing uploaded) exactly as the worker runs it. Printed, from one run: N, the
HubSpot requests the simulator recorded against ⌈N/250⌉ + ⌈N/100⌉, wall time, peak RSS.

The simulator has no rate limit here and the client's limiter is set out of the way: this
measures the pipeline, not HubSpot's 100 requests / 10 s (at which ⌈N/250⌉ + ⌈N/100⌉ = 1,400
requests for 100k contacts take at least 140 s).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MEMBERSHIPS_PAGE, READ_CHUNK = 250, 100


def contact_row(n: int) -> dict:
    """Mostly callable contacts; every few a bad, missing, opted-out or repeated number."""
    row = {"firstname": f"First{n}", "lastname": f"Last{n}", "company": f"Company {n % 977}",
           "phone": f"+1650{2_000_000 + n:07d}"}
    if n % 97 == 0:
        row["phone"] = "12"  # invalid_number
    elif n % 89 == 0:
        del row["phone"]  # no_number
    elif n % 83 == 0:
        row["talkstack_do_not_call"] = "true"  # opted_out
    elif n % 101 == 0:
        row["phone"] = f"+1650{2_000_000 + n - 1:07d}"  # duplicate of the previous contact
    if n % 1000 == 0:
        row["firstname"] = '=HYPERLINK("http://x","y")'
    return row


def run_simulator(contacts: int, pipe) -> None:
    """Child process: seed and serve the HubSpot simulator until told to stop."""
    import logging

    from simulators.hubspot import HubSpotSimulator

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    sim = HubSpotSimulator()
    ids = sim.add_contacts(contact_row(n) for n in range(contacts))
    list_id = sim.add_list(ids, name="bench")
    sim.start()
    pipe.send({"url": sim.url, "token": sim.access_token, "list_id": list_id})
    pipe.recv()  # "count"
    paths = Counter(r.path for r in sim.requests)
    pipe.send({"paths": dict(paths),
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    pipe.recv()  # "stop"
    sim.stop()


def build_runtime(workdir: Path, sim: dict, args):
    from config import load_settings
    from runtime import Runtime
    from store.migrate import upgrade

    env = {
        "HUBSPOT_ACCESS_TOKEN": sim["token"], "HUBSPOT_CLIENT_SECRET": "bench",
        "HUBSPOT_API_BASE": sim["url"], "HUBSPOT_RATE_LIMIT": "1000000",
        "TALKSTACK_API_KEY": "bench", "TALKSTACK_API_BASE": "http://127.0.0.1:9",
        "TALKSTACK_CALLS_BASE": "http://127.0.0.1:9", "TALKSTACK_PROJECT_ID": "bench",
        "TALKSTACK_AGENT_ID": "bench", "TALKSTACK_WEBHOOK_TOKEN": "bench",
        "PUBLIC_BASE_URL": "http://127.0.0.1", "API_TOKEN": "bench",
        "INSTANCE_PATH": str(workdir), "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "BATCH_MAX_ROWS": str(args.max_rows), "QUEUE_NAME": "bench",
    }
    rt = Runtime(load_settings(env, dotenv_path=None))
    upgrade(rt.db)
    return rt


def summarise(rt, batch_id: int) -> tuple[int, Counter, int]:
    from sqlalchemy import func, select

    from store.models import Batch, BatchFile, BatchRow

    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        if batch.state != "done":
            raise SystemExit(f"batch ended in state {batch.state}: {batch.last_error}")
        rows = session.scalar(select(func.count(BatchRow.id))
                              .where(BatchRow.batch_id == batch_id))
        reasons = Counter(dict(session.execute(
            select(BatchRow.reason, func.count(BatchRow.id)).where(BatchRow.batch_id == batch_id)
            .group_by(BatchRow.reason)).all()))
        files = session.scalar(select(func.count(BatchFile.id))
                               .where(BatchFile.batch_id == batch_id))
    return rows, reasons, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--max-rows", type=int, default=5000)
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=run_simulator, args=(args.contacts, theirs), daemon=True)
    started = time.perf_counter()
    child.start()
    sim = ours.recv()
    print(f"simulator seeded with {args.contacts:,} contacts in "
          f"{time.perf_counter() - started:.1f}s (child process)")
    try:
        with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
            from jobs.batches import create_batch, run_batch

            rt = build_runtime(Path(tmp), sim, args)
            batch_id = create_batch(rt, {"listId": sim["list_id"]}, fmt=args.format,
                                    dry_run=True, enqueue=False)
            began = time.perf_counter()
            run_batch(rt, batch_id)
            wall = time.perf_counter() - began
            rows, reasons, files = summarise(rt, batch_id)
            rt.close()
        ours.send("count")
        recorded = ours.recv()
    finally:
        ours.send("stop")
        child.join(timeout=10)
    report(args, sim, recorded, wall, rows, reasons, files)


def report(args, sim, recorded, wall, rows, reasons, files) -> None:
    n = args.contacts
    pages = recorded["paths"].get(f"/crm/v3/lists/{sim['list_id']}/memberships", 0)
    reads = recorded["paths"].get("/crm/v3/objects/contacts/batch/read", 0)
    total = sum(recorded["paths"].values())
    expected_pages, expected_reads = math.ceil(n / MEMBERSHIPS_PAGE), math.ceil(n / READ_CHUNK)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    in_files = reasons.pop(None, 0)
    print(f"N                      {n:,} contacts in one list, format {args.format}, "
          f"BATCH_MAX_ROWS {args.max_rows}")
    print(f"HubSpot requests       {total:,} recorded = {pages:,} membership pages + "
          f"{reads:,} batch reads; expected ⌈N/250⌉ + ⌈N/100⌉ = {expected_pages:,} + "
          f"{expected_reads:,} = {expected_pages + expected_reads:,} "
          f"({'exact' if total == expected_pages + expected_reads else 'MISMATCH'})")
    print(f"wall time              {wall:.1f}s ({n / wall:,.0f} contacts/s)")
    print(f"peak RSS (pipeline)    {peak_mb:.0f} MB   (simulator process: "
          f"{recorded['rss_mb']:.0f} MB, not included)")
    print(f"rows                   {rows:,}: {in_files:,} in {files} files; left out: "
          + ", ".join(f"{reason} {count:,}" for reason, count in sorted(reasons.items())))


if __name__ == "__main__":
    main()
