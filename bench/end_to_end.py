"""Benchmark: Talkstack call-status webhook → call engagement written in HubSpot, p50/p99
(SPEC §11: p99 < 5 s, embedded deployment).

    python bench/end_to_end.py [--calls 300] [--rate 4] [--final-after 1.0] [--limit 100]

The embedded deployment (gunicorn web + one worker process from the Procfile, SQLite
database and queue) takes signed trigger events at `--rate` per second; the Talkstack
simulator finishes each call `--final-after` seconds after it is placed and posts its
call-status webhooks (ringing, in progress, final) to the web process; the HubSpot
simulator enforces `--limit` requests / 10 s (the connector is configured the same).
Measured per call: from the moment the simulator posts the final-status webhook to the
arrival of the HubSpot batch-create request that carries the call's engagement.
"""

from __future__ import annotations

import argparse
import time

from common import deployment, percentile, print_results, simulators, wait_until

CREATE_PATH = "/crm/v3/objects/calls/batch/create"
FINAL = {"completed", "busy", "failed", "no-answer", "voicemail", "silence", "canceled"}


def first_final_webhook(talkstack) -> dict[str, float]:
    """sid → when the simulator posted its first accepted final-status webhook."""
    sent: dict[str, float] = {}
    for delivery in list(talkstack.webhook_deliveries):
        accepted = not delivery.dropped and delivery.http_status == 204
        if accepted and delivery.status in FINAL and delivery.sid not in sent:
            sent[delivery.sid] = delivery.at
    return sent


def first_written(hubspot) -> dict[str, float]:
    """sid → arrival of the first batch create carrying that call's engagement."""
    from tests.faults.harness import CALL_SID

    written: dict[str, float] = {}
    for request in list(hubspot.requests):
        if request.path != CREATE_PATH or request.status not in (200, 201, 207):
            continue
        for item in (request.json or {}).get("inputs", []):
            for sid in CALL_SID.findall(str(item.get("properties", {}).get("hs_call_body", ""))):
                written.setdefault(sid, request.at)
    return written


def run(args) -> dict:
    from tests.faults.harness import chunked, seed_contacts, trigger_events

    with simulators(final_after_seconds=args.final_after) as (hubspot, talkstack), \
            deployment(hubspot, talkstack, CALL_MAX_ATTEMPTS="1",
                       HUBSPOT_RATE_LIMIT=str(args.limit)) as stack:
        stack.start_web()
        stack.start_worker()
        contacts = seed_contacts(hubspot, args.calls)
        hubspot.set_rate_limit(args.limit, 10.0)
        per_tick = 2
        started = time.monotonic()
        for n, events in enumerate(chunked(trigger_events(hubspot, list(contacts)), per_tick)):
            time.sleep(max(0.0, started + n * per_tick / args.rate - time.monotonic()))
            assert stack.deliver(events) == 204
        wait_until(lambda: stack.settled(args.calls), 300, 0.5, "every call written")
        sent, written = first_final_webhook(talkstack), first_written(hubspot)
        rejected = sum(r.status == 429 for r in hubspot.requests)
    latencies = [written[sid] - at for sid, at in sent.items() if sid in written]
    return {"calls": args.calls, "rate": args.rate, "final_after": args.final_after,
            "measured": len(latencies), "p50_s": percentile(latencies, 0.5),
            "p99_s": percentile(latencies, 0.99), "max_s": max(latencies),
            "rejected_429": rejected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=4.0, help="triggers per second")
    parser.add_argument("--final-after", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=100)
    result = run(parser.parse_args())
    rows = [("calls", f"{result['calls']} at {result['rate']:g}/s, final "
                      f"{result['final_after']:g}s after dialling; {result['measured']} measured"),
            ("webhook → engagement", f"p50 {result['p50_s']:.2f}s  p99 {result['p99_s']:.2f}s  "
                                     f"max {result['max_s']:.2f}s (target p99 < 5 s)"),
            ("HubSpot 429s", str(result["rejected_429"]))]
    print_results("end to end (embedded)", rows, {"bench": "end_to_end", **result})


if __name__ == "__main__":
    main()
