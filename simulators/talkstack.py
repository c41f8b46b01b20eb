"""An in-process Talkstack API for tests, the sandbox and benchmarks.

`wsgi_app` serves both Talkstack hosts' paths (makeCall and the API) plus `/_sim/*` control
endpoints, so another process can script outcomes and faults over HTTP. Shapes and quirks
follow reference/talkstack-api.md; behaviour the docs leave open is a plausible choice.
"""

from __future__ import annotations

import random
import threading
import time

from simulators.talkstack_agents import DEFAULT_AGENTS, UNKNOWN_AGENT_CALLER_ID, normalise_agent
from simulators.talkstack_auth import SimTokens
from simulators.talkstack_batch import BatchRow, SimBatch
from simulators.talkstack_calls import (
    FINAL_STATUSES,
    Outcome,
    SimCall,
    new_sid,
    random_final_status,
    render_form,
    render_record,
    settle,
)
from simulators.talkstack_control import Fault, RecordedRequest
from simulators.talkstack_routes import build_app
from simulators.talkstack_webhooks import WebhookConfig, WebhookDelivery, WebhookDispatcher

__all__ = ["RecordedRequest", "TalkstackSimulator"]

DEFAULT_FAULT_SLEEP_SECONDS = 15.0


class TalkstackSimulator:
    def __init__(
        self,
        *,
        api_key: str = "sim-talkstack-key",
        email: str = "sim@example.com",
        password: str = "sim-password",
        project_id: str = "proj-sim",
        token_ttl_seconds: float = 7200,
        final_after_seconds: float = 0.3,
        seed: object = None,
        agents: list[dict] | None = None,
        fault_sleep_seconds: float = DEFAULT_FAULT_SLEEP_SECONDS,
        strict_agents: bool = False,
    ) -> None:
        self.api_key = api_key
        self.email = email
        self.password = password
        self.project_id = project_id
        self.final_after_seconds = final_after_seconds
        self.fault_sleep_seconds = fault_sleep_seconds
        self.strict_agents = strict_agents
        self.seed = seed
        self.agents = [
            normalise_agent(a, i)
            for i, a in enumerate(DEFAULT_AGENTS if agents is None else agents)
        ]
        self.active_agent: str | None = None
        self.webhook_url: str | None = None
        self.tokens = SimTokens(token_ttl_seconds)
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, SimCall] = {}
        self.batches: list[SimBatch] = []
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._once: dict[str, list[Outcome]] = {}
        self._standing: dict[str, Outcome] = {}
        self._faults: list[Fault] = []
        self.webhooks = WebhookDispatcher(
            payload_for=self._webhook_payload, url_for=lambda: self.webhook_url, seed=seed
        )
        self.wsgi_app = build_app(self)

    # -- scripting ----------------------------------------------------------------------------

    def script_outcome(
        self,
        number: str,
        status: str,
        *,
        seconds: int | None = None,
        answers: dict | None = None,
        data: dict | None = None,
        repeat: bool = True,
    ) -> None:
        """Script the final status of calls to `number`.

        `repeat=False` queues a one-shot outcome (used in order, before anything else);
        `repeat=True` sets the number's standing outcome, replacing the previous one.
        A pending status (e.g. "in-progress") makes the call stick there: no final ever comes.
        """
        if not status:
            raise ValueError("status is required")
        outcome = Outcome(status.lower(), seconds, answers, data, repeat)
        with self._lock:
            if repeat:
                self._standing[number] = outcome
            else:
                self._once.setdefault(number, []).append(outcome)

    def fail_next(
        self,
        n: int,
        status: int | str = 500,
        *,
        path_prefix: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `n` requests (under `path_prefix`) fail with `status`.

        "timeout" sleeps `fault_sleep_seconds` then answers 504 without handling the request;
        "slow" handles the request (a call is placed) and answers after the same sleep.
        """
        if status not in ("timeout", "slow") and not (isinstance(status, int) and status >= 400):
            raise ValueError("status must be an HTTP error code, 'timeout' or 'slow'")
        with self._lock:
            self._faults.append(Fault(n, status, path_prefix, retry_after))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.path_prefix or "/"):
                    fault.remaining -= 1
                    return fault
            return None

    def configure_webhooks(self, **settings: object) -> WebhookConfig:
        """drop_rate, duplicate_rate, delay_seconds, reorder, shape (json|form|mixed),
        intermediate. Unknown settings raise ValueError."""
        return self.webhooks.configure(**settings)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return self.webhooks.deliveries

    def start(self) -> None:
        self.webhooks.start()

    def stop(self) -> None:
        self.webhooks.stop()

    def reset(self) -> None:
        """Forget traffic, calls, scripts and faults; keep agents, webhook URL and tokens."""
        with self._lock:
            self.requests.clear()
            self.calls.clear()
            self.batches.clear()
            self._once.clear()
            self._standing.clear()
            self._faults.clear()
            self.active_agent = None
        self.webhooks.clear()

    # -- calls ----------------------------------------------------------------------------------

    def place_call(
        self,
        number: str,
        agent: dict,
        variables: dict,
        *,
        source: str = "makeCall",
        batch_id: str | None = None,
    ) -> SimCall:
        created_at, created_mono = time.time(), time.monotonic()
        with self._lock:
            outcome = self._next_outcome(number)
            call = SimCall(
                sid=new_sid("CA", self._rng),
                number=number,
                agent_id=agent["id"],
                from_number=agent["phoneNumber"],
                variables=dict(variables),
                created_at=created_at,
                created_mono=created_mono,
                final_after=self.final_after_seconds,
                final_status="",
                seconds=0,
                recording_urls=[],
                data={},
                answers=dict(outcome.answers or {}) if outcome else {},
                source=source,
                batch_id=batch_id,
            )
            status = outcome.status if outcome else random_final_status(self._rng)
            settle(
                call,
                status,
                self._rng,
                seconds=outcome.seconds if outcome else None,
                data=outcome.data if outcome else None,
            )
            self.calls[call.sid] = call
        for offset, stage in call.timeline()[1:]:
            self.webhooks.schedule(
                call.sid,
                stage,
                created_mono + offset,
                final=stage in FINAL_STATUSES,
                generation=call.generation,
            )
        return call

    def place_batch(
        self, agent: dict, filename: str, content: bytes, rows: list[BatchRow], rejected: list[dict]
    ) -> SimBatch:
        with self._lock:
            batch_id = new_sid("BT", self._rng)
        sids = [
            self.place_call(row.number, agent, row.variables, source="batch", batch_id=batch_id).sid
            for row in rows
        ]
        batch = SimBatch(batch_id, agent["id"], filename, content, sids, rejected)
        with self._lock:
            self.batches.append(batch)
        return batch

    def _next_outcome(self, number: str) -> Outcome | None:
        queue = self._once.get(number)
        return queue.pop(0) if queue else self._standing.get(number)

    def call_list(self) -> list[SimCall]:
        """A snapshot of every call, safe to iterate while requests add more."""
        with self._lock:
            return list(self.calls.values())

    def status_of(self, sid: str) -> str:
        return self.calls[sid].status_at(time.monotonic())

    def record_of(self, sid: str) -> dict:
        call = self.calls[sid]
        return render_record(call, call.status_at(time.monotonic()))

    def force_final(self, sid: str, status: str | None = None) -> None:
        """Make a call final now (with `status`, or the one it was going to reach)."""
        with self._lock:
            call = self.calls[sid]
            changed = bool(status) and status.lower() != call.final_status
            if not changed and call.is_done(call.status_at(time.monotonic())):
                return  # already final: no second final webhook
            if changed:
                settle(call, status.lower(), self._rng)
            call.final_after = min(call.final_after, time.monotonic() - call.created_mono)
            call.generation += 1
        self.webhooks.schedule(
            sid,
            call.final_status,
            time.monotonic(),
            final=call.final_status in FINAL_STATUSES,
            generation=call.generation,
        )

    def _webhook_payload(self, sid: str, status: str, generation: int, shape: str) -> dict | None:
        call = self.calls.get(sid)
        if call is None or call.generation != generation:
            return None
        return render_form(call, status) if shape == "form" else render_record(call, status)

    # -- lookups used by the routes ---------------------------------------------------------------

    def agent(self, agent_id: str) -> dict | None:
        return next((a for a in self.agents if a["id"] == agent_id), None)

    def calling_agent(self, agent_id: str) -> dict | None:
        """The agent placing a call; unknown ids are accepted unless `strict_agents`."""
        known = self.agent(agent_id)
        if known or self.strict_agents:
            return known
        return {"id": agent_id, "name": agent_id, "phoneNumber": UNKNOWN_AGENT_CALLER_ID}

    def record_request(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(recorded)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method)
            ]
