"""The demo tenant: idempotent, so `crmflow serve --seed-demo` can run it on every start.

Every object has a natural key (tenant slug, client email/name, workflow name, event
idempotency key, document storage key); an object that already exists is left alone, so a second
run adds nothing. The admin's API key exists in plaintext only when the tenant is created: it is
printed then, never again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.uow import get_engine, unit_of_work
from app.tenants.service import create_tenant
from tables import (
    Clients,
    Documents,
    Emails,
    Events,
    Notes,
    Tasks,
    Tenants,
    Users,
    WorkflowExecutionLogs,
    WorkflowExecutions,
    Workflows,
)
from tables.enums import (
    ClientStatus,
    EmailStatus,
    ExecutionStatus,
    StepStatus,
    TaskPriority,
    TriggerType,
)

DEMO_SLUG = "demo"
DEMO_TENANT_NAME = "Demo Company"
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_ADMIN_NAME = "Dana Admin"


@dataclass(frozen=True)
class DemoClient:
    key: str
    name: str
    email: str | None
    company: str
    status: ClientStatus
    tags: tuple[str, ...] = ()
    phone: str | None = None


CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        "northwind",
        "Nora North",
        "nora@northwind.example",
        "Northwind Traders",
        ClientStatus.LEAD,
        ("newsletter",),
        "+1 555 0101",
    ),
    DemoClient("hooli", "Gavin Belson", None, "Hooli", ClientStatus.LEAD, ("vip",)),
    DemoClient(
        "initech",
        "Bill Lumbergh",
        "bill@initech.example",
        "Initech",
        ClientStatus.ACTIVE,
        ("vip", "enterprise"),
        "+1 555 0142",
    ),
    DemoClient(
        "globex",
        "Hank Scorpio",
        "hank@globex.example",
        "Globex Corporation",
        ClientStatus.ACTIVE,
        ("enterprise",),
    ),
    DemoClient(
        "umbrella",
        "Alice Abernathy",
        "alice@umbrella.example",
        "Umbrella Health",
        ClientStatus.INACTIVE,
        ("healthcare",),
    ),
    DemoClient(
        "soylent", "Sol Roth", "sol@soylent.example", "Soylent Foods", ClientStatus.CHURNED, ()
    ),
)

WELCOME = "Welcome email for new clients"
VIP = "VIP onboarding task"
REVIEW = "Review uploaded PDF documents"


def _workflows() -> list[dict[str, Any]]:
    return [
        {
            "name": WELCOME,
            "description": "Drafts a welcome email to every new client, for an operator "
            "to approve.",
            "trigger_type": TriggerType.CLIENT_CREATED.value,
            "trigger_config": {},
            "conditions": None,
            "actions": [
                {
                    "type": "SEND_EMAIL",
                    "config": {
                        "to": "{{client.email}}",
                        "subject": "Welcome aboard, {{client.name}}",
                        "body": "Hi {{client.name}},\n\nThanks for choosing us. Your account "
                        "manager will be in touch within one business day.\n\n"
                        "The Demo Company team",
                    },
                },
            ],
        },
        {
            "name": VIP,
            "description": "When a VIP client becomes active, schedule a kickoff call within "
            "two days.",
            "trigger_type": TriggerType.CLIENT_STATUS_CHANGED.value,
            "trigger_config": {"to": ClientStatus.ACTIVE.value},
            "conditions": {
                "all": [
                    {"field": "client.tags", "operator": "contains", "value": "vip"},
                ]
            },
            "actions": [
                {
                    "type": "CREATE_TASK",
                    "config": {
                        "title": "Kickoff call with {{client.name}} (VIP)",
                        "priority": TaskPriority.HIGH.value,
                        "due_in": {"days": 2},
                    },
                },
                {
                    "type": "ADD_NOTE",
                    "config": {
                        "body": "VIP onboarding started: kickoff call scheduled.",
                    },
                },
            ],
        },
        {
            "name": REVIEW,
            "description": "Every PDF a client uploads gets a review task.",
            "trigger_type": TriggerType.DOCUMENT_UPLOADED.value,
            "trigger_config": {"content_type": "application/pdf"},
            "conditions": None,
            "actions": [
                {
                    "type": "CREATE_TASK",
                    "config": {
                        "title": "Review the PDF uploaded by {{client.name}}",
                        "priority": TaskPriority.MEDIUM.value,
                        "due_in": {"days": 1},
                    },
                },
            ],
        },
    ]


@dataclass
class SeedResult:
    tenant_id: UUID
    tenant_created: bool
    # The admin's key in plaintext: only when the tenant was created by this run.
    api_key: str | None
    added: dict[str, int] = field(default_factory=dict)

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    def count(self, kind: str, n: int = 1) -> None:
        self.added[kind] = self.added.get(kind, 0) + n


class _Seeder:
    def __init__(self, tenant_id: UUID, admin_id: UUID, result: SeedResult) -> None:
        self.tenant_id = tenant_id
        self.admin_id = admin_id
        self.result = result
        self.now = datetime.now(UTC)
        self.clients: dict[str, UUID] = {}
        self.workflows: dict[str, Workflows] = {}

    async def run(self) -> None:
        for demo in CLIENTS:
            self.clients[demo.key] = await self._client(demo)
        for spec in _workflows():
            self.workflows[spec["name"]] = await self._workflow(spec)
        await self._executions()

    async def _client(self, demo: DemoClient) -> UUID:
        existing = (
            await Clients.select(Clients.id)
            .where((Clients.tenant == self.tenant_id) & (Clients.company == demo.company))
            .first()
        )
        if existing is not None:
            client_id: UUID = existing["id"]
            return client_id
        client = Clients(
            tenant=self.tenant_id,
            owner=self.admin_id,
            name=demo.name,
            email=demo.email,
            phone=demo.phone,
            company=demo.company,
            status=demo.status.value,
            tags=list(demo.tags),
            custom_fields={"source": "demo"},
        )
        await client.save()
        self.result.count("clients")
        new_id: UUID = client.id
        return new_id

    async def _workflow(self, spec: dict[str, Any]) -> Workflows:
        existing = (
            await Workflows.objects()
            .where((Workflows.tenant == self.tenant_id) & (Workflows.name == spec["name"]))
            .first()
        )
        if existing is not None:
            found: Workflows = existing
            return found
        workflow = Workflows(
            tenant=self.tenant_id, created_by=self.admin_id, is_active=True, version=1, **spec
        )
        await workflow.save()
        self.result.count("workflows")
        return workflow

    async def _event(
        self, key: str, type_: str, client: str, payload: dict[str, Any], at: datetime
    ) -> tuple[UUID, bool]:
        """A past event, already dispatched: the worker must not run it again."""
        idempotency_key = f"demo:{key}"
        existing = (
            await Events.select(Events.id)
            .where((Events.tenant == self.tenant_id) & (Events.idempotency_key == idempotency_key))
            .first()
        )
        if existing is not None:
            return existing["id"], False
        event = Events(
            tenant=self.tenant_id,
            type=type_,
            client=self.clients[client],
            payload=payload,
            actor=self.admin_id,
            idempotency_key=idempotency_key,
            depth=0,
            dispatched_at=at,
            created_at=at,
        )
        await event.save()
        self.result.count("events")
        event_id: UUID = event.id
        return event_id, True

    async def _document(self, client: str, filename: str, at: datetime) -> UUID:
        storage_key = f"demo/{client}/{filename}"
        existing = (
            await Documents.select(Documents.id).where(Documents.storage_key == storage_key).first()
        )
        if existing is not None:
            doc_id: UUID = existing["id"]
            return doc_id
        content = b"%PDF-1.4\n% crmflow demo document\n%%EOF\n"
        document = Documents(
            client=self.clients[client],
            uploaded_by=self.admin_id,
            filename=filename,
            content_type="application/pdf",
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            storage_key=storage_key,
            created_at=at,
        )
        await document.save()
        self.result.count("documents")
        new_id: UUID = document.id
        return new_id

    async def _execution(
        self,
        workflow_name: str,
        client: str,
        event_id: UUID,
        status: ExecutionStatus,
        current_step: int,
        started: datetime,
        finished: datetime | None,
        error: str | None,
        trigger_data: dict[str, Any],
    ) -> UUID | None:
        """The execution of (workflow, event), or None when it already exists."""
        workflow = self.workflows[workflow_name]
        exists = await WorkflowExecutions.exists().where(
            (WorkflowExecutions.workflow == workflow.id) & (WorkflowExecutions.event == event_id)
        )
        if exists:
            return None
        execution = WorkflowExecutions(
            tenant=self.tenant_id,
            workflow=workflow.id,
            client=self.clients[client],
            event=event_id,
            workflow_version=workflow.version,
            definition={
                "trigger_type": workflow.trigger_type,
                "trigger_config": _json(workflow.trigger_config),
                "conditions": _json(workflow.conditions),
                "actions": _json(workflow.actions),
            },
            status=status.value,
            trigger_data=trigger_data,
            current_step=current_step,
            started_at=started,
            completed_at=finished,
            error_message=error,
            created_at=started,
        )
        await execution.save()
        self.result.count("executions")
        new_id: UUID = execution.id
        return new_id

    async def _log(
        self,
        execution_id: UUID,
        step: int,
        action: str,
        status: StepStatus,
        at: datetime,
        *,
        attempt: int = 1,
        input_data: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
        error: str | None = None,
        duration_ms: int = 12,
    ) -> None:
        await WorkflowExecutionLogs(
            execution=execution_id,
            step_index=step,
            action_type=action,
            status=status.value,
            attempt=attempt,
            input_data=input_data or {},
            output_data=output,
            error_message=error,
            duration_ms=duration_ms,
            executed_at=at,
            created_at=at,
        ).save()
        self.result.count("execution_logs")

    async def _task_step(
        self,
        execution_id: UUID,
        client: str,
        title: str,
        priority: TaskPriority,
        *,
        due_at: datetime,
        done: datetime,
        duration_ms: int,
        attempt: int = 1,
    ) -> None:
        """The task a CREATE_TASK step (step 0) made for the admin, and its SUCCESS log."""
        task = Tasks(
            tenant=self.tenant_id,
            client=self.clients[client],
            assignee=self.admin_id,
            execution=execution_id,
            title=title,
            priority=priority.value,
            due_at=due_at,
            created_at=done,
        )
        await task.save()
        self.result.count("tasks")
        await self._log(
            execution_id,
            0,
            "CREATE_TASK",
            StepStatus.SUCCESS,
            done,
            attempt=attempt,
            input_data={"title": title, "priority": priority.value},
            output={"task_id": str(task.id)},
            duration_ms=duration_ms,
        )

    async def _executions(self) -> None:
        await self._welcome_completed()
        await self._welcome_failed()
        await self._vip_running()
        await self._review_completed()

    async def _welcome_completed(self) -> None:
        at = self.now - timedelta(days=3)
        event_id, _ = await self._event(
            "northwind-created",
            TriggerType.CLIENT_CREATED.value,
            "northwind",
            {"status": ClientStatus.LEAD.value},
            at,
        )
        done = at + timedelta(seconds=2)
        execution_id = await self._execution(
            WELCOME,
            "northwind",
            event_id,
            ExecutionStatus.COMPLETED,
            1,
            at + timedelta(seconds=1),
            done,
            None,
            {"event_type": TriggerType.CLIENT_CREATED.value},
        )
        if execution_id is None:
            return
        email = Emails(
            tenant=self.tenant_id,
            client=self.clients["northwind"],
            execution=execution_id,
            to="nora@northwind.example",
            subject="Welcome aboard, Nora North",
            body="Hi Nora North,\n\nThanks for choosing us. Your account manager will "
            "be in touch within one business day.\n\nThe Demo Company team",
            status=EmailStatus.DRAFT.value,
            created_at=done,
        )
        await email.save()
        self.result.count("emails")
        await self._log(
            execution_id,
            0,
            "SEND_EMAIL",
            StepStatus.SUCCESS,
            done,
            input_data={"to": "nora@northwind.example", "subject": "Welcome aboard, Nora North"},
            output={"email_id": str(email.id), "status": EmailStatus.DRAFT.value},
            duration_ms=18,
        )

    async def _welcome_failed(self) -> None:
        at = self.now - timedelta(days=1, hours=4)
        event_id, _ = await self._event(
            "hooli-created",
            TriggerType.CLIENT_CREATED.value,
            "hooli",
            {"status": ClientStatus.LEAD.value},
            at,
        )
        failed = at + timedelta(seconds=1)
        error = "step 0 (SEND_EMAIL): 'to' rendered empty: {{client.email}} is not set"
        execution_id = await self._execution(
            WELCOME,
            "hooli",
            event_id,
            ExecutionStatus.FAILED,
            0,
            at + timedelta(seconds=1),
            failed,
            error,
            {"event_type": TriggerType.CLIENT_CREATED.value},
        )
        if execution_id is None:
            return
        await self._log(
            execution_id,
            0,
            "SEND_EMAIL",
            StepStatus.FAILED,
            failed,
            input_data={"to": "{{client.email}}"},
            error="template rendered an empty recipient: client.email is not set",
            duration_ms=3,
        )

    async def _vip_running(self) -> None:
        at = self.now - timedelta(minutes=2)
        payload = {"from": ClientStatus.LEAD.value, "to": ClientStatus.ACTIVE.value}
        event_id, _ = await self._event(
            "initech-activated", TriggerType.CLIENT_STATUS_CHANGED.value, "initech", payload, at
        )
        step_done = at + timedelta(seconds=1)
        execution_id = await self._execution(
            VIP,
            "initech",
            event_id,
            ExecutionStatus.RUNNING,
            1,
            at,
            None,
            None,
            {"event_type": TriggerType.CLIENT_STATUS_CHANGED.value, **payload},
        )
        if execution_id is None:
            return
        await self._task_step(
            execution_id,
            "initech",
            "Kickoff call with Bill Lumbergh (VIP)",
            TaskPriority.HIGH,
            due_at=at + timedelta(days=2),
            done=step_done,
            duration_ms=9,
        )

    async def _review_completed(self) -> None:
        at = self.now - timedelta(hours=6)
        document_id = await self._document("globex", "master-services-agreement.pdf", at)
        payload = {
            "document_id": str(document_id),
            "filename": "master-services-agreement.pdf",
            "content_type": "application/pdf",
        }
        event_id, _ = await self._event(
            "globex-msa-uploaded", TriggerType.DOCUMENT_UPLOADED.value, "globex", payload, at
        )
        done = at + timedelta(seconds=2)
        execution_id = await self._execution(
            REVIEW,
            "globex",
            event_id,
            ExecutionStatus.COMPLETED,
            1,
            at + timedelta(seconds=1),
            done,
            None,
            {"event_type": TriggerType.DOCUMENT_UPLOADED.value, **payload},
        )
        if execution_id is None:
            return
        # The first attempt hit a transient error and was retried.
        await self._log(
            execution_id,
            0,
            "CREATE_TASK",
            StepStatus.RETRYING,
            at + timedelta(seconds=1),
            attempt=1,
            error='could not obtain lock on row in relation "tasks"',
            duration_ms=1000,
        )
        await self._task_step(
            execution_id,
            "globex",
            "Review the PDF uploaded by Hank Scorpio",
            TaskPriority.MEDIUM,
            due_at=at + timedelta(days=1),
            done=done,
            duration_ms=11,
            attempt=2,
        )
        await Notes(
            client=self.clients["globex"],
            author=self.admin_id,
            body="MSA received; legal to review before the renewal call.",
            created_at=done,
        ).save()
        self.result.count("notes")


def _json(value: Any) -> Any:
    """JSONB read back through the ORM is text; decode it for the execution's snapshot."""
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


async def _seed_in_transaction() -> SeedResult:
    tenant = await Tenants.select(Tenants.id).where(Tenants.slug == DEMO_SLUG).first()
    if tenant is None:
        boot = await create_tenant(
            name=DEMO_TENANT_NAME,
            admin_email=DEMO_ADMIN_EMAIL,
            admin_name=DEMO_ADMIN_NAME,
            slug=DEMO_SLUG,
        )
        result = SeedResult(tenant_id=boot.tenant_id, tenant_created=True, api_key=boot.api_key)
        result.count("tenants")
        result.count("users")
        result.count("api_keys")
        admin_id = boot.admin_user_id
    else:
        tenant_id: UUID = tenant["id"]
        result = SeedResult(tenant_id=tenant_id, tenant_created=False, api_key=None)
        admin = (
            await Users.select(Users.id)
            .where((Users.tenant == tenant_id) & (Users.email == DEMO_ADMIN_EMAIL))
            .first()
        )
        if admin is None:
            admin = (
                await Users.select(Users.id)
                .where(Users.tenant == tenant_id)
                .order_by(Users.created_at)
                .first()
            )
        if admin is None:
            raise RuntimeError(f"tenant '{DEMO_SLUG}' exists but has no user to own demo data")
        admin_id = admin["id"]
    await _Seeder(result.tenant_id, admin_id, result).run()
    return result


def _announce(result: SeedResult, echo: Callable[[str], None]) -> None:
    if result.api_key is not None:
        echo(f"Demo tenant '{DEMO_SLUG}' created; admin {DEMO_ADMIN_EMAIL}.")
        echo(f"Admin API key (shown once, store it now): {result.api_key}")
    if result.total_added:
        added = ", ".join(f"{n} {kind}" for kind, n in sorted(result.added.items()))
        echo(f"Demo data added: {added}.")
    else:
        echo(f"Demo tenant '{DEMO_SLUG}' already seeded; nothing added.")


async def seed(*, echo: Callable[[str], None] = print) -> SeedResult:
    """Create the demo tenant and its data if missing (one transaction); report what was added.

    Uses the engine's pool when one is running (inside the app); otherwise opens its own pool
    and closes it, so `asyncio.run(seed())` works on its own.
    """
    engine = get_engine()
    own_pool = engine.pool is None
    if own_pool:
        from app.core.config import get_settings
        from app.core.db import pool_options

        await engine.start_connection_pool(**pool_options(get_settings(), min_size=1, max_size=2))
    try:
        async with unit_of_work():
            result = await _seed_in_transaction()
    finally:
        if own_pool:
            await engine.close_connection_pool()
    _announce(result, echo)
    return result
