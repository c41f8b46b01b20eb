"""/metrics of the real gunicorn web (2 workers, gunicorn.conf.py): every scrape reports
the whole web process's counters, whichever worker answers it (metrics.exposition)."""

from __future__ import annotations

import threading

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.harness import seed_contacts, trigger_events

DELIVERIES = 60
SENDERS = 6


def events_received(web_url: str) -> float:
    text = requests.get(f"{web_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "connector_events_received":
            return sum(s.value for s in family.samples
                       if s.name.endswith("_total") and s.labels.get("source") == "hubspot_app")
    return 0.0


def test_every_scrape_sums_the_counters_of_all_gunicorn_workers(stack, hubspot_sim):
    deployment = stack()
    deployment.release()
    web = deployment.start_web()  # WEB_CONCURRENCY=2, as the Procfile runs it
    events = trigger_events(hubspot_sim, list(seed_contacts(hubspot_sim, DELIVERIES)))
    pending = iter(events)
    lock, statuses = threading.Lock(), []

    def sender():  # concurrent connections, so both workers take deliveries
        while True:
            with lock:
                event = next(pending, None)
            if event is None:
                return
            statuses.append(deployment.deliver([event]))

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert statuses == [204] * DELIVERIES
    scrapes = [events_received(web.url) for _ in range(8)]
    assert scrapes == [float(DELIVERIES)] * 8
