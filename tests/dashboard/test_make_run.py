"""`make run` (`crmflow serve --seed-demo`) prints the console's address and a way to sign in,
and what it prints works: the demo admin's key signs in through the form, the link opens."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import PROJECT_ROOT
from tests.conftest import free_port
from tests.dashboard.conftest import sign_in
from tests.db import create_database, drop_database, server_url

KEY_LINE = "Admin API key (shown once, store it now): "


@pytest.fixture
async def fresh_url(database_url: str) -> AsyncIterator[str]:
    """An empty database: `serve` migrates it and seeds the demo as on a first start."""
    url = await create_database(server_url(), prefix="crmflow_run")
    yield url
    await drop_database(url)


async def _serve(url: str, port: int) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Start `crmflow serve --seed-demo`; its output up to the sign-in line."""
    env = {**os.environ, "DATABASE_URL": url, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--seed-demo",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not any(line.startswith("Sign in as") for line in lines):
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout=180)
        assert raw, f"serve exited before printing how to sign in:\n{''.join(lines)}"
        lines.append(raw.decode())
    return proc, lines


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.communicate(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for _ in range(600):
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never answered /health")


async def test_make_run_prints_the_console_and_how_to_sign_in(fresh_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, lines = await _serve(fresh_url, port)
    try:
        out = "".join(lines)
        assert f"Console: {base}/dashboard\n" in out, out
        [key_line] = [line for line in lines if line.startswith(KEY_LINE)]
        key = key_line.removeprefix(KEY_LINE).strip()
        assert key.startswith("crm_")
        [link_line] = [line for line in lines if line.startswith("Sign in as")]
        link = link_line.rsplit(" ", 1)[1].strip()
        assert link.startswith(f"{base}/dashboard/login/link/")

        await _ready(base)
        # The printed key signs in through the form and the overview shows the demo.
        console = await sign_in(base, key)
        try:
            overview = await console.http.get("/dashboard")
            assert overview.status_code == 200
            assert "Overview" in overview.text
        finally:
            await console.http.aclose()
        # The printed one-time link opens its sign-in page.
        async with httpx.AsyncClient(timeout=30) as http:
            opened = await http.get(link)
            assert opened.status_code == 200
            assert 'name="token"' in opened.text
    finally:
        await _stop(proc)
