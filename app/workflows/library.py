"""Workflow templates: the CRM workflows shipped with the product, plus the tenant's own
workflows marked `is_template`. Instantiating one saves it like any workflow (same checks)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.core.errors import FieldError, UnprocessableError
from app.core.sql import fetch
from app.workflows.credentials import redact_actions

_OWNER_TASK = {"assignee": "owner"}


class ShippedTemplate(msgspec.Struct, kw_only=True):
    key: str
    name: str
    description: str
    trigger_type: str
    trigger_config: dict[str, Any] = {}
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]]
    # What sets it off, in words (the events it is made for).
    runs_on: str


def _tpl(**fields: Any) -> ShippedTemplate:
    return msgspec.convert(fields, ShippedTemplate)


TEMPLATES: tuple[ShippedTemplate, ...] = (
    _tpl(
        key="vip-welcome",
        name="VIP welcome",
        description="A personal welcome email and a call for the owner when a VIP client arrives.",
        trigger_type="CLIENT_CREATED",
        conditions={"all": [{"field": "client.tags", "operator": "contains", "value": "vip"}]},
        actions=[
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{ client.email }}",
                    "subject": "Welcome aboard, {{ client.name }}",
                    "body": "Dear {{ client.name }},\n\nthank you for choosing us. Your account "
                    "manager will call you within a day.\n",
                },
            },
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Welcome call with VIP {{ client.name }}",
                    "priority": "HIGH",
                    "due_in": {"days": 1},
                    **_OWNER_TASK,
                },
            },
        ],
        runs_on="a client created with the tag vip",
    ),
    _tpl(
        key="onboarding-on-active",
        name="Onboarding when a client becomes ACTIVE",
        description="Kick-off task, an onboarding tag and a welcome-pack email.",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "ACTIVE"},
        actions=[
            {"type": "ADD_TAG", "config": {"tag": "onboarding"}},
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Onboarding kick-off: {{ client.name }}",
                    "priority": "HIGH",
                    "due_in": {"days": 2},
                    **_OWNER_TASK,
                },
            },
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{ client.email }}",
                    "subject": "Getting started, {{ client.name }}",
                    "body": "Hello {{ client.name }},\n\nhere is how we will get you started.\n",
                },
            },
        ],
        runs_on="a client's status changing to ACTIVE",
    ),
    _tpl(
        key="document-review",
        name="Review uploaded PDFs",
        description="A review task and a note on the client for every PDF uploaded.",
        trigger_type="DOCUMENT_UPLOADED",
        trigger_config={"content_type": "application/pdf"},
        actions=[
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Review {{ event.payload.filename }} for {{ client.name }}",
                    "priority": "MEDIUM",
                    "due_in": {"days": 3},
                    **_OWNER_TASK,
                },
            },
            {
                "type": "ADD_NOTE",
                "config": {"body": "{{ event.payload.filename }} uploaded, review requested."},
            },
        ],
        runs_on="a PDF document uploaded to a client",
    ),
    _tpl(
        key="churn-follow-up",
        name="Churn follow-up",
        description="An urgent call, a note and a win-back draft when a client churns.",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "CHURNED"},
        actions=[
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Why did {{ client.name }} leave? Call them",
                    "priority": "URGENT",
                    "due_in": {"days": 1},
                    **_OWNER_TASK,
                },
            },
            {"type": "ADD_NOTE", "config": {"body": "Churned (was {{ event.payload.from }})."}},
            {"type": "REMOVE_TAG", "config": {"tag": "onboarding"}},
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{ client.email }}",
                    "subject": "We are sorry to see you go, {{ client.name }}",
                    "body": "Could you tell us what we could have done better?\n",
                },
            },
        ],
        runs_on="a client's status changing to CHURNED",
    ),
    _tpl(
        key="stale-lead-nudge",
        name="Stale-lead nudge",
        description="Three days after a lead comes in, remind its owner to follow up.",
        trigger_type="CLIENT_CREATED",
        trigger_config={"status": "LEAD"},
        actions=[
            {"type": "DELAY", "config": {"duration": {"days": 3}}},
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Follow up lead {{ client.name }}",
                    "priority": "MEDIUM",
                    "due_in": {"days": 1},
                    **_OWNER_TASK,
                },
            },
            {"type": "ADD_TAG", "config": {"tag": "nudged"}},
        ],
        runs_on="a client created as a LEAD (acts three days later)",
    ),
    _tpl(
        key="erp-won-deal",
        name="Won deal to the ERP",
        description="Post a won deal to your ERP (set its URL and whsec_ secret), tag the client.",
        trigger_type="CUSTOM",
        trigger_config={"event": "deal.won"},
        actions=[
            {
                "type": "WEBHOOK",
                "config": {
                    "url": "https://erp.example.com/hooks/deal-won",
                    "method": "POST",
                    "body": {
                        "client_id": "{{ client.id }}",
                        "client": "{{ client.name }}",
                        "amount": "{{ event.payload.amount | default('') }}",
                        "deal": "{{ event.payload.deal | default('') }}",
                    },
                },
            },
            {"type": "ADD_TAG", "config": {"tag": "customer"}},
        ],
        runs_on='a CUSTOM event "deal.won" for a client (POST /events or an inbound webhook)',
    ),
    _tpl(
        key="high-value-order",
        name="High-value order",
        description="Tag the client and plan a thank-you call for orders of 1,000 or more.",
        trigger_type="CUSTOM",
        trigger_config={"event": "order.paid"},
        conditions={"all": [{"field": "event.payload.amount", "operator": "gte", "value": 1000}]},
        actions=[
            {"type": "ADD_TAG", "config": {"tag": "high-value"}},
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Thank {{ client.name }} for the {{ event.payload.amount }} order",
                    "priority": "HIGH",
                    **_OWNER_TASK,
                },
            },
        ],
        runs_on='a CUSTOM event "order.paid" with payload.amount >= 1000',
    ),
    _tpl(
        key="hubspot-form-lead",
        name="HubSpot form submission follow-up",
        description="A task for every HubSpot form submission (from a hubspot webhook source).",
        trigger_type="CUSTOM",
        trigger_config={"event": "hubspot.form.submission"},
        actions=[
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Answer the form from {{ event.payload.email | default('someone') }}",
                    "description": "{{ event.payload.fields }}",
                    "priority": "HIGH",
                    "due_in": {"hours": 4},
                },
            },
        ],
        runs_on="a HubSpot form submission received by a hubspot source",
    ),
    _tpl(
        key="reactivation",
        name="Welcome back",
        description="When an INACTIVE client becomes ACTIVE again: note, tag, and a hello.",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"from": "INACTIVE", "to": "ACTIVE"},
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "Reactivated."}},
            {"type": "ADD_TAG", "config": {"tag": "reactivated"}},
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{ client.email }}",
                    "subject": "Welcome back, {{ client.name }}",
                    "body": "Good to have you back.\n",
                },
            },
        ],
        runs_on="a client's status changing from INACTIVE to ACTIVE",
    ),
)
BY_KEY = {t.key: t for t in TEMPLATES}


class TemplateOut(msgspec.Struct, kw_only=True):
    # A shipped template's key, or the id of one of the tenant's workflows marked is_template;
    # pass it as POST /workflows {"from_template": …}.
    key: str
    source: str  # "shipped" | "tenant"
    name: str
    description: str
    runs_on: str
    trigger_type: str
    trigger_config: dict[str, Any]
    conditions: dict[str, Any] | None
    actions: list[dict[str, Any]]


class TemplateList(msgspec.Struct, kw_only=True):
    items: list[TemplateOut]


def _shipped_out(t: ShippedTemplate) -> TemplateOut:
    return TemplateOut(
        key=t.key,
        source="shipped",
        name=t.name,
        description=t.description,
        runs_on=t.runs_on,
        trigger_type=t.trigger_type,
        trigger_config=t.trigger_config,
        conditions=t.conditions,
        actions=t.actions,
    )


async def _tenant_templates(tenant_id: UUID, only: UUID | None = None) -> list[dict[str, Any]]:
    rows = await fetch(
        "SELECT id, name, description, trigger_type, trigger_config, conditions, actions "
        "FROM workflows WHERE tenant = $1 AND is_template AND ($2::uuid IS NULL OR id = $2) "
        "ORDER BY name, id",
        tenant_id,
        only,
    )
    return [dict(r) for r in rows]


async def list_templates(*, tenant_id: UUID) -> TemplateList:
    """Shipped templates, then the tenant's own (workflows marked is_template)."""
    own = [
        TemplateOut(
            key=str(r["id"]),
            source="tenant",
            name=r["name"],
            description=r["description"],
            runs_on=f"{r['trigger_type']} (the tenant's own template)",
            trigger_type=r["trigger_type"],
            trigger_config=r["trigger_config"] or {},
            conditions=r["conditions"],
            actions=redact_actions(r["actions"] or []),
        )
        for r in await _tenant_templates(tenant_id)
    ]
    return TemplateList(items=[*(_shipped_out(t) for t in TEMPLATES), *own])


async def template_definition(*, tenant_id: UUID, key: str) -> dict[str, Any]:
    """A template as a workflow body (name, description, trigger, conditions, actions).

    A tenant template's stored secrets stay out: its WEBHOOK steps must be given theirs again.
    """
    shipped = BY_KEY.get(key)
    if shipped is not None:
        return {
            "name": shipped.name,
            "description": shipped.description,
            "trigger_type": shipped.trigger_type,
            "trigger_config": dict(shipped.trigger_config),
            "conditions": shipped.conditions,
            "actions": msgspec.json.decode(msgspec.json.encode(shipped.actions)),
        }
    try:
        wanted = UUID(key)
    except ValueError:
        wanted = None
    rows = await _tenant_templates(tenant_id, wanted) if wanted else []
    if not rows:
        known = ", ".join(BY_KEY)
        raise UnprocessableError(
            "No such template.",
            errors=[
                FieldError(
                    "$.from_template",
                    f"unknown template; shipped ones are {known}, or the id of one of your "
                    "workflows marked is_template",
                )
            ],
        )
    row = rows[0]
    return {
        "name": row["name"],
        "description": row["description"],
        "trigger_type": row["trigger_type"],
        "trigger_config": row["trigger_config"] or {},
        "conditions": row["conditions"],
        "actions": _without_secrets(row["actions"] or []),
    }


def _without_secrets(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy with WEBHOOK secrets and header values left out (they are the source's own)."""
    out = []
    for action in redact_actions(actions):
        config = dict(action.get("config") or {})
        if action.get("type") == "WEBHOOK":
            config.pop("secret", None)
            config.pop("headers", None)
        out.append({**action, "config": config})
    return out


__all__ = [
    "BY_KEY",
    "TEMPLATES",
    "TemplateList",
    "TemplateOut",
    "list_templates",
    "template_definition",
]
