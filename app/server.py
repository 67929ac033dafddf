"""The one place the Litestar application is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from app.api_keys.controller import ApiKeyController
from app.audit.controller import AuditLogController
from app.clients.controller import ClientController
from app.core.auth import ApiKeyAuthenticationMiddleware
from app.core.config import Settings, get_settings
from app.core.db import pool_options
from app.core.errors import EXCEPTION_HANDLERS, StrictStructSchemaPlugin
from app.core.logging import configure_logging
from app.core.uow import get_engine
from app.documents.controller import DocumentController, upload_document
from app.emails.controller import EmailController
from app.events.controller import EventController
from app.executions.controller import ExecutionController
from app.health.controller import health, ready
from app.notes.controller import NoteController
from app.tasks.controller import TaskController
from app.users.controller import UserController
from app.webhooks.controller import WebhookSourceController, receive_webhook
from app.webhooks.startup import check_edge_settings
from app.worker.runtime import worker_lifespan
from app.workflows.controller import WorkflowController

PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema", "^/api/v1/webhooks/"]


def api_router() -> Router:
    """Every /api/v1 controller, by feature."""
    return Router(
        path="/api/v1",
        route_handlers=[
            WorkflowController,
            # API engineer's resources:
            UserController,
            ApiKeyController,
            ClientController,
            upload_document,
            DocumentController,
            NoteController,
            TaskController,
            EventController,
            AuditLogController,
            # Engine engineer:
            ExecutionController,
            # Edges engineer:
            EmailController,
            WebhookSourceController,
        ],
        security=[{"ApiKey": []}],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    # Refuse to start unsafely (EMAIL_MODE=SEND outside production, no SECRET_KEY in production).
    check_edge_settings(settings)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = get_engine()
        await engine.start_connection_pool(**pool_options(settings))
        try:
            yield
        finally:
            await engine.close_connection_pool()

    return Litestar(
        # receive_webhook: signed, not API-key authenticated, so outside the API router.
        route_handlers=[health, ready, api_router(), receive_webhook],
        lifespan=[lifespan, worker_lifespan],
        middleware=[DefineMiddleware(ApiKeyAuthenticationMiddleware, exclude=PUBLIC_PATHS)],
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[StrictStructSchemaPlugin()],
        cors_config=CORSConfig(allow_origins=[]),
        request_max_body_size=settings.upload_max_bytes + 64 * 1024,
        openapi_config=OpenAPIConfig(
            title="crmflow",
            version="1.0.0",
            description="Workflow automation for a CRM's clients.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="http", scheme="bearer", description="Authorization: Bearer <api key>"
                    ),
                }
            ),
        ),
        debug=False,
    )
