"""/metrics of the real gunicorn web (2 workers, gunicorn.conf.py): every scrape reports
the whole web process's counters, whichever worker answers it (metrics.exposition)."""

from __future__ import annotations

import threading

import requests
from prometheus_client.parser import text_string_to_metric_families

from jobs.health import refresh_health
from tests.faults.harness import seed_contacts, trigger_events

DELIVERIES = 60
SENDERS = 6


def scrape(web_url: str) -> dict:
    text = requests.get(f"{web_url}/metrics", timeout=5).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def events_received(families: dict) -> float:
    family = families.get("connector_events_received")
    return sum(s.value for s in family.samples
               if s.name.endswith("_total") and s.labels.get("source") == "hubspot_app"
               ) if family else 0.0


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
    refresh_health(deployment.rt)  # what a worker does every few minutes
    scrapes = [scrape(web.url) for _ in range(8)]
    assert [events_received(families) for families in scrapes] == [float(DELIVERIES)] * 8
    for families in scrapes:  # the deployment-state gauges are there too
        assert {"connector_queue_depth", "connector_inbound_events",
                "connector_health_check"} <= set(families)
