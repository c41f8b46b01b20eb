"""Benchmark: HubSpot write-back (SPEC §11).

    python bench/writeback.py [--calls 1000] [--outcomes 10000] [--limit 100]

Part 1, requests per 1,000 completed calls: the embedded deployment (gunicorn web + worker
processes, SQLite) takes `--calls` signed trigger events at once; every call completes
(CALL_MAX_ATTEMPTS=1, simulated outcomes); the HubSpot simulator counts every request the
connector made (contact reads, contact updates, engagement creates), per 1,000 calls.
Target ≤ 35 (a per-record tool needs ≥ 3,000: read, create, associate, update per call).

Part 2, throughput under a HubSpot limit of `--limit` requests / 10 s: `--outcomes` final
Talkstack calls are reconciled by the product's own task functions in this process (so the
outbox holds every outcome, as after a burst of webhooks), then one worker process flushes
the outbox against a simulator enforcing the limit. Printed: requests, 429s, the time from
the first to the last write request, and outcomes/s against the limit-implied throughput:
L / 10 s × 100 records per request ÷ records per outcome (one engagement and one contact
update: 2), i.e. 500 outcomes/s at 100 requests / 10 s. Also shown, because a 10,000-outcome
run spans only about two windows: the time the fewest requests need starting from an empty
window, W × (⌈R_min / L⌉ − 1). Target ≥ 90 %, none lost (every call has exactly one
engagement, every contact its last call id).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from common import deployment, print_results, simulators, wait_until

WINDOW_SECONDS = 10.0
RECORDS_PER_REQUEST = 100


def requests_per_thousand_calls(calls: int) -> dict:
    from tests.faults.harness import (
        assert_one_engagement_per_call,
        chunked,
        seed_contacts,
        trigger_events,
    )

    with simulators() as (hubspot, talkstack), \
            deployment(hubspot, talkstack, CALL_MAX_ATTEMPTS="1") as stack:
        stack.start_web()
        contacts = seed_contacts(hubspot, calls)
        first = len(hubspot.requests)
        stack.start_worker()
        started = time.monotonic()
        for events in chunked(trigger_events(hubspot, list(contacts)), 10):
            assert stack.deliver(events) == 204
        wait_until(lambda: stack.settled(calls), 600, 0.5, "every call completed")
        elapsed = time.monotonic() - started
        assert stack.request_states() == {("done", None): calls}, stack.request_states()
        assert_one_engagement_per_call(hubspot, talkstack, contacts)
        made = hubspot.requests[first:]
    by_path = Counter(r.path for r in made)
    return {"calls": calls, "requests": len(made), "seconds": elapsed,
            "per_1000": 1000 * len(made) / calls, "by_path": dict(by_path.most_common())}


def _preload_outcomes(stack, hubspot, talkstack, outcomes: int) -> dict[str, str]:
    """`outcomes` final calls, reconciled into the outbox by the product's task functions."""
    from jobs.events import note_call_hint
    from jobs.outcomes import reconcile_call
    from tests.faults.harness import seed_contacts

    contacts = seed_contacts(hubspot, outcomes, first_number=4_156_000_000)
    agent = talkstack.calling_agent("agent-default")
    sids = {talkstack.place_call(number, agent, {"hubspot_contact_id": cid}).sid: cid
            for cid, number in contacts.items()}
    rt = stack.rt

    def reconcile(sid: str) -> None:
        note_call_hint(rt, sid)
        reconcile_call(rt, sid)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(reconcile, sids))
    rt.queue.flush()  # the wake-ups go; the worker's start-up sweep finds the outbox
    return sids


def throughput_under_limit(outcomes: int, limit: int) -> dict:
    from store.models import HubSpotWrite

    with simulators(final_after_seconds=0.0) as (hubspot, talkstack), \
            deployment(hubspot, talkstack, HUBSPOT_RATE_LIMIT=str(limit)) as stack:
        talkstack.webhook_url = None  # no web process here: the calls are reconciled directly
        preload_started = time.monotonic()
        sids = _preload_outcomes(stack, hubspot, talkstack, outcomes)
        preload = time.monotonic() - preload_started
        queued = _pending_writes(stack)
        hubspot.set_rate_limit(limit, WINDOW_SECONDS)
        first = len(hubspot.requests)
        stack.start_worker()
        wait_until(lambda: stack.count(HubSpotWrite, HubSpotWrite.state == "pending") == 0
                   and len(hubspot.calls) >= outcomes, 900, 0.25, "the outbox drained")
        made = hubspot.requests[first:]
        lost = _lost(hubspot, sids)
    stamps = [r.at for r in made]
    elapsed = max(stamps) - min(stamps)
    timeline = Counter(int(stamp - min(stamps)) for stamp in stamps)  # requests per second
    minimum_requests = sum(math.ceil(n / RECORDS_PER_REQUEST) for n in queued.values())
    # Sustained: L requests per W seconds, 100 records each, records-per-outcome records each.
    limit_rate = limit / WINDOW_SECONDS * RECORDS_PER_REQUEST * outcomes / sum(queued.values())
    # From an empty window: the fewest requests need ⌈R/L⌉ windows, the first one free.
    ideal = WINDOW_SECONDS * (math.ceil(minimum_requests / limit) - 1)
    return {"outcomes": outcomes, "limit": limit, "preload_seconds": preload,
            "queued_writes": dict(queued), "requests": len(made),
            "rejected_429": sum(r.status == 429 for r in made), "elapsed": elapsed,
            "minimum_requests": minimum_requests, "ideal_seconds": ideal,
            "limit_outcomes_per_second": limit_rate,
            "outcomes_per_second": outcomes / elapsed if elapsed else math.nan,
            "fraction": outcomes / elapsed / limit_rate if elapsed else math.nan,
            "fraction_of_window_minimum": ideal / elapsed if elapsed else math.nan,
            "max_in_window": hubspot.max_requests_in_window(WINDOW_SECONDS), "lost": lost,
            "rejected_at": [round(r.at - min(stamps), 2) for r in made if r.status == 429],
            "per_second": [timeline.get(second, 0) for second in range(int(elapsed) + 1)]}


def _pending_writes(stack) -> Counter:
    from sqlalchemy import func, select

    from store.models import HubSpotWrite

    with stack.rt.db.session() as session:
        rows = session.execute(select(HubSpotWrite.kind, func.count())
                               .where(HubSpotWrite.state == "pending")
                               .group_by(HubSpotWrite.kind)).all()
    return Counter(dict(rows))


def _lost(hubspot, sids: dict[str, str]) -> dict:
    from tests.faults.harness import engagements_by_sid

    per_sid = engagements_by_sid(hubspot)
    missing = [sid for sid in sids if per_sid.get(sid, 0) == 0]
    doubled = [sid for sid, n in per_sid.items() if n > 1]
    stale = [sid for sid, cid in sids.items()
             if hubspot.contacts[cid].get("talkstack_last_call_id") != sid]
    return {"engagement_missing": len(missing), "engagement_doubled": len(doubled),
            "contact_not_updated": len(stale)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--outcomes", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--skip-part1", action="store_true")
    args = parser.parse_args()
    per_call = {"calls": 0, "seconds": 0.0, "requests": 0, "per_1000": float("nan"),
                "by_path": {}} if args.skip_part1 else requests_per_thousand_calls(args.calls)
    limited = throughput_under_limit(args.outcomes, args.limit)
    rows = [
        ("part 1 calls completed", f"{per_call['calls']} in {per_call['seconds']:.1f}s"),
        ("part 1 HubSpot requests", f"{per_call['requests']} = {per_call['per_1000']:.1f} per "
                                    "1,000 calls (target ≤ 35)"),
        ("part 1 by path", ", ".join(f"{p} {n}" for p, n in per_call["by_path"].items())),
        ("part 2 outcomes", f"{limited['outcomes']} (preloaded in "
                            f"{limited['preload_seconds']:.1f}s: {limited['queued_writes']})"),
        ("part 2 requests", f"{limited['requests']} (fewest possible "
                            f"{limited['minimum_requests']}), 429s {limited['rejected_429']}, "
                            f"most in 10 s {limited['max_in_window']} (limit {limited['limit']})"),
        ("part 2 elapsed", f"{limited['elapsed']:.1f}s from the first to the last request "
                           f"(from an empty window the fewest requests need "
                           f"{limited['ideal_seconds']:.0f}s: "
                           f"{100 * limited['fraction_of_window_minimum']:.0f} %)"),
        ("part 2 throughput", f"{limited['outcomes_per_second']:.0f} outcomes/s = "
                              f"{100 * limited['fraction']:.0f} % of the limit-implied "
                              f"{limited['limit_outcomes_per_second']:.0f}/s (target ≥ 90 %)"),
        ("part 2 lost", str(limited["lost"])),
        ("part 2 429s at (s)", str(limited["rejected_at"])),
        ("part 2 requests/s", " ".join(map(str, limited["per_second"]))),
    ]
    print_results("write-back", rows, {"bench": "writeback", "part1": per_call, "part2": limited})


if __name__ == "__main__":
    main()
