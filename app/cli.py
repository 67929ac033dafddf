"""`crmflow` command line: serve, migrate, bootstrap a tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from app.core.config import Settings

T = TypeVar("T")

app = typer.Typer(
    help="crmflow: workflow automation around a CRM's clients.",
    no_args_is_help=True,
    add_completion=False,
)


def _database_url() -> str:
    from app.core.db import resolve_database_url

    return resolve_database_url()


def _checked_settings() -> Settings:
    """The settings, or exit 2 with what to change (bad values, SEND mode outside production)."""
    from app.core.config import ConfigError, get_settings
    from app.webhooks.startup import check_edge_settings

    try:
        settings = get_settings()
        check_edge_settings(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    return settings


@app.command()
def migrate() -> None:
    """Apply every pending migration to the configured (or embedded) database."""
    from app.core.migrate import migrate_forwards

    print(migrate_forwards(_database_url()).strip())


@app.command()
def serve(
    seed_demo: Annotated[bool, typer.Option(help="Load the demo tenant on first start.")] = False,
) -> None:
    """Migrate, optionally seed the demo, and serve the API (with an in-process worker)."""
    import uvicorn

    from app.core.migrate import migrate_forwards
    from app.server import create_app

    settings = _checked_settings()
    _exit_cleanly_on_signals()
    migrate_forwards(_database_url())
    if seed_demo:
        from app.demo.seed import DEMO_ADMIN_EMAIL, DEMO_SLUG, seed

        asyncio.run(seed())
        # The demo key is printed only when the tenant is created; a fresh one-time link works
        # on every start.
        link = asyncio.run(_login_link(email=DEMO_ADMIN_EMAIL, tenant=DEMO_SLUG))
        typer.echo(f"Console: {console_url(settings)}")
        typer.echo(f"Sign in as {DEMO_ADMIN_EMAIL} (one-time link, 15 minutes): {link}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # One log format: create_app configured logging; our middleware logs each request once.
        log_config=None,
        access_log=False,
    )


def _exit_cleanly_on_signals() -> None:
    """SIGINT/SIGTERM end the process through a normal exit, so exit handlers run.

    uvicorn handles both while it serves, shuts down, then re-raises the signal to the handler
    that was there before; with the default one, SIGTERM would kill the process on the spot and
    skip the exit handler that stops the embedded PostgreSQL this process started.
    """
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@app.command()
def worker(
    queue_name: Annotated[
        str, typer.Option(help="SAQ queue to work (the API enqueues on 'crmflow').")
    ] = "crmflow",
) -> None:
    """Run a standalone worker: jobs of QUEUE_URL (or the database's Postgres queue)."""
    from app.core.logging import configure_from_settings
    from app.worker.runtime import run_standalone

    configure_from_settings(_checked_settings())
    asyncio.run(run_standalone(queue_name=queue_name))


@app.command("create-tenant")
def create_tenant_cmd(
    name: Annotated[str, typer.Option(help="Display name of the tenant.")],
    admin_email: Annotated[str, typer.Option(help="Email of the first admin user.")],
    admin_name: Annotated[str, typer.Option(help="Name of the first admin user.")] = "",
) -> None:
    """Create a tenant and its first admin; print the admin's API key (shown once)."""
    from app.core.config import get_settings
    from app.core.db import pool_options
    from app.core.errors import AppError
    from app.core.uow import get_engine, unit_of_work
    from app.tenants.service import create_tenant

    async def run() -> None:
        engine = get_engine()
        await engine.start_connection_pool(**pool_options(get_settings(), min_size=1, max_size=2))
        try:
            async with unit_of_work():
                boot = await create_tenant(
                    name=name, admin_email=admin_email, admin_name=admin_name
                )
        finally:
            await engine.close_connection_pool()
        typer.echo(f"tenant_id={boot.tenant_id}")
        typer.echo(f"admin_user_id={boot.admin_user_id}")
        typer.echo(f"api_key={boot.api_key}")
        typer.echo("Store this key now: it is not shown again.", err=True)

    try:
        asyncio.run(run())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc


@app.command("create-key")
def create_key_cmd(
    email: Annotated[str, typer.Option(help="Email of an existing, active user.")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug, when the email is a user of several.")
    ] = None,
    name: Annotated[str, typer.Option(help="A name for the key.")] = "",
) -> None:
    """Issue a new API key for an existing user (a lost key); print it once."""
    from app.api_keys.service import create_key_for_email
    from app.core.errors import AppError
    from app.core.uow import unit_of_work

    async def run() -> tuple[str, Any]:
        async with unit_of_work():
            return await create_key_for_email(email=email, tenant_slug=tenant, name=name)

    try:
        slug, created = asyncio.run(_with_pool(run))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"tenant={slug}")
    typer.echo(f"user_id={created.user_id}")
    typer.echo(f"api_key={created.key}")
    typer.echo("Store this key now: it is not shown again.", err=True)


@app.command()
def status() -> None:
    """Database, pending migrations, queue depth and the workers seen lately; exit 1 if unwell."""
    from app.health.status import collect

    report = asyncio.run(collect(_checked_settings()))
    for line in report.lines:
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL of DATA_DIR_PATH unless a crmflow process still uses it."""
    import os

    from app.core.config import get_settings
    from app.core.embedded_pg import forget_dead_users, live_users, server_pid, stop_server

    settings = get_settings()
    busy = False
    for pgdata in (settings.embedded_pg_dir, settings.data_dir / "pg-test"):
        if server_pid(pgdata) is None:
            continue
        forget_dead_users(pgdata)
        users = [pid for pid in live_users(pgdata) if pid != os.getpid()]
        if users:
            typer.echo(f"{pgdata}: still used by crmflow process(es) {users}; stop them first")
            busy = True
            continue
        stop_server(pgdata)
        typer.echo(f"{pgdata}: stopped")
    if busy:
        raise typer.Exit(code=1)


@app.command("settings-doc")
def settings_doc(
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the README's configuration table.")
    ] = False,
) -> None:
    """Print the configuration table generated from the settings class (or write it)."""
    from app.core import settings_doc as doc

    missing = doc.undocumented()
    if missing:
        names = ", ".join(n.upper() for n in missing)
        typer.echo(f"error: describe {names} in app/core/settings_doc.py MEANING", err=True)
        raise typer.Exit(code=1)
    if not write:
        typer.echo(doc.table())
        return
    changed = doc.write_readme()
    typer.echo("README.md updated" if changed else "README.md already up to date")


@app.command("login-link")
def login_link_cmd(
    email: Annotated[str, typer.Option(help="Email of the user who signs in.")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug, when the email is a user of several.")
    ] = None,
) -> None:
    """Print a one-time console sign-in link (valid 15 minutes, single use)."""
    from app.core.errors import AppError

    try:
        url = asyncio.run(_login_link(email=email, tenant=tenant))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(url)


async def _login_link(*, email: str, tenant: str | None) -> str:
    from app.core.config import get_settings
    from app.core.db import pool_options
    from app.core.uow import get_engine, unit_of_work
    from app.dashboard.signin import create_login_link

    engine = get_engine()
    await engine.start_connection_pool(**pool_options(get_settings(), min_size=1, max_size=2))
    try:
        async with unit_of_work():
            link = await create_login_link(email=email, tenant_slug=tenant)
    finally:
        await engine.close_connection_pool()
    return f"{console_url(get_settings())}/login/link/{link.token}"


async def _with_pool(work: Callable[[], Awaitable[T]]) -> T:
    """Run work with a small connection pool on the configured database."""
    from app.core.uow import get_engine

    engine = get_engine()
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        return await work()
    finally:
        await engine.close_connection_pool()


@app.command()
def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would go; delete nothing.")
    ] = False,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (slug).")] = None,
) -> None:
    """Delete what the retention policy lets go now (the worker also does it periodically)."""
    from app.retention.service import prune as run_prune

    settings = _checked_settings()
    report = asyncio.run(
        _with_pool(lambda: run_prune(settings, dry_run=dry_run, tenant_slug=tenant))
    )
    verb = "would delete" if dry_run else "deleted"
    if not report.by_tenant:
        typer.echo(f"nothing to prune ({verb} 0 rows)")
        return
    for slug, counts in report.by_tenant.items():
        parts = ", ".join(f"{name}={n}" for name, n in counts.as_dict().items() if n)
        typer.echo(f"{slug}: {verb} {parts}")
    total = report.total()
    typer.echo(f"total: {verb} {total.total()} rows")


@app.command()
def retention(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    days: Annotated[
        int | None, typer.Option(min=1, help="Keep finished rows this many days.")
    ] = None,
    max_rows: Annotated[
        int | None, typer.Option(min=1, help="Keep at most this many of each kind.")
    ] = None,
    audit_days: Annotated[
        int | None, typer.Option(min=1, help="Keep audit logs this long.")
    ] = None,
    reset: Annotated[bool, typer.Option(help="Back to the global settings.")] = False,
) -> None:
    """Show or set a tenant's retention overrides (unset ones follow the global settings)."""
    from app.core.uow import unit_of_work
    from app.retention.service import policies, set_policy

    settings = _checked_settings()

    async def run() -> bool:
        if reset or days is not None or max_rows is not None or audit_days is not None:
            async with unit_of_work():
                if not await set_policy(
                    tenant_slug=tenant, days=days, max_rows=max_rows, audit_days=audit_days
                ):
                    return False
        found = await policies(settings, tenant_slug=tenant)
        for policy in found:
            typer.echo(
                f"{policy.slug}: days={policy.days} max_rows={policy.max_rows} "
                f"audit_days={policy.audit_days}"
            )
        return bool(found)

    if not asyncio.run(_with_pool(run)):
        typer.echo(f"error: no tenant {tenant!r}", err=True)
        raise typer.Exit(code=1)


def console_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}/dashboard"


def main() -> None:
    # Piccolo finds its engine by importing `piccolo_conf` from the project root, and a console
    # script (unlike `python -m`) does not put that directory on sys.path.
    import sys

    from app.core.config import PROJECT_ROOT

    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    app()


if __name__ == "__main__":
    main()
