"""Talkstack REST client (reference/talkstack-api.md). Plain requests, no Flask.

Two hosts: makeCall goes to `calls_base`, everything else to `api_base`. Success is judged
by the HTTP status only; envelope `status` strings are ignored (§2.3). Transient failures are
retried with backoff, except where a retry could dial someone twice (makeCall, batch upload).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import requests

from integrations.errors import AmbiguousCallError, PermanentError
from integrations.http import build_session
from integrations.talkstack_auth import ApiKeyAuth, BearerAuth
from integrations.talkstack_models import (
    FINAL_STATUSES,
    PENDING_STATUSES,
    Agent,
    CallNotFound,
    CallRecord,
    PlacedCall,
    extract_call_id,
    list_in,
    parse_agent,
    parse_answers,
    parse_call_record,
    unwrap,
    utc_date,
)
from integrations.talkstack_transport import VENDOR, TalkstackTransport

__all__ = [
    "FINAL_STATUSES", "PENDING_STATUSES", "Agent", "CallNotFound", "CallRecord", "PlacedCall",
    "TalkstackClient", "extract_call_id",
]  # fmt: skip


USER_AGENT = "talkstack-hubspot-connector/0.1"
MAKE_CALL_PATH = "/call/makeCall"
CALL_DATA_PATH = "/call"
CALL_HISTORY_PATH = "/call/get-call-history"
BATCH_CALL_PATH = "/call/batch-call"
WEBHOOK_PATH = "/project/call-status/add-webhookurl"
ACTIVE_AGENT_PATH = "/project/active-agent"
AGENT_PATH = "/agent"
PHONE_NUMBER_PATH = "/phone-number"
VOICES_PATH = "/voices"
NOT_FOUND = 404


class TalkstackClient:
    def __init__(
        self,
        *,
        api_base: str,
        calls_base: str,
        project_id: str,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: float | tuple[float, float] = (3.05, 10),
        max_retries: int = 3,
        analysis_path: str = "/call/analysis",
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.calls_base = calls_base.rstrip("/")
        self.project_id = project_id
        self.analysis_path = "/" + analysis_path.lstrip("/")
        self._http = TalkstackTransport(
            session=session or build_session(USER_AGENT),
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
        )
        if api_key:
            self._http.auth = ApiKeyAuth(api_key)
        elif email and password:
            self._http.auth = BearerAuth(
                email=email,
                password=password,
                post=lambda path, body: self._http.post_unauthenticated(self.api_base + path, body),
                clock=clock,
            )
        else:
            raise ValueError("Talkstack needs an api_key, or an email and a password")

    def close(self) -> None:
        self._http.session.close()

    # -- calls -----------------------------------------------------------------------------

    def make_call(self, number: str, agent_id: str, dynamic_variables: dict) -> PlacedCall:
        body = {
            "number": number,
            "projectId": self.project_id,
            "agentId": agent_id,
            "dynamicVariables": dict(dynamic_variables or {}),
        }
        payload = self._http.call_dialling("POST", self.calls_base + MAKE_CALL_PATH, json=body)
        call = unwrap(payload, "call")
        call_id = extract_call_id(payload)
        if not call_id:
            # Accepted, so it probably dialled, but we cannot tell which call is ours.
            raise AmbiguousCallError("makeCall answered 200 without a call id", vendor=VENDOR)
        call = call if isinstance(call, dict) else {}
        return PlacedCall(
            call_id=call_id,
            to=call.get("to") or number,
            from_=call.get("from"),
            raw=payload if isinstance(payload, dict) else {},
        )

    def get_call(self, call_id: str) -> CallRecord:
        try:
            body = self._api(
                "POST", CALL_DATA_PATH, json={"sid": call_id, "projectId": self.project_id}
            )
        except PermanentError as exc:
            if exc.status == NOT_FOUND:
                raise CallNotFound(f"no call {call_id}", status=NOT_FOUND, vendor=VENDOR) from None
            raise
        return parse_call_record(body)

    def get_call_analysis(self, call_id: str, questions: list[dict]) -> dict[str, object]:
        asked = [_question_body(q) for q in questions]
        body = self._api(
            "POST",
            self.analysis_path,
            json={"sid": call_id, "projectId": self.project_id, "questions": asked},
        )
        return parse_answers(body, [q["question"] for q in asked])

    def get_call_history(
        self,
        *,
        to: str | None = None,
        from_: str | None = None,
        status: str | None = None,
        start_time_after: date | None = None,
        page_size: int = 50,
    ) -> list[CallRecord]:
        params = {
            "to": to,
            "from": from_,
            "status": status,
            "startTimeAfter": utc_date(start_time_after) if start_time_after else None,
        }
        params = {key: value for key, value in params.items() if value}
        body = self._api(
            "POST",
            CALL_HISTORY_PATH,
            params=params,
            json={"projectId": self.project_id, "pageSize": page_size},
        )
        return [parse_call_record(item) for item in list_in(body) if isinstance(item, dict)]

    def upload_batch(self, agent_id: str, filename: str, content: bytes, content_type: str) -> dict:
        # Re-sending a file after the server saw it could dial every row twice.
        body = self._http.call_dialling(
            "POST",
            self.api_base + BATCH_CALL_PATH,
            data={"projectId": self.project_id, "agentId": agent_id},
            files={"file": (filename, content, content_type)},
        )
        return body if isinstance(body, dict) else {"body": body}

    # -- project, agents, numbers, voices --------------------------------------------------------

    def set_webhook_url(self, url: str) -> None:
        self._api("POST", WEBHOOK_PATH, json={"projectId": self.project_id, "webhookURL": url})

    def list_agents(self) -> list[Agent]:
        try:
            body = self._api("GET", f"{AGENT_PATH}/{self.project_id}")
        except PermanentError as exc:
            if exc.status == NOT_FOUND:  # Talkstack answers 404 when a project has no agents
                return []
            raise
        return [
            parse_agent(item)
            for item in list_in(body, ("data", "agents"))
            if isinstance(item, dict)
        ]

    def get_agent(self, agent_id: str) -> Agent:
        body = self._api(
            "POST", AGENT_PATH, json={"projectId": self.project_id, "agentId": agent_id}
        )
        agent = unwrap(body, "data", "agent")
        return parse_agent(agent if isinstance(agent, dict) else {})

    def get_active_agent(self) -> str | None:
        try:
            body = self._api("POST", ACTIVE_AGENT_PATH, json={"projectId": self.project_id})
        except PermanentError as exc:
            if exc.status == NOT_FOUND:  # no active agent set
                return None
            raise
        active = unwrap(body, "active_agent", "activeAgent")
        if isinstance(active, dict):
            active = active.get("id") or active.get("agentId")
        return active if isinstance(active, str) and active else None

    def set_active_agent(self, agent_id: str) -> dict:
        body = self._api(
            "PATCH",
            ACTIVE_AGENT_PATH,
            json={"projectId": self.project_id, "active_agent": agent_id},
        )
        project = unwrap(body, "project", "data")
        return project if isinstance(project, dict) else {}

    def get_phone_number(
        self, *, agent_id: str | None = None, phone_number_id: str | None = None
    ) -> dict:
        # One identifier only: Talkstack applies phoneNumberId > agentId > projectId.
        if phone_number_id:
            query = {"phoneNumberId": phone_number_id}
        elif agent_id:
            query = {"agentId": agent_id}
        else:
            query = {"projectId": self.project_id}
        data = unwrap(self._api("POST", PHONE_NUMBER_PATH, json=query), "data")
        if isinstance(data, list):  # shape for several numbers is unverified
            data = data[0] if data else {}
        return data if isinstance(data, dict) else {}

    def list_voices(self) -> list[dict]:
        body = self._api("GET", VOICES_PATH)
        return [v for v in list_in(body, ("voices", "data")) if isinstance(v, dict)]

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.call(method, self.api_base + path, **kwargs)


def _question_body(question: dict) -> dict:
    body = {"question": question["question"], "type": question["type"]}
    if question.get("options"):
        body["options"] = list(question["options"])
    return body
