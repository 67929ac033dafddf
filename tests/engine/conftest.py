"""Engine tests run against each queue backend: the SAQ Postgres queue, and Redis where reachable.

The Postgres variant uses the worker the API process runs (as `make run` does). The Redis variant
stops that worker and installs a runtime on a Redis queue with a name unique to this run, so the
same tests prove the same behaviour end to end on the other backend.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 0.5):
            return True
    except OSError:
        return False


BACKENDS = ["postgres", *(["redis"] if _redis_reachable() else [])]


@dataclass(frozen=True)
class Backend:
    name: str
    # What a `crmflow worker` subprocess needs to work the same queue.
    queue_url: str | None
    queue_name: str


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(request: pytest.FixtureRequest, base_url: str) -> AsyncIterator[Backend]:
    from app.worker import runtime as rt
    from app.worker.queue import build_queue

    api_runtime = rt.current()
    assert api_runtime is not None, "the API's worker runtime is not running"
    if request.param == "postgres":
        yield Backend("postgres", None, api_runtime.queue.name)
        return
    name = f"crmflow-test-{os.urandom(4).hex()}"
    await api_runtime.stop_worker()
    redis_runtime = rt.WorkerRuntime(build_queue(REDIS_URL, name=name))
    await redis_runtime.start()
    try:
        yield Backend("redis", REDIS_URL, name)
    finally:
        await redis_runtime.stop()
        rt.activate(api_runtime)
        api_runtime.start_worker()
