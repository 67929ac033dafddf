"""Scraping /metrics (samples by name and labels, summed over the labels not given); reading
the process' logs as JSON lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import get_settings
from app.core.logging import configure_from_settings, configure_logging


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
        )


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Scrape:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process' logs as JSON lines (production's format) into a buffer, for one test."""
    buffer = io.StringIO()
    configure_logging("INFO", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        configure_from_settings(get_settings())


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    # Every line is one JSON object: one format, libraries' lines included.
    return [json.loads(line) for line in lines]
