"""The connector as deployed (release, web, worker) against the in-process simulators, plus
what the fault and scale-out tests look at: signed deliveries, placed calls, engagements."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import requests
from sqlalchemy import func, select

from tests.faults.processes import Processes, Web, free_port
from webhooks.signatures import signed_headers

TRIGGER = "talkstack_call_requested"
CALL_SID = re.compile(r"\bCA[0-9a-f]{32}\b")
# Small values so that leases of a killed worker and lost wake-ups come back quickly.
FAST_SETTINGS = {"SWEEP_INTERVAL_SECONDS": "1", "LEASE_SECONDS": "5", "WORKER_THREADS": "4"}


class Stack:
    """One deployment: `release()`, then `start_web()` / `start_worker()` as often as needed.

    `rt` is a Runtime in this process on the same database, for looking at state.
    """

    def __init__(self, env: dict, hubspot_sim, talkstack_sim, workdir: Path, **overrides):
        self.hubspot, self.talkstack = hubspot_sim, talkstack_sim
        self.port = free_port()
        self.settings = {**env, **FAST_SETTINGS, "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
                         **{k: str(v) for k, v in overrides.items()}}
        self.processes = Processes(self.settings, workdir / "logs")
        self.rt = None

    @property
    def public_base_url(self) -> str:
        return self.settings["PUBLIC_BASE_URL"]

    def release(self) -> None:
        """Migrate, run the Procfile's `release:` step, then `connector setup` against the
        simulators. (Migrating in this process first keeps these suites independent of the
        release command itself, which test_release.py checks on an empty database.)"""
        from cli_setup import run_setup
        from config import load_settings
        from runtime import Runtime
        from store.migrate import upgrade

        self.rt = Runtime(load_settings(self.settings, dotenv_path=None))
        upgrade(self.rt.db)
        migrated = self.processes.cli("migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        run_setup(self.rt, echo=lambda *_a: None)

    def start_web(self, *, another: bool = False, **extra) -> Web:
        """The web behind PUBLIC_BASE_URL (restartable on its port), or `another` one."""
        return self.processes.web(None if another else self.port, **extra)

    def start_worker(self, **extra):
        return self.processes.worker(**extra)

    def deliver(self, events: list[dict], web_url: str | None = None, timeout: float = 10) -> int:
        return post_delivery(web_url or f"http://127.0.0.1:{self.port}", self.public_base_url,
                             self.hubspot.client_secret, events, timeout=timeout)

    def count(self, model, *where) -> int:
        with self.rt.db.session() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where))

    def request_states(self) -> Counter:
        """{(state, reason): n} over every call request."""
        from store.models import CallRequest

        with self.rt.db.session() as session:
            rows = session.execute(select(CallRequest.state, CallRequest.reason, func.count())
                                   .group_by(CallRequest.state, CallRequest.reason)).all()
        return Counter({(state, reason): n for state, reason, n in rows})

    def settled(self, requests: int) -> bool:
        """`requests` call requests exist, none is still in progress, the outbox is empty."""
        from store.models import HubSpotWrite

        states = self.request_states()
        busy = sum(n for (state, _r), n in states.items()
                   if state in ("pending", "dialing", "calling"))
        return (sum(states.values()) >= requests and not busy
                and self.count(HubSpotWrite, HubSpotWrite.state == "pending") == 0)

    def stop(self) -> None:
        self.processes.stop_all()
        if self.rt is not None:
            if self.rt.settings.redis_url:
                self.rt.queue.flush()
            self.rt.close()


def reset_postgres(url: str) -> None:
    """An empty public schema in the PostgreSQL database at `url` (tests and benchmarks)."""
    from sqlalchemy import text

    from store.db import build_engine

    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def signed_delivery(public_base_url: str, secret: str, events: list[dict],
                    path: str = "/webhooks/hubspot") -> tuple[bytes, dict]:
    """Body and headers of an app-webhook delivery as HubSpot signs it (v3, now)."""
    body = json.dumps(events, separators=(",", ":")).encode()
    uri = public_base_url.rstrip("/") + path
    headers = signed_headers(secret, "v3", "POST", uri, body, int(time.time() * 1000))
    return body, {**headers, "Content-Type": "application/json"}


def post_delivery(web_url: str, public_base_url: str, secret: str, events: list[dict],
                  *, session=None, timeout: float = 10) -> int:
    body, headers = signed_delivery(public_base_url, secret, events)
    response = (session or requests).post(f"{web_url.rstrip('/')}/webhooks/hubspot", data=body,
                                          headers=headers, timeout=timeout)
    return response.status_code


def seed_contacts(hubspot_sim, count: int, first_number: int = 4_155_500_000) -> dict[str, str]:
    """`count` callable contacts with distinct numbers: {contact id: E.164 number}."""
    numbers = [f"+1{first_number + i}" for i in range(count)]
    ids = hubspot_sim.add_contacts({"phone": number, "firstname": f"F{i}", "lastname": "L"}
                                   for i, number in enumerate(numbers))
    return dict(zip(ids, numbers, strict=True))


def trigger_events(hubspot_sim, contact_ids) -> list[dict]:
    """One `talkstack_call_requested = true` property change per contact."""
    return [hubspot_sim.property_change_event(cid, TRIGGER, "true") for cid in contact_ids]


def chunked(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def placed_calls_by_number(talkstack_sim) -> Counter:
    """Calls Talkstack actually placed (failed makeCall requests place none)."""
    return Counter(call.number for call in talkstack_sim.call_list())


def engagements_by_sid(hubspot_sim) -> Counter:
    """How many HubSpot call engagements name each Talkstack call id."""
    with hubspot_sim.lock:
        bodies = [c["properties"].get("hs_call_body", "") for c in hubspot_sim.calls.values()]
    return Counter(sid for body in bodies for sid in set(CALL_SID.findall(body)))


def engagements_by_contact(hubspot_sim) -> Counter:
    with hubspot_sim.lock:
        return Counter(cid for c in hubspot_sim.calls.values() for cid in c["associations"])


def assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts: dict[str, str]) -> None:
    """Every placed call has exactly one engagement, on the contact it was placed for."""
    placed = {call.sid: call.number for call in talkstack_sim.call_list()}
    per_sid = engagements_by_sid(hubspot_sim)
    doubled = {sid: n for sid, n in per_sid.items() if n != 1}
    missing = set(placed) - set(per_sid)
    assert not doubled, f"{len(doubled)} calls have more than one engagement: {list(doubled)[:5]}"
    assert not missing, f"{len(missing)} calls have no engagement: {sorted(missing)[:5]}"
    per_contact = engagements_by_contact(hubspot_sim)
    assert set(per_contact) == set(contacts), "engagements on unexpected contacts"
    assert set(per_contact.values()) == {1}, "a contact has more than one engagement"


def all_written(hubspot_sim, expected: int):
    """For wait_for: the number of engagements once it reaches `expected`."""
    count = len(hubspot_sim.calls)
    return count if count >= expected else None
