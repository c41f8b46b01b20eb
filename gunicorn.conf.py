"""gunicorn settings for the `web` process (Procfile). Requests only verify, record and
enqueue, so a few threaded workers absorb HubSpot's bursts."""

import os
import re
import shutil
import tempfile

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

# Each worker counts in its own memory; with prometheus_client's multiprocess mode they
# keep their counters in files in this directory and /metrics sums them (metrics.py). It
# must exist, empty, before the workers import prometheus_client: they fork from here.
_own_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = tempfile.mkdtemp(prefix="connector-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)


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
