"""The README's run command.

No vendor credential in the environment (or `.env`): the SANDBOX (SPEC §10). Otherwise the
embedded production shape: apply migrations, then exec honcho with the Procfile's `web`
and `worker` processes (the `release:` step is what we just did).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SANDBOX, PROCFILE = "sandbox", "procfile"
PROCFILE_PROCESSES = ("web", "worker")


def choose_mode(values: Mapping[str, str]) -> str:
    """`sandbox` when no vendor credential is set at all, else `procfile`."""
    from config import is_sandbox_environment

    return SANDBOX if is_sandbox_environment(values) else PROCFILE


def honcho_command() -> list[str]:
    # `python -m honcho` with this interpreter: works even when the venv is not on PATH.
    return [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "start",
            *PROCFILE_PROCESSES]


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The Procfile's `gunicorn` and `flask` live beside this interpreter."""
    bin_dir = str(Path(sys.executable).parent)
    path = environ.get("PATH", "")
    return {**environ, "PATH": bin_dir + (os.pathsep + path if path else "")}


def migrate() -> int:
    from config import ConfigError, database_url, load_settings
    from store.db import Database
    from store.migrate import upgrade

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    db = Database(database_url(settings))
    try:
        upgrade(db)
    finally:
        db.dispose()
    return 0


def main() -> int:
    os.chdir(ROOT)  # `.env`, the Procfile and `app:app` are relative to the project
    sys.path.insert(0, str(ROOT))
    from config import read_environment

    if choose_mode(read_environment()) == SANDBOX:
        from sandbox import run_sandbox

        return run_sandbox()
    status = migrate()
    if status:
        return status
    command = honcho_command()
    os.execve(command[0], command, child_environment(os.environ))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
