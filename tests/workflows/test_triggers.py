"""Trigger types: config validation with paths, and which events match."""

from __future__ import annotations

from uuid import uuid4

import pytest

from app.workflows.triggers import trigger_matches, validate_trigger

WF = uuid4()


def matches(trigger_type, config, event_type, payload, workflow_id=WF):
    return trigger_matches(
        trigger_type=trigger_type,
        trigger_config=config,
        event_type=event_type,
        payload=payload,
        workflow_id=workflow_id,
    )


@pytest.mark.parametrize(
    ("trigger_type", "config"),
    [
        ("CLIENT_CREATED", {}),
        ("CLIENT_CREATED", {"status": "LEAD"}),
        ("CLIENT_STATUS_CHANGED", {}),
        ("CLIENT_STATUS_CHANGED", {"to": "ACTIVE"}),
        ("CLIENT_STATUS_CHANGED", {"from": "LEAD", "to": "ACTIVE"}),
        ("DOCUMENT_UPLOADED", {"content_type": "application/pdf"}),
        ("DOCUMENT_UPLOADED", {"content_type": "application/*"}),
        ("DOCUMENT_UPLOADED", {}),
        ("CUSTOM", {"event": "invoice.paid"}),
        ("MANUAL", {}),
    ],
)
def test_valid_triggers(trigger_type, config):
    assert validate_trigger(trigger_type, config) == []


@pytest.mark.parametrize(
    ("trigger_type", "config", "path", "fragment"),
    [
        ("NOPE", {}, "$.trigger_type", "must be one of"),
        ("CLIENT_CREATED", {"status": "GOLD"}, "$.trigger_config.status", "must be one of"),
        ("CLIENT_CREATED", {"to": "ACTIVE"}, "$.trigger_config.to", "not accepted"),
        ("CLIENT_STATUS_CHANGED", {"to": "WON"}, "$.trigger_config.to", "must be one of"),
        ("CLIENT_STATUS_CHANGED", {"from": "nope"}, "$.trigger_config.from", "must be one of"),
        ("CLIENT_STATUS_CHANGED", {"from": "LEAD", "to": "LEAD"}, "$.trigger_config.to", "differ"),
        (
            "DOCUMENT_UPLOADED",
            {"content_type": "pdf"},
            "$.trigger_config.content_type",
            "media type",
        ),
        ("DOCUMENT_UPLOADED", {"content_type": 3}, "$.trigger_config.content_type", "media type"),
        ("CUSTOM", {}, "$.trigger_config.event", "required"),
        ("CUSTOM", {"event": ""}, "$.trigger_config.event", "non-empty"),
        ("CUSTOM", {"event": "CLIENT_CREATED"}, "$.trigger_config.event", "built-in"),
        ("CUSTOM", {"event": "manual"}, "$.trigger_config.event", "built-in"),
        ("CUSTOM", {"event": "has space"}, "$.trigger_config.event", "characters"),
        ("MANUAL", {"event": "x"}, "$.trigger_config.event", "not accepted"),
        ("MANUAL", [], "$.trigger_config", "must be an object"),
    ],
)
def test_invalid_triggers(trigger_type, config, path, fragment):
    errors = {e["path"]: e["message"] for e in validate_trigger(trigger_type, config)}
    assert path in errors, errors
    assert fragment in errors[path]


def test_client_created_matching():
    assert matches("CLIENT_CREATED", {}, "CLIENT_CREATED", {"status": "LEAD"})
    assert matches("CLIENT_CREATED", {"status": "LEAD"}, "CLIENT_CREATED", {"status": "LEAD"})
    assert not matches("CLIENT_CREATED", {"status": "LEAD"}, "CLIENT_CREATED", {"status": "ACTIVE"})
    assert matches(
        "CLIENT_CREATED", {"status": "ACTIVE"}, "CLIENT_CREATED", {"client": {"status": "ACTIVE"}}
    )
    assert not matches("CLIENT_CREATED", {}, "CLIENT_STATUS_CHANGED", {"to": "LEAD"})


def test_status_change_matching():
    change = {"from": "LEAD", "to": "ACTIVE"}
    assert matches("CLIENT_STATUS_CHANGED", {}, "CLIENT_STATUS_CHANGED", change)
    assert matches("CLIENT_STATUS_CHANGED", {"to": "ACTIVE"}, "CLIENT_STATUS_CHANGED", change)
    assert matches("CLIENT_STATUS_CHANGED", change, "CLIENT_STATUS_CHANGED", change)
    assert not matches("CLIENT_STATUS_CHANGED", {"to": "CHURNED"}, "CLIENT_STATUS_CHANGED", change)
    assert not matches(
        "CLIENT_STATUS_CHANGED",
        {"from": "INACTIVE", "to": "ACTIVE"},
        "CLIENT_STATUS_CHANGED",
        change,
    )


def test_document_matching():
    pdf = {"content_type": "application/pdf"}
    assert matches("DOCUMENT_UPLOADED", pdf, "DOCUMENT_UPLOADED", pdf)
    assert matches(
        "DOCUMENT_UPLOADED", pdf, "DOCUMENT_UPLOADED", {"content_type": "Application/PDF; q=1"}
    )
    assert matches("DOCUMENT_UPLOADED", {"content_type": "application/*"}, "DOCUMENT_UPLOADED", pdf)
    assert not matches("DOCUMENT_UPLOADED", {"content_type": "image/*"}, "DOCUMENT_UPLOADED", pdf)
    assert not matches(
        "DOCUMENT_UPLOADED", pdf, "DOCUMENT_UPLOADED", {"content_type": "application/pdfx"}
    )
    assert matches("DOCUMENT_UPLOADED", {}, "DOCUMENT_UPLOADED", {"content_type": "text/plain"})


def test_custom_matching():
    assert matches("CUSTOM", {"event": "invoice.paid"}, "invoice.paid", {})
    assert not matches("CUSTOM", {"event": "invoice.paid"}, "invoice.voided", {})
    assert not matches("CUSTOM", {"event": "invoice.paid"}, "CLIENT_CREATED", {})


def test_manual_matches_only_its_workflow():
    assert matches("MANUAL", {}, "MANUAL", {"workflow_id": str(WF)})
    assert not matches("MANUAL", {}, "MANUAL", {"workflow_id": str(uuid4())})
    assert not matches("MANUAL", {}, "MANUAL", {})
    assert not matches("CLIENT_CREATED", {}, "MANUAL", {"workflow_id": str(WF)})
