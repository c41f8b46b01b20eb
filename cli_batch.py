"""`flask connector batch --list ID [--format xlsx] [--dry-run] [--out DIR]` (SPEC §9).

Without --dry-run the batch is recorded and queued for the worker, like POST /api/batches.
With it, the pipeline runs here and now, writes the files into --out and uploads nothing
(nor writes anything to HubSpot).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from jobs.batches import create_batch, run_batch
from store.models import Batch, BatchFile, BatchRow


@click.command("batch")
@click.option("--list", "list_id", required=True, help="HubSpot list id (Lists v3 / ILS).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True, help="Batch file format.")
@click.option("--agent", "agent_id", default=None, help="Talkstack agent id (default agent).")
@click.option("--dry-run", is_flag=True, help="Build the files locally; upload nothing.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Dry run: where to write the files (default ./batch-<id>/).")
@with_appcontext
def batch_command(list_id, fmt, agent_id, dry_run, out_dir):
    """Call every contact of HubSpot list ID through a Talkstack batch upload."""
    if not list_id.isdigit():
        raise click.BadParameter("must be a HubSpot list id (digits)", param_hint="--list")
    if out_dir is not None and not dry_run:
        raise click.UsageError("--out only applies with --dry-run")
    rt = current_app.extensions["connector"]
    source = {"listId": list_id}
    if not dry_run:
        batch_id = create_batch(rt, source, agent_id=agent_id, fmt=fmt)
        click.echo(json.dumps({"id": batch_id, "listId": list_id, "state": "pending"}))
        return
    batch_id = create_batch(rt, source, agent_id=agent_id, fmt=fmt, dry_run=True,
                            enqueue=False)
    run_batch(rt, batch_id)
    _report_dry_run(rt, batch_id, out_dir or Path(f"batch-{batch_id}"))


def _report_dry_run(rt, batch_id: int, out_dir: Path) -> None:
    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        state, error = batch.state, batch.last_error
        counts = dict(session.execute(select(BatchRow.reason, func.count(BatchRow.id))
                                      .where(BatchRow.batch_id == batch_id)
                                      .group_by(BatchRow.reason)).all())
        file_ids = list(session.scalars(select(BatchFile.id).where(
            BatchFile.batch_id == batch_id).order_by(BatchFile.index)))
    if state != "done":
        raise click.ClickException(f"dry run of batch {batch_id} did not finish "
                                   f"(state {state}): {error or 'see the worker log'}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_id in file_ids:  # one file in memory at a time
        with rt.db.session() as session:
            file = session.get(BatchFile, file_id)
            path = out_dir / file.filename
            path.write_bytes(file.content)
        click.echo(f"wrote {path} ({file.rows} rows)")
    rows_in_files = counts.pop(None, 0)
    left_out = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) or "none"
    click.echo(f"batch {batch_id} (dry run, nothing uploaded): {rows_in_files} rows in "
               f"{len(file_ids)} files; left out: {left_out}")


def register(group) -> None:
    group.add_command(batch_command)
