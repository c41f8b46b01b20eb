"""`flask connector sandbox`: the service, a worker and both simulators on loopback."""

from __future__ import annotations

import click

from sandbox_settings import DEFAULT_HUBSPOT_PORT, DEFAULT_TALKSTACK_PORT, DEFAULT_WEB_PORT


def register(group) -> None:
    @group.command("sandbox", with_appcontext=False)
    @click.option("--port", type=click.IntRange(0, 65535), envvar="PORT",
                  default=DEFAULT_WEB_PORT, show_default=True, help="Connector (console) port.")
    @click.option("--hubspot-port", type=click.IntRange(0, 65535), envvar="SANDBOX_HUBSPOT_PORT",
                  default=DEFAULT_HUBSPOT_PORT, show_default=True,
                  help="HubSpot simulator port.")
    @click.option("--talkstack-port", type=click.IntRange(0, 65535),
                  envvar="SANDBOX_TALKSTACK_PORT", default=DEFAULT_TALKSTACK_PORT,
                  show_default=True, help="Talkstack simulator port.")
    @click.option("--call-seconds", type=click.FloatRange(0.1, 600), default=6.0,
                  show_default=True, help="How long a simulated call takes to finish.")
    def sandbox_command(port, hubspot_port, talkstack_port, call_seconds):
        """Run the SANDBOX: simulated HubSpot and Talkstack with demo data (Ctrl-C stops)."""
        from sandbox import SandboxOptions, run_sandbox
        from sandbox_settings import SandboxPorts

        options = SandboxOptions(ports=SandboxPorts(port, hubspot_port, talkstack_port),
                                 call_seconds=call_seconds)
        status = run_sandbox(options=options)
        if status:
            raise click.exceptions.Exit(status)
