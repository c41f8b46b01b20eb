"""Everything one process needs, built once from Settings: database, queue, clients, rules.

The web app and the worker each hold one Runtime. Vendor clients are built lazily so the
web process (which never calls out) does not create connection pools it won't use.
"""

from __future__ import annotations

import logging
import math
import threading
from functools import cached_property

from config import Settings, database_url, queue_url
from jobs.queue import JobQueue, build_huey
from store.db import Database

log = logging.getLogger(__name__)


def headroom(limit: int) -> int:
    """Requests we allow per window: 5 % below HubSpot's limit, because HubSpot counts a
    request when it arrives, not when our limiter admitted it, and in-flight requests can
    land a few milliseconds apart across the window edge (measured: 101–102 per window
    without this margin)."""
    return max(1, limit - max(1, math.ceil(limit * 0.05)))


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(database_url(settings))
        self.queue = JobQueue(build_huey(queue_url(settings), settings.queue_name))
        self._lock = threading.Lock()
        from jobs.tasks import register_tasks

        register_tasks(self)
        _ = self.rules  # CONNECTOR_CONFIG is validated at start-up, not at the first event

    @cached_property
    def rules(self):
        from domain.rules import load_rules

        return load_rules(self.settings.connector_config or None)

    @cached_property
    def talkstack(self):
        from integrations.http import build_session
        from integrations.talkstack import USER_AGENT, TalkstackClient
        from metrics import VENDOR_REQUESTS

        def count(response, *_args, **_kwargs):
            VENDOR_REQUESTS.labels("talkstack", str(response.status_code)).inc()

        session = build_session(USER_AGENT)
        session.hooks["response"].append(count)
        s = self.settings
        return TalkstackClient(
            session=session,
            api_base=s.talkstack_api_base,
            calls_base=s.talkstack_calls_base,
            project_id=s.talkstack_project_id,
            api_key=s.talkstack_api_key or None,
            email=s.talkstack_email or None,
            password=s.talkstack_password or None,
        )

    @cached_property
    def rate_limiter(self):
        from integrations.ratelimit import RateLimiter
        from metrics import RATE_LIMIT_WAIT

        storage = self.settings.redis_url or "memory://"
        return RateLimiter(
            headroom(self.settings.hubspot_rate_limit),
            10,
            storage_uri=storage,
            key=f"{self.settings.queue_name}:hubspot",
            on_wait=RATE_LIMIT_WAIT.inc,
        )

    @cached_property
    def hubspot(self):
        from integrations.hubspot import HubSpotClient
        from metrics import VENDOR_REQUESTS

        s = self.settings
        return HubSpotClient(
            access_token=s.hubspot_access_token,
            base_url=s.hubspot_api_base,
            rate_limiter=self.rate_limiter,
            developer_api_key=s.hubspot_developer_api_key or None,
            on_request=lambda status: VENDOR_REQUESTS.labels("hubspot", status).inc(),
        )

    def enqueue(self, name: str, *args, delay: float | None = None) -> None:
        self.queue.enqueue(name, *args, delay=delay)

    def close(self) -> None:
        self.db.dispose()
