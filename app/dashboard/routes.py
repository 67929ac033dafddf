"""Assemble the console: its router (session, CSRF, sign-in check), static files, templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router, get
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.htmx import HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.core.config import Environment, Settings
from app.core.crypto import derived_secret
from app.core.uow import TransactionMiddleware
from app.dashboard.clients import ClientPages
from app.dashboard.context import EXCEPTION_HANDLERS, current_principal
from app.dashboard.emails import EmailPages
from app.dashboard.events import EventPages
from app.dashboard.executions import ExecutionPages
from app.dashboard.overview import OverviewPages
from app.dashboard.signin import PostgresSessionStore
from app.dashboard.signin_pages import SignInPages
from app.dashboard.templating import register_filters
from app.dashboard.workflows import WorkflowPages

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
STATIC_PATH = "/dashboard/static"
SESSION_STORE = "console_sessions"
SESSION_MAX_AGE_S = 12 * 3600  # one working day; the key is re-checked on every request anyway


def session_config(settings: Settings) -> ServerSideSessionConfig:
    """The console's session cookie: an opaque id, HttpOnly, SameSite=Lax, Secure in production."""
    return ServerSideSessionConfig(
        store=SESSION_STORE,
        key="crmflow_session",
        max_age=SESSION_MAX_AGE_S,
        path="/dashboard",
        httponly=True,
        samesite="lax",
        secure=settings.environment is Environment.PRODUCTION,
    )


def csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        # Signed double-submit cookie; a per-process secret would break forms across API processes.
        secret=derived_secret("crmflow console csrf", settings=settings),
        cookie_name="crmflow_csrf",
        cookie_path="/dashboard",
        cookie_secure=settings.environment is Environment.PRODUCTION,
        cookie_samesite="lax",
        header_name="x-csrftoken",
    )


def dashboard_router(settings: Settings) -> Router:
    session = session_config(settings)
    csrf = csrf_config(settings)
    return Router(
        path="/dashboard",
        route_handlers=[
            SignInPages,
            OverviewPages,
            ExecutionPages,
            EmailPages,
            EventPages,
            WorkflowPages,
            ClientPages,
        ],
        # The request's transaction, as on /api/v1: a form post commits (or rolls back) whole.
        middleware=[
            session.middleware,
            DefineMiddleware(CSRFMiddleware, config=csrf),
            TransactionMiddleware,
        ],
        dependencies={"principal": Provide(current_principal)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=HTMXRequest,
        include_in_schema=False,
    )


def session_store() -> dict[str, Any]:
    return {SESSION_STORE: PostgresSessionStore()}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATE_DIR, engine=JinjaTemplateEngine, engine_callback=register_filters
    )


def static_router() -> Router:
    return create_static_files_router(
        path=STATIC_PATH, directories=[STATIC_DIR], include_in_schema=False, name="dash_static"
    )


@get("/", include_in_schema=False, name="root")
async def root() -> Redirect:
    return Redirect(path="/dashboard")


def swagger_plugin() -> SwaggerRenderPlugin:
    """Swagger UI from the files the app serves: /schema works without internet."""
    base = f"{STATIC_PATH}/vendor/swagger-ui"
    return SwaggerRenderPlugin(
        js_url=f"{base}/swagger-ui-bundle.js",
        css_url=f"{base}/swagger-ui.css",
        standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
    )
