"""The typed workflow language: the OpenAPI schemas, GET /catalog, every error at once, client
fields that cannot exist, and a client generated from /schema/openapi.json saving a workflow."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from app.workflows.definition import validate_action
from tests.conftest import TenantCtx

CODEGEN = Path(sys.executable).with_name("datamodel-codegen")


async def test_openapi_describes_triggers_conditions_and_actions(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/schema/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/api/v1/workflows"]["post"]["requestBody"]["content"]
    refs = [s["$ref"] for s in body["application/json"]["schema"]["anyOf"]]
    assert refs == [
        "#/components/schemas/WorkflowDefinition",
        "#/components/schemas/WorkflowFromTemplate",
    ]
    definition = schemas["WorkflowDefinition"]
    assert definition["discriminator"]["propertyName"] == "trigger_type"
    assert set(definition["discriminator"]["mapping"]) == {
        "CLIENT_CREATED", "CLIENT_STATUS_CHANGED", "DOCUMENT_UPLOADED", "CUSTOM", "MANUAL",
    }  # fmt: skip
    custom = schemas["CustomWorkflow"]["properties"]
    assert custom["trigger_config"] == {"$ref": "#/components/schemas/CustomTrigger"}
    assert schemas["CustomTrigger"]["required"] == ["event"]
    action = schemas["Action"]
    assert action["discriminator"]["propertyName"] == "type"
    assert len(action["discriminator"]["mapping"]) == 8
    assert schemas["SendEmailConfig"]["required"] == ["to", "subject", "body"]
    comparison = schemas["Comparison"]
    assert len(comparison["discriminator"]["mapping"]) == 15
    assert schemas["Comparison_matches"]["properties"]["value"]["maxLength"] == 200
    patch = spec["paths"]["/api/v1/workflows/{workflow_id}"]["patch"]["requestBody"]
    assert patch["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WorkflowPatch"
    }
    out = schemas["WorkflowOut"]["properties"]
    assert out["actions"]["items"] == {"$ref": "#/components/schemas/Action"}


async def test_catalog_lists_the_language(tenant: TenantCtx) -> None:
    response = await tenant.http.get("/api/v1/catalog")
    assert response.status_code == 200, response.text
    catalog = response.json()
    triggers = {t["type"]: t for t in catalog["trigger_types"]}
    assert set(triggers) == {
        "CLIENT_CREATED", "CLIENT_STATUS_CHANGED", "DOCUMENT_UPLOADED", "CUSTOM", "MANUAL",
    }  # fmt: skip
    custom = triggers["CUSTOM"]["config_schema"]
    assert custom["$defs"]["CustomTrigger"]["required"] == ["event"]
    assert "filename" in triggers["DOCUMENT_UPLOADED"]["event_payload_example"]
    assert [o["operator"] for o in catalog["operators"]][:2] == ["eq", "ne"]
    assert len(catalog["operators"]) == 15
    exists = next(o for o in catalog["operators"] if o["operator"] == "exists")
    assert exists["value_schema"] is None
    actions = {a["type"]: a for a in catalog["action_types"]}
    assert len(actions) == 8
    assert actions["CREATE_TASK"]["defaults"]["priority"] == "MEDIUM"
    assert actions["WEBHOOK"]["defaults"]["method"] == "POST"
    assert "to" in actions["SEND_EMAIL"]["config_schema"]["$defs"]["SendEmailConfig"]["required"]
    for kind, info in actions.items():
        # Every example is a config that saves.
        _, errors = validate_action({"type": kind, "config": info["example"]}, "$")
        assert errors == [], (kind, errors)
    variables = {v["name"]: v for v in catalog["template_variables"]}
    assert "client.email" in variables["client"]["fields"]
    assert variables["client"]["open_paths"] == ["client.custom_fields"]
    assert "default" in catalog["template_filters"]
    assert catalog["step_defaults"]["retry"]["max_attempts"] == 3
    assert catalog["condition_schema"]["$ref"] == "#/$defs/Condition"


async def test_saving_reports_every_error_at_once(tenant: TenantCtx) -> None:
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "description": 7,
            "trigger_type": "CLIENT_STATUS_CHANGED",
            "trigger_config": {"to": "ACTIVE", "from": "ACTIVE"},
            "conditions": {"all": [{"field": "client.tags", "operator": "has", "value": 1}]},
            "actions": [
                {"type": "SEND_EMAIL", "config": {"body": "x", "cc": "y"}},
                {"type": "CREATE_TASK", "config": {"title": "t", "priority": "SOON"}},
                {"type": "DELAY", "config": {"duration": {"days": -1, "weeks": 1}}},
            ],
            "colour": "red",
        },
    )
    assert response.status_code == 422, response.text
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths >= {
        "$.name",
        "$.description",
        "$.colour",
        "$.trigger_config.to",
        "$.conditions.all[0].operator",
        "$.actions[0].config.to",
        "$.actions[0].config.subject",
        "$.actions[0].config.cc",
        "$.actions[1].config.priority",
        "$.actions[2].config.duration.days",
        "$.actions[2].config.duration.weeks",
    }, paths


async def test_a_client_field_that_cannot_exist_is_refused_with_the_fields_that_do(
    tenant: TenantCtx,
) -> None:
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "typo",
            "trigger_type": "CLIENT_CREATED",
            "conditions": {"field": "client.acount_manager", "operator": "exists"},
            "actions": [
                {"type": "ADD_NOTE", "config": {"body": "Hi {{client.acount_manager}}"}},
                # Open paths stay open: the user's own JSON.
                {"type": "ADD_NOTE", "config": {"body": "{{ client.custom_fields.plan }}"}},
            ],
        },
    )
    assert response.status_code == 422, response.text
    errors = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"$.conditions.field", "$.actions[0].config.body"}
    message = errors["$.actions[0].config.body"]
    assert "'client.acount_manager' is not a client field" in message
    for field in ("email", "name", "owner", "custom_fields", "tags", "status"):
        assert field in message


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("crmflow_generated_models", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_a_client_generated_from_the_openapi_builds_and_saves_a_workflow(
    tenant: TenantCtx, anon: httpx.AsyncClient, tmp_path: Path
) -> None:
    (tmp_path / "openapi.json").write_bytes((await anon.get("/schema/openapi.json")).content)
    # The server keeps serving on this loop while the generator runs in a thread.
    await asyncio.to_thread(
        subprocess.run,
        [
            str(CODEGEN),
            "--input", str(tmp_path / "openapi.json"),
            "--input-file-type", "openapi",
            "--output", str(tmp_path / "models.py"),
            "--output-model-type", "pydantic_v2.BaseModel",
            "--enum-field-as-literal", "all",
            "--use-annotated",
            "--formatters", "builtin",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    m = _load(tmp_path / "models.py")

    workflow = m.CustomWorkflow(
        trigger_type="CUSTOM",
        trigger_config=m.CustomTrigger(event="deal.won"),
        name="Won deals, typed",
        conditions=m.Condition.model_validate(
            {"all": [{"field": "event.payload.amount", "operator": "gte", "value": 100}]}
        ),
        actions=[
            m.SendEmailStep(
                type="SEND_EMAIL",
                config=m.SendEmailConfig(
                    to="{{ client.email }}", subject="Congrats {{ client.name }}", body="Won!"
                ),
            ),
            m.CreateTaskStep(
                type="CREATE_TASK",
                config=m.CreateTaskConfig(
                    title="Invoice {{ client.name }}",
                    priority="HIGH",
                    due_in=m.DueIn(days=2),
                ),
                on_error="continue",
            ),
            m.DelayStep(type="DELAY", config=m.DelayConfig(duration=m.Duration(hours=1))),
        ],
        is_active=True,
    )
    body = m.WorkflowDefinition(workflow).model_dump(mode="json", by_alias=True, exclude_none=True)
    response = await tenant.http.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    saved = m.WorkflowOut.model_validate(response.json())
    assert saved.trigger_type.root == "CUSTOM"
    assert [a.root.type for a in saved.actions] == ["SEND_EMAIL", "CREATE_TASK", "DELAY"]
    assert saved.actions[1].root.config.priority == "HIGH"

    # The generated types refuse what the server would refuse, before any request.
    import pydantic

    try:
        m.SendEmailStep(type="SEND_EMAIL", config=m.SendEmailConfig(to="a@b.test", subject="s"))
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError("a config without its body was accepted by the generated type")


def test_the_condition_schema_accepts_exactly_the_depths_the_save_does() -> None:
    import jsonschema_rs

    from app.workflows.conditions import MAX_DEPTH, validate_conditions
    from app.workflows.language import condition_schemas

    schema = {
        "$ref": "#/components/schemas/Condition",
        "components": {"schemas": condition_schemas()},
    }
    validator = jsonschema_rs.Draft202012Validator(schema)
    leaf = {"field": "client.name", "operator": "eq", "value": "x"}
    for kind in ("all", "any", "not"):
        node: dict[str, Any] = leaf
        for depth in range(1, MAX_DEPTH + 3):
            saves = validate_conditions(node) == []
            assert saves == (depth <= MAX_DEPTH)
            assert validator.is_valid(node) == saves, (kind, depth)
            node = {"not": node} if kind == "not" else {kind: [leaf, node]}
