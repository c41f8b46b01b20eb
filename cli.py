"""`flask connector ...` commands (SPEC §9). Output never contains a secret."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

connector = AppGroup("connector", help="Talkstack ⇄ HubSpot connector operations.")


def runtime():
    return current_app.extensions["connector"]


@connector.command("migrate")
def migrate_command():
    """Apply database migrations."""
    from store.migrate import current_revision, upgrade

    rt = runtime()
    upgrade(rt.db)
    click.echo(f"database at revision {current_revision(rt.db)}")


@connector.command("worker")
@click.option(
    "--threads", type=int, default=None, help="Consumer threads (default WORKER_THREADS)."
)
def worker_command(threads):
    """Run the queue consumer and the sweeper in the foreground."""
    from jobs.worker import Worker

    rt = runtime()
    click.echo(
        f"worker: {threads or rt.settings.worker_threads} threads, queue "
        f"{'redis' if rt.settings.redis_url else 'sqlite'}"
    )
    Worker(rt, threads=threads).run()


@connector.command("call")
@click.argument("contact_id")
@click.option(
    "--agent", "agent_id", default=None, help="Talkstack agent id (default agent if omitted)."
)
def call_command(contact_id, agent_id):
    """Ask for a call to CONTACT_ID (the worker applies the calling policy)."""
    from api.calls import start_call

    if not contact_id.isdigit():
        raise click.BadParameter("CONTACT_ID must be a HubSpot record id (digits)")
    request_id = start_call(runtime(), contact_id, agent_id, {}, "cli")
    click.echo(json.dumps({"id": request_id, "contactId": contact_id}))


@connector.command("reconcile")
def reconcile_command():
    """Check every call without a final outcome now, and wake all pending work."""
    from jobs.sweeper import sweep

    found = sweep(runtime(), reconcile_all=True)
    click.echo(
        f"queued checks for {found['calls']} calls; "
        f"{found['events']} events, {found['dials']} dials, {found['writes']} write kinds"
    )


@connector.command("replay")
@click.option("--dead", is_flag=True, help="Replay every open dead letter.")
@click.argument("letter_id", required=False, type=int)
def replay_command(dead, letter_id):
    """Replay dead letter ID, or all of them with --dead."""
    from jobs.deadletters import open_letters, replay

    rt = runtime()
    if letter_id is None and not dead:
        letters = open_letters(rt)
        for letter in letters:
            click.echo(f"{letter.id}\t{letter.kind}\t{letter.ref_id}\t{letter.reason[:100]}")
        click.echo(f"{len(letters)} open dead letters (replay with ID or --dead)")
        return
    ids = [letter_id] if letter_id is not None else [letter.id for letter in open_letters(rt)]
    replayed = [i for i in ids if replay(rt, i)]
    click.echo(f"replayed {len(replayed)} of {len(ids)}")
    if letter_id is not None and not replayed:
        raise click.ClickException(f"no open dead letter {letter_id}")


def register(app) -> None:
    app.cli.add_command(connector)
    for extra in ("cli_setup", "cli_batch", "cli_sandbox"):
        try:
            module = __import__(extra)
        except ImportError:
            continue
        module.register(connector)
