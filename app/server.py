"""The one place the Litestar application is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app.api_keys.controller import ApiKeyController
from app.audit.controller import AuditLogController
from app.clients.controller import ClientController
from app.clients.timeline import ClientTimelineController
from app.core.auth import ApiKeyAuthenticationMiddleware
from app.core.auth_cache import CACHE as AUTH_CACHE
from app.core.config import Settings, get_settings
from app.core.db import pool_options, resolve_database_url
from app.core.errors import EXCEPTION_HANDLERS, StrictStructSchemaPlugin
from app.core.jsonbody import BoundedJsonRequest
from app.core.listing import page_dependency, reject_unknown_query
from app.core.logging import configure_from_settings
from app.core.request_context import FreshRequestState
from app.core.request_id import RequestIdMiddleware
from app.core.security_headers import add_security_headers
from app.core.uow import TransactionMiddleware, get_engine
from app.dashboard.routes import (
    dashboard_router,
    root,
    session_store,
    static_router,
    swagger_plugin,
    template_config,
)
from app.documents.controller import DocumentController, upload_document
from app.emails.controller import EmailController
from app.events.controller import EventController
from app.executions.controller import ExecutionController
from app.health.controller import health, ready
from app.health.metrics import metrics, prometheus_config
from app.notes.controller import NoteController
from app.overview.controller import OverviewController
from app.tasks.controller import TaskController
from app.users.controller import UserController
from app.webhooks.controller import WebhookSourceController, receive_webhook
from app.webhooks.startup import check_edge_settings
from app.worker.runtime import worker_lifespan
from app.workflows.activity import WorkflowActivityController
from app.workflows.catalog import CatalogController
from app.workflows.controller import WorkflowController, WorkflowTemplateController
from app.workflows.language import install_openapi

# The console authenticates by its own session (app/dashboard), not by bearer key.
PUBLIC_PATHS = [
    "^/health$",
    "^/ready$",
    "^/metrics$",
    "^/schema",
    "^/api/v1/webhooks/",
    "^/$",
    "^/dashboard(/|$)",
]


def api_router() -> Router:
    """Every /api/v1 controller, by feature; an undeclared query parameter is a 422 on all."""
    return Router(
        path="/api/v1",
        route_handlers=[
            # Tenancy and access:
            UserController,
            ApiKeyController,
            AuditLogController,
            # The CRM's records:
            ClientController,
            ClientTimelineController,
            upload_document,
            DocumentController,
            NoteController,
            TaskController,
            EventController,
            # Automation:
            WorkflowController,
            WorkflowActivityController,
            WorkflowTemplateController,
            CatalogController,
            ExecutionController,
            EmailController,
            OverviewController,
            WebhookSourceController,
        ],
        security=[{"ApiKey": []}],
        before_request=reject_unknown_query,
        # A list route's sort, cursor and limit (a controller may offer other sorts).
        dependencies={"page": page_dependency()},
        # The request's transaction: every writing route commits (or rolls back) in one place.
        middleware=[TransactionMiddleware],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    # Refuse to start unsafely (EMAIL_MODE=SEND outside production, no SECRET_KEY in production).
    check_edge_settings(settings)
    configure_from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = get_engine()
        await engine.start_connection_pool(**pool_options(settings))
        await AUTH_CACHE.start(resolve_database_url(settings))
        try:
            yield
        finally:
            await AUTH_CACHE.stop()
            await engine.close_connection_pool()

    app = Litestar(
        # receive_webhook: signed, not API-key authenticated, so outside the API router.
        route_handlers=[
            health,
            ready,
            metrics,
            api_router(),
            receive_webhook,
            root,
            dashboard_router(settings),
            static_router(),
        ],
        template_config=template_config(),
        before_send=[add_security_headers],
        stores=session_store(),
        lifespan=[lifespan, worker_lifespan],
        middleware=[
            prometheus_config().middleware,
            DefineMiddleware(ApiKeyAuthenticationMiddleware, exclude=PUBLIC_PATHS),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        # Every JSON body goes through one depth-bounded decoder (app/core/jsonbody.py).
        request_class=BoundedJsonRequest,
        plugins=[StrictStructSchemaPlugin()],
        cors_config=CORSConfig(allow_origins=[]),
        request_max_body_size=settings.upload_max_bytes + 64 * 1024,
        openapi_config=OpenAPIConfig(
            title="crmflow",
            version="1.0.0",
            description="Workflow automation for a CRM's clients.",
            path="/schema",
            render_plugins=[swagger_plugin()],
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="http", scheme="bearer", description="Authorization: Bearer <api key>"
                    ),
                }
            ),
        ),
        debug=False,
        # Logging is ours (app/core/logging.py): Litestar's default config would add a second
        # handler with its own format to the root logger. Unhandled errors are logged by
        # app/core/errors.py.
        logging_config=None,
    )
    # Outermost, around Litestar's own exception handling and routing: every response (404s and
    # auth failures included) echoes X-Request-ID, and every line of the request carries it.
    # Inside it, no request inherits another's actor or transaction (app/core/request_context.py).
    app.asgi_handler = RequestIdMiddleware(FreshRequestState(app.asgi_handler))
    # The workflow language as real schemas (app/workflows/language.py).
    install_openapi(app)
    return app
