"""gunicorn settings for the `web` process (Procfile). Requests only verify, record and
enqueue, so a few threaded workers absorb HubSpot's bursts."""

import os
import re

from gunicorn.glogging import Logger

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"

# The Talkstack webhook URL carries a secret path segment: keep it out of access logs.
_TOKEN_PATH = re.compile(r"(/webhooks/talkstack/)[^/?\s\"]+")


class MaskingLogger(Logger):
    def access(self, resp, req, environ, request_time):
        environ = dict(environ)
        for key in ("PATH_INFO", "RAW_URI", "REQUEST_URI"):
            if key in environ:
                environ[key] = _TOKEN_PATH.sub(r"\1***", environ[key])
        super().access(resp, req, environ, request_time)


logger_class = MaskingLogger
