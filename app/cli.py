"""`crmflow` command line: serve, migrate, bootstrap a tenant."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.core.config import Settings

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
    migrate_forwards(_database_url())
    if seed_demo:
        from app.demo.seed import seed

        asyncio.run(seed())
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    queue_name: Annotated[
        str, typer.Option(help="SAQ queue to work (the API enqueues on 'crmflow').")
    ] = "crmflow",
) -> None:
    """Run a standalone worker: jobs of QUEUE_URL (or the database's Postgres queue)."""
    from app.core.logging import configure_logging
    from app.worker.runtime import run_standalone

    configure_logging(_checked_settings().log_level)
    asyncio.run(run_standalone(queue_name=queue_name))


@app.command("create-tenant")
def create_tenant_cmd(
    name: Annotated[str, typer.Option(help="Display name of the tenant.")],
    admin_email: Annotated[str, typer.Option(help="Email of the first admin user.")],
    admin_name: Annotated[str, typer.Option(help="Name of the first admin user.")] = "",
) -> None:
    """Create a tenant and its first admin; print the admin's API key (shown once)."""
    from app.core.errors import AppError
    from app.core.uow import get_engine, unit_of_work
    from app.tenants.service import create_tenant

    async def run() -> None:
        engine = get_engine()
        await engine.start_connection_pool(min_size=1, max_size=2)
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
