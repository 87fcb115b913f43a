"""``/metrics`` as a test reads it: every sample, keyed by name and labels.

Contract: ``scrape(url)`` GETs the app's ``/metrics`` (checking it answers Prometheus' text format)
and returns ``{(name, sorted label pairs): value}``, parsed by prometheus-client's own parser.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(url + "metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.status_code
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
