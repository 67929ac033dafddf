"""HubSpot inbound: `X-HubSpot-Signature-v3` verification and HubSpot payloads as CUSTOM events.

The signature (HubSpot's "Validating requests", v3): base64(HMAC-SHA256(app client secret,
method + URI + body + timestamp)), where the URI is the full public address HubSpot posted to
(scheme, host, path and query) with HubSpot's listed percent-escapes decoded, and the timestamp is
`X-HubSpot-Request-Timestamp` (milliseconds). Requests more than 5 minutes old are refused.

Payloads: a JSON array of subscription events (`{"eventId", "subscriptionType", "objectId",
…}`), and form submissions (`{"formId", "submittedAt", "conversionId" | "eventId", "fields" |
"values": [{"name", "value"}], …}`), alone or in an array. Each item becomes one CUSTOM event
(`hubspot.<subscriptionType>`, `hubspot.form.submission`), deduplicated by HubSpot's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.errors import FieldError, UnauthorizedError, UnprocessableError
from app.core.text import is_ascii_digits
from app.workflows.triggers import validate_custom_event_name

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
MAX_AGE_MS = 5 * 60 * 1000
MAX_ITEMS = 1000
FORM_EVENT = "hubspot.form.submission"
# HubSpot decodes exactly these escapes in the URI before signing (its documentation's table).
_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it (its listed escapes decoded, either letter case)."""
    out: list[str] = []
    i = 0
    while i < len(uri):
        chunk = uri[i : i + 3].upper()
        if uri[i] == "%" and chunk in _URI_DECODE:
            out.append(_URI_DECODE[chunk])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The X-HubSpot-Signature-v3 value for this request."""
    message = (method.upper() + signed_uri(uri)).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    secrets: list[str],
    *,
    method: str,
    uri: str,
    headers: Mapping[str, str],
    body: bytes,
    now_ms: int | None = None,
) -> None:
    """Raise UnauthorizedError unless one secret signed this request within 5 minutes.

    `headers` must have lower-case names; `uri` is the public URI the request was posted to.
    """
    got = headers.get(SIGNATURE_HEADER, "").strip()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not got or not timestamp:
        raise UnauthorizedError(
            "Send X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp (HubSpot v3 signing)."
        )
    if not is_ascii_digits(timestamp) or len(timestamp) > 15:
        raise UnauthorizedError("X-HubSpot-Request-Timestamp must be unix milliseconds.")
    current = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(current - int(timestamp)) > MAX_AGE_MS:
        raise UnauthorizedError(
            "X-HubSpot-Request-Timestamp is more than 5 minutes from ours (stale or replayed)."
        )
    for secret in secrets:
        expected = signature(secret, method, uri, body, timestamp)
        if hmac.compare_digest(expected.encode(), got.encode()):
            return
    raise UnauthorizedError(
        "X-HubSpot-Signature-v3 does not match method + URI + body + timestamp "
        "(is PUBLIC_BASE_URL the address HubSpot posts to?)."
    )


@dataclass(frozen=True, slots=True)
class Item:
    """One HubSpot item, ready to record as a CUSTOM event."""

    delivery_id: str
    event_type: str
    payload: dict[str, Any]
    email: str | None = None


def _hubspot_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and 0 < len(value.strip()) <= 150):
        return str(value).strip()
    return None


def _subscription_event(raw: dict[str, Any], path: str) -> tuple[Item | None, list[FieldError]]:
    errors: list[FieldError] = []
    event_id = _hubspot_id(raw.get("eventId"))
    if event_id is None:
        errors.append(FieldError(f"{path}.eventId", "must be HubSpot's event id"))
    kind = raw.get("subscriptionType")
    name = f"hubspot.{kind}" if isinstance(kind, str) else None
    problem = validate_custom_event_name(name)
    if name is None or problem:
        errors.append(FieldError(f"{path}.subscriptionType", problem or "must be a string"))
    if errors or event_id is None or name is None:
        return None, errors
    return Item(delivery_id=f"event:{event_id}", event_type=name, payload=dict(raw)), []


def _form_fields(raw: dict[str, Any], path: str) -> tuple[dict[str, Any], list[FieldError]]:
    key = "fields" if "fields" in raw else "values"
    listed = raw.get(key, [])
    if not isinstance(listed, list):
        return {}, [FieldError(f"{path}.{key}", "must be a list of {name, value}")]
    fields: dict[str, Any] = {}
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return {}, [FieldError(f"{path}.{key}[{i}]", "must be {name, value}")]
        fields[entry["name"]] = entry.get("value")
    return fields, []


def _form_submission(raw: dict[str, Any], path: str) -> tuple[Item | None, list[FieldError]]:
    submission_id = _hubspot_id(raw.get("conversionId", raw.get("eventId")))
    errors: list[FieldError] = []
    if submission_id is None:
        errors.append(FieldError(f"{path}.conversionId", "a form submission needs its id"))
    form_id = raw.get("formId")
    if not isinstance(form_id, str) or not form_id:
        errors.append(FieldError(f"{path}.formId", "must be the form's id"))
    fields, field_errors = _form_fields(raw, path)
    errors += field_errors
    if errors or submission_id is None:
        return None, errors
    raw_email = fields.get("email")
    email = raw_email if isinstance(raw_email, str) else None
    payload: dict[str, Any] = {
        "form_id": form_id,
        "submission_id": submission_id,
        "submitted_at": raw.get("submittedAt"),
        "page_url": raw.get("pageUrl"),
        "portal_id": raw.get("portalId"),
        "fields": fields,
        "email": email,
    }
    return (
        Item(
            delivery_id=f"form:{submission_id}",
            event_type=FORM_EVENT,
            payload=payload,
            email=email,
        ),
        [],
    )


def parse_items(body: Any) -> list[Item]:
    """Every item of a HubSpot body, or UnprocessableError listing every bad one (all or none)."""
    items = body if isinstance(body, list) else [body]
    prefix = "$" if isinstance(body, list) else ""
    if not items:
        raise UnprocessableError(
            "The body holds no HubSpot events.",
            errors=[FieldError("$", "must hold at least one item")],
        )
    if len(items) > MAX_ITEMS:
        raise UnprocessableError(
            f"At most {MAX_ITEMS} items per request.",
            errors=[FieldError("$", f"holds more than {MAX_ITEMS} items")],
        )
    parsed: list[Item] = []
    errors: list[FieldError] = []
    for i, raw in enumerate(items):
        path = f"{prefix}[{i}]" if prefix else "$"
        if not isinstance(raw, dict):
            errors.append(FieldError(path, "must be a HubSpot event or form submission object"))
            continue
        if "subscriptionType" in raw:
            item, errs = _subscription_event(raw, path)
        elif "formId" in raw:
            item, errs = _form_submission(raw, path)
        else:
            item, errs = (
                None,
                [FieldError(path, "has neither subscriptionType (an event) nor formId (a form)")],
            )
        errors += errs
        if item is not None:
            parsed.append(item)
    if errors:
        raise UnprocessableError("The HubSpot payload has invalid items.", errors=errors)
    return parsed
