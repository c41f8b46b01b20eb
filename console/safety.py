"""Defence in depth for console pages: no configured secret ever leaves in a page.

Stored vendor error messages could in principle echo a credential; templates never render
settings values, and this filter masks any secret that still slipped into a response.
"""

from __future__ import annotations

from console import bp, runtime
from logs import RedactSecrets

SCRUBBED_TYPES = ("text/html", "application/json", "text/plain")


@bp.after_request
def scrub_secrets(response):
    if response.direct_passthrough or response.mimetype not in SCRUBBED_TYPES:
        return response  # downloads are served byte for byte
    redactor = RedactSecrets(runtime().settings.secrets())
    body = response.get_data(as_text=True)
    cleaned = redactor.redact(body)
    if cleaned != body:
        response.set_data(cleaned)
    return response
