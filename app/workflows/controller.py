"""HTTP: /api/v1/workflows. Members read and dry-run; admins change and trigger."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from app.core.auth import admin_only
from app.core.errors import error_responses, problem
from app.core.listing import AuthRequest, CreatedAfter, CreatedBefore, Paging, page_dependency
from app.workflows import service, transfer, versions
from app.workflows.dryrun import dry_run
from app.workflows.library import TemplateList, list_templates
from app.workflows.schemas import (
    DryRunRequest,
    DryRunResult,
    ManualTrigger,
    TriggerAccepted,
    WorkflowOut,
    WorkflowPage,
    WorkflowSort,
    WorkflowUpdate,
)
from app.workflows.transfer import ImportResult, WorkflowExport
from app.workflows.versions import VersionDiff, VersionList, VersionOut
from tables.enums import TriggerType

TriggerTypeParam = TriggerType | None


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    # msgspec gives up on JSON nested ~1000 levels deep while decoding the body.
    return problem(400, "Bad request", "The JSON body nests too deeply.", request=request)


class WorkflowController(Controller):
    path = "/workflows"
    tags = ["workflows"]
    dependencies = {"page": page_dependency(WorkflowSort)}
    exception_handlers = {RecursionError: _too_deep}

    @post(
        "/",
        summary="Create a workflow (inactive unless is_active is true)",
        guards=[admin_only],
        responses=error_responses(403),
    )
    async def create_workflow(
        self, request: AuthRequest, data: JSONBody[dict[str, Any]]
    ) -> WorkflowOut:
        # The body's schema is the typed language (app/workflows/language.py); it is read here
        # as JSON so that one 422 can list every problem in it.
        p = request.user
        return await service.create_from_body(tenant_id=p.tenant_id, actor_id=p.user_id, raw=data)

    @get("/", summary="List workflows (filters, sort, cursor pages)", responses=error_responses())
    async def list_workflows(
        self,
        request: AuthRequest,
        page: Paging,
        trigger_type: Annotated[TriggerTypeParam, QueryParameter()] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
        q: Annotated[
            str | None, QueryParameter(description="Search in the name", max_length=200)
        ] = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
    ) -> WorkflowPage:
        return await service.list_workflows(
            tenant_id=request.user.tenant_id,
            trigger_type=trigger_type,
            is_active=is_active,
            q=q,
            created_after=created_after,
            created_before=created_before,
            page=page,
        )

    @get("/{workflow_id:uuid}", summary="Get a workflow", responses=error_responses(404))
    async def get_workflow(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        return await service.get_workflow(tenant_id=request.user.tenant_id, workflow_id=workflow_id)

    @patch(
        "/{workflow_id:uuid}",
        summary="Change a workflow (a definition change bumps the version)",
        guards=[admin_only],
        responses=error_responses(403, 404),
    )
    async def update_workflow(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[dict[str, Any]]
    ) -> WorkflowOut:
        body = service.read_body(data, WorkflowUpdate)
        return await service.update_workflow(
            tenant_id=request.user.tenant_id, workflow_id=workflow_id, data=body
        )

    @delete(
        "/{workflow_id:uuid}",
        summary="Delete a workflow with its executions",
        guards=[admin_only],
        responses=error_responses(403, 404),
    )
    async def delete_workflow(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> None:
        await service.delete_workflow(tenant_id=request.user.tenant_id, workflow_id=workflow_id)

    @post(
        "/{workflow_id:uuid}/activate",
        summary="Activate a workflow",
        guards=[admin_only],
        status_code=200,
        responses=error_responses(403, 404),
    )
    async def activate(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        return await service.set_active(
            tenant_id=request.user.tenant_id, workflow_id=workflow_id, active=True
        )

    @post(
        "/{workflow_id:uuid}/deactivate",
        summary="Deactivate a workflow",
        guards=[admin_only],
        status_code=200,
        responses=error_responses(403, 404),
    )
    async def deactivate(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        return await service.set_active(
            tenant_id=request.user.tenant_id, workflow_id=workflow_id, active=False
        )

    @get(
        "/{workflow_id:uuid}/versions",
        summary="Every definition version of a workflow, newest first",
        responses=error_responses(404),
    )
    async def list_versions(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> VersionList:
        return await versions.list_versions(
            tenant_id=request.user.tenant_id, workflow_id=workflow_id
        )

    @get(
        "/{workflow_id:uuid}/versions/{version:int}",
        summary="One definition version",
        responses=error_responses(404),
    )
    async def get_version(
        self, request: AuthRequest, workflow_id: FromPath[UUID], version: FromPath[int]
    ) -> VersionOut:
        return await versions.get_version(
            tenant_id=request.user.tenant_id, workflow_id=workflow_id, version=version
        )

    @get(
        "/{workflow_id:uuid}/versions/diff",
        summary="What changed between two versions (by JSON path)",
        responses=error_responses(404),
    )
    async def diff_versions(
        self,
        request: AuthRequest,
        workflow_id: FromPath[UUID],
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=2**31 - 1)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=2**31 - 1)],
    ) -> VersionDiff:
        return await versions.diff_versions(
            tenant_id=request.user.tenant_id,
            workflow_id=workflow_id,
            from_version=from_version,
            to_version=to_version,
        )

    @post(
        "/{workflow_id:uuid}/versions/{version:int}/restore",
        summary="Make an earlier version's definition current again (as a new version)",
        guards=[admin_only],
        status_code=200,
        responses=error_responses(403, 404, 409),
    )
    async def restore_version(
        self, request: AuthRequest, workflow_id: FromPath[UUID], version: FromPath[int]
    ) -> WorkflowOut:
        p = request.user
        row = await versions.restore_version(
            tenant_id=p.tenant_id, workflow_id=workflow_id, version=version, actor_id=p.user_id
        )
        return service.to_out(row)

    @get(
        "/export",
        summary="Export workflows as JSON (all, or those in `id`); secrets are left out",
        responses=error_responses(),
    )
    async def export_workflows(
        self,
        request: AuthRequest,
        ids: Annotated[list[UUID] | None, QueryParameter(name="id", max_items=200)] = None,
    ) -> WorkflowExport:
        return await transfer.export_workflows(tenant_id=request.user.tenant_id, ids=ids)

    @post(
        "/import",
        summary="Import an export into this tenant: new ids, users mapped by email, inactive",
        description=(
            "Every workflow is checked like a save and every problem of every workflow is "
            "reported at once (paths under `$.workflows[i]`); nothing is created unless all are "
            "valid. WEBHOOK secrets are not in an export: set them again."
        ),
        guards=[admin_only],
        status_code=201,
        responses=error_responses(403),
    )
    async def import_workflows(
        self, request: AuthRequest, data: JSONBody[dict[str, Any]]
    ) -> ImportResult:
        p = request.user
        return await transfer.import_workflows(tenant_id=p.tenant_id, actor_id=p.user_id, raw=data)

    @post(
        "/{workflow_id:uuid}/test",
        summary="Dry run against a client: trigger, conditions and rendered steps; writes nothing",
        status_code=200,
        responses=error_responses(404),
    )
    async def test_workflow(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[DryRunRequest]
    ) -> DryRunResult:
        return await dry_run(tenant_id=request.user.tenant_id, workflow_id=workflow_id, data=data)

    @post(
        "/{workflow_id:uuid}/trigger",
        summary="Run a MANUAL workflow now (records a MANUAL event; the engine runs it)",
        guards=[admin_only],
        status_code=HTTP_202_ACCEPTED,
        responses=error_responses(403, 404, 409),
    )
    async def trigger(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[ManualTrigger]
    ) -> TriggerAccepted:
        p = request.user
        return await service.trigger_manual(
            tenant_id=p.tenant_id, workflow_id=workflow_id, actor_id=p.user_id, data=data
        )


class WorkflowTemplateController(Controller):
    path = "/workflow-templates"
    tags = ["workflows"]

    @get(
        "/",
        summary="Workflow templates: the shipped CRM workflows and the tenant's own",
        description=(
            'Instantiate one with POST /workflows {"from_template": <key>}; mark one of your '
            "workflows as a template with is_template: true."
        ),
        responses=error_responses(),
    )
    async def list_templates(self, request: AuthRequest) -> TemplateList:
        return await list_templates(tenant_id=request.user.tenant_id)


__all__ = ["WorkflowController", "WorkflowTemplateController"]
