"""Defence in depth for console pages.

No configured secret ever leaves in a page: stored vendor error messages could in principle
echo a credential; templates never render settings values, and this filter masks any secret
that still slipped into a response. The headers forbid scripts, framing (clickjacking of the
Replay buttons) and caching of pages that carry CRM data and the CSRF token.
"""

from __future__ import annotations

from console import bp, runtime
from logs import RedactSecrets

SCRUBBED_TYPES = ("text/html", "application/json", "text/plain")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.after_request
def scrub_secrets(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.direct_passthrough or response.mimetype not in SCRUBBED_TYPES:
        return response  # downloads are served byte for byte
    redactor = RedactSecrets(runtime().settings.secrets())
    body = response.get_data(as_text=True)
    cleaned = redactor.redact(body)
    if cleaned != body:
        response.set_data(cleaned)
    return response
