"""Sandbox-only page: demo contacts and the buttons that act as HubSpot would."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for

from console import bp, runtime
from console.views_calls import parse_id
from store.models import CachedValue


def _sandbox_runtime():
    rt = runtime()
    if not rt.settings.sandbox:
        abort(404, description="the sandbox page exists only in the sandbox")
    return rt


def demo_data(rt) -> dict:
    from sandbox_demo import DEMO_CACHE_KEY

    with rt.db.session() as session:
        row = session.get(CachedValue, DEMO_CACHE_KEY)
        return dict(row.value) if row is not None else {}


@bp.get("/sandbox")
def sandbox():
    rt = _sandbox_runtime()
    return render_template("console/sandbox.html", demo=demo_data(rt),
                           settings=rt.settings)


def _done(message: str):
    flash(message, "ok")
    return redirect(url_for("console.sandbox"), code=303)


def _failed(reason: object):
    flash(f"Sandbox action failed: {reason}", "bad")
    return redirect(url_for("console.sandbox"), code=303)


@bp.post("/sandbox/contacts/<contact_id>/property-change")
def sandbox_property_change(contact_id: str):
    from sandbox_actions import SandboxActionError, simulate_property_change

    rt, number = _sandbox_runtime(), parse_id(contact_id, "contact")
    try:
        simulate_property_change(rt.settings, str(number))
    except SandboxActionError as exc:
        return _failed(exc)
    return _done(f"HubSpot (simulated) set {rt.settings.call_trigger_property}=true on contact "
                 f"{number} and delivered the signed webhook.")


@bp.post("/sandbox/contacts/<contact_id>/workflow-action")
def sandbox_workflow_action(contact_id: str):
    from sandbox_actions import SandboxActionError, send_workflow_action

    rt, number = _sandbox_runtime(), parse_id(contact_id, "contact")
    try:
        callback_id = send_workflow_action(rt.settings, str(number))
    except SandboxActionError as exc:
        return _failed(exc)
    return _done(f"Workflow action executed for contact {number} (callback {callback_id}); "
                 "the connector answered BLOCK and completes it when the call ends.")


@bp.post("/sandbox/contacts/<contact_id>/call")
def sandbox_call(contact_id: str):
    from api.calls import start_call

    rt, number = _sandbox_runtime(), parse_id(contact_id, "contact")
    request_id = start_call(rt, str(number), None, {}, "console")
    flash(f"Call request {request_id} recorded for contact {number}.", "ok")
    return redirect(url_for("console.call_trace", request_id=request_id), code=303)


@bp.post("/sandbox/batch")
def sandbox_batch():
    from sandbox_actions import start_list_batch

    rt = _sandbox_runtime()
    list_id = demo_data(rt).get("listId")
    if not list_id:
        return _failed("no demo list was seeded")
    batch_id = start_list_batch(rt, str(list_id))
    flash(f"Batch {batch_id} started from the demo list.", "ok")
    return redirect(url_for("console.batch_detail", batch_id=batch_id), code=303)
