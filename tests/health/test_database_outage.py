"""A real database outage: the API answers 503 + Retry-After, /ready says so, and it recovers alone.

The test owns its PostgreSQL server (an embedded one in a temporary directory), so it can stop and
start it without touching the server the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import PROJECT_ROOT
from app.core.embedded_pg import OwnedPostgres
from tests.conftest import free_port
from tests.engine.helpers import wait_for
from tests.helpers import cli


@pytest.fixture
def owned_pg(tmp_path: Path) -> Iterator[OwnedPostgres]:
    server = OwnedPostgres(tmp_path / "pg")
    try:
        yield server
    finally:
        server.stop(mode="immediate")


def _cli(env: dict[str, str | None], *args: str) -> str:
    done = cli(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_the_api_answers_503_while_the_database_is_down_and_recovers(
    owned_pg: OwnedPostgres, tmp_path: Path
) -> None:
    port = free_port()
    changes: dict[str, str | None] = {
        "DATABASE_URL": owned_pg.uri,
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "DATA_DIR_PATH": str(tmp_path / "data"),
        "QUEUE_URL": None,
    }
    env = {k: v for k, v in {**os.environ, **changes}.items() if v is not None}
    _cli(changes, "migrate")
    created = _cli(changes, "create-tenant", "--name", "Outage", "--admin-email", "a@outage.test")
    match = re.search(r"api_key=(\S+)", created)
    assert match is not None, created
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        api = subprocess.Popen(  # noqa: ASYNC220 - a server process for the whole test
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {match.group(1)}"},
            timeout=30,
        ) as http:

            async def ready() -> int:
                try:
                    return (await http.get("/ready")).status_code
                except httpx.TransportError:
                    return 0

            await wait_for(ready, until=lambda s: s == 200, what="the API to be ready")

            async def create() -> httpx.Response:
                return await http.post("/api/v1/clients", json={"name": "Ada"})

            assert (await create()).status_code == 201

            await asyncio.to_thread(owned_pg.stop)
            for _ in range(5):
                down = await create()
                assert down.status_code == 503, down.text
                assert down.headers["content-type"].startswith("application/problem+json")
                assert int(down.headers["retry-after"]) > 0
                assert down.json()["status"] == 503
            probe = await http.get("/ready")
            assert probe.status_code == 503
            assert probe.json()["status"] == "database unreachable"
            assert "retry-after" in probe.headers

            await asyncio.to_thread(owned_pg.start)
            # No restart of the API: its pools reconnect on their own.
            back = await wait_for(
                create, until=lambda r: r.status_code == 201, what="writes to work again"
            )
            assert back.json()["name"] == "Ada"
            # Ready again too: the queue's own pool reconnects on its own, possibly a moment
            # after the first write works (seen under load in a full run).
            await wait_for(ready, until=lambda s: s == 200, what="the API to be ready again")
            for _ in range(10):
                assert (await create()).status_code == 201
    finally:
        api.terminate()
        await asyncio.to_thread(api.wait, 30)
    text = log.read_text()
    # The request lines say status=<code> (console format); no request ended in a 500.
    assert "status=500" not in text
    assert " 500 " not in text
    assert "cannot switch to state" not in text
    # The outage is logged once, not once per failed request.
    assert text.count("database unreachable") == 1, text[-3000:]
