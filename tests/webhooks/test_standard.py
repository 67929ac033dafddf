"""Standard Webhooks both ways: the spec's vectors, a receiver verifying with the
`standardwebhooks` package, inbound verification, and secret rotation with an overlap."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.core.crypto import decrypt_secret, encrypt_secret
from app.core.sql import fetchrow, fetchval
from app.engine.actions.webhook import run_webhook
from app.webhooks import standard
from app.workflows.definition import WebhookConfig
from tests.conftest import TenantCtx, listening_socket
from tests.webhooks.conftest import outbound_settings, step_context
from tests.webhooks.receiver import Receiver, ReceiverApp

# The spec's published vector (standard-webhooks libraries' test suites).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_WRONG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="


def vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": signature,
    }


def test_the_spec_vector_signs_and_verifies() -> None:
    assert standard.sign([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == (
        VECTOR_SIGNATURE
    )
    # The package's own signer agrees, with and without the prefix.
    when = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    for key in (VECTOR_SECRET, VECTOR_SECRET.removeprefix("whsec_")):
        assert Webhook(key).sign(VECTOR_ID, when, VECTOR_BODY.decode()) == VECTOR_SIGNATURE
    got = standard.verify(
        [VECTOR_SECRET], vector_headers(), VECTOR_BODY, tolerance_s=300, now=VECTOR_TIMESTAMP
    )
    assert got == VECTOR_ID
    # Several signatures (other versions, unknown keys) with the right one among them.
    multi = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            VECTOR_SIGNATURE,
        ]
    )
    standard.verify(
        [VECTOR_SECRET], vector_headers(multi), VECTOR_BODY, tolerance_s=300, now=VECTOR_TIMESTAMP
    )


@pytest.mark.parametrize(
    ("headers", "body", "now"),
    [
        (vector_headers(VECTOR_WRONG), VECTOR_BODY, VECTOR_TIMESTAMP),  # the spec's bad signature
        (vector_headers(), VECTOR_BODY + b" ", VECTOR_TIMESTAMP),  # body tampered
        ({**vector_headers(), "webhook-id": "msg_other"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 301),  # too old
        (vector_headers(), VECTOR_BODY, VECTOR_TIMESTAMP - 301),  # too new
        ({**vector_headers(), "webhook-timestamp": "hello"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (vector_headers("v1g0hM9SsE"), VECTOR_BODY, VECTOR_TIMESTAMP),  # no comma
        (vector_headers("v1,@@@"), VECTOR_BODY, VECTOR_TIMESTAMP),  # not base64
        ({"webhook-id": VECTOR_ID}, VECTOR_BODY, VECTOR_TIMESTAMP),  # headers missing
    ],
)
def test_the_spec_vector_refuses_what_it_must(
    headers: dict[str, str], body: bytes, now: int
) -> None:
    with pytest.raises(standard.VerificationFailed):
        standard.verify([VECTOR_SECRET], headers, body, tolerance_s=300, now=now)


def test_generated_secrets_are_whsec_keys_the_package_accepts() -> None:
    secret = standard.generate_secret()
    assert secret.startswith("whsec_")
    assert standard.whsec_problem(secret) is None
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert standard.whsec_problem("whsec_short") is not None
    assert standard.whsec_problem("whsec_not*base64") is not None
    # Legacy (non-whsec_) secrets are still accepted and sign with their UTF-8 bytes.
    assert standard.whsec_problem("any-older-secret") is None
    assert standard.signing_key("any-older-secret") == b"any-older-secret"


def test_a_rotated_keyring_signs_with_both_until_the_grace_period_ends() -> None:
    keyring = standard.Keyring(current="whsec_" + base64.b64encode(b"a" * 32).decode())
    new = standard.generate_secret()
    rotated = standard.load_keyring(keyring.rotated(new, grace_s=60, now=1000).dump())
    assert rotated.active(now=1001) == [new, keyring.current]
    assert rotated.active(now=1061) == [new]
    assert standard.load_keyring(keyring.rotated(new, grace_s=0).dump()).active() == [new]


class VerifyingApp(ReceiverApp):
    """A receiver that checks each delivery with the package's own Webhook.verify and answers
    401 when it does not verify, as a Standard Webhooks consumer would."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.webhook = Webhook(secret)
        self.verified: list[Any] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        seen = await self.record(scope, receive)
        try:
            self.verified.append(self.webhook.verify(seen.body, seen.headers))
            status = 200
        except WebhookVerificationError:
            status = 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def webhook_config(url: str, **fields: Any) -> WebhookConfig:
    return msgspec.convert({"url": url, **fields}, WebhookConfig)


async def test_an_outbound_delivery_verifies_with_the_package_in_a_real_receiver() -> None:
    secret = standard.generate_secret()
    receiver = await Receiver(listening_socket(), VerifyingApp(secret)).start()
    try:
        settings = outbound_settings(f"127.0.0.1:{receiver.port}")
        ctx = step_context()
        output = await run_webhook(
            ctx,
            webhook_config(
                receiver.base + "/std",
                body={"client": "{{ client.name }}"},
                secret=encrypt_secret(secret, settings=settings),
            ),
            settings=settings,
        )
        assert output["status"] == 200, output
        app = receiver.app
        assert isinstance(app, VerifyingApp)
        assert app.verified == [{"client": "Ada"}]
        [seen] = app.seen
        assert seen.headers["webhook-id"] == ctx.idempotency_key
        assert seen.headers["webhook-signature"].startswith("v1,")
        # The deprecated headers still come, signed with the same secret.
        assert seen.headers["x-crmflow-signature"].startswith("sha256=")
        assert seen.headers["x-crmflow-delivery"] == ctx.idempotency_key

        # Signed by someone else's secret: the package refuses it, so does the step.
        other = encrypt_secret(standard.generate_secret(), settings=settings)
        with pytest.raises(Exception, match="401"):
            await run_webhook(
                ctx, webhook_config(receiver.base + "/std", secret=other), settings=settings
            )
    finally:
        await receiver.stop()


async def test_outbound_rotation_signs_with_both_secrets_then_only_the_new(
    receiver: Receiver,
) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    old, new = standard.generate_secret(), standard.generate_secret()
    during = standard.Keyring(current=old).rotated(new, grace_s=3600)
    await run_webhook(
        step_context(),
        webhook_config(
            receiver.base + "/during", secret=encrypt_secret(during.dump(), settings=settings)
        ),
        settings=settings,
    )
    [seen] = receiver.app.at("/during")
    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver on either secret accepts it
        Webhook(secret).verify(seen.body, seen.headers)

    ended = standard.Keyring(current=new, previous=old, previous_until=time.time() - 1)
    await run_webhook(
        step_context(),
        webhook_config(
            receiver.base + "/after", secret=encrypt_secret(ended.dump(), settings=settings)
        ),
        settings=settings,
    )
    [seen] = receiver.app.at("/after")
    assert len(seen.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(seen.body, seen.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(seen.body, seen.headers)


def std_signed(
    secret: str | list[str], body: Any, *, msg_id: str | None = None, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    secrets = [secret] if isinstance(secret, str) else secret
    msg_id = msg_id or f"msg_{time.time_ns()}"
    headers = standard.signature_headers(secrets, msg_id, raw, now=now)
    return raw, {"Content-Type": "application/json", **headers}


async def _counts(tenant: TenantCtx) -> tuple[int, int]:
    deliveries = await fetchval(
        "SELECT count(*) FROM inbound_deliveries WHERE tenant = $1", tenant.tenant_id
    )
    events = await fetchval("SELECT count(*) FROM events WHERE tenant = $1", tenant.tenant_id)
    return int(deliveries), int(events)


async def test_inbound_accepts_a_standard_delivery_once_and_refuses_bad_ones(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    secret, path = source["secret"], source["path"]
    assert standard.whsec_problem(secret) is None
    assert secret.startswith("whsec_")
    body = {"event": "deal.won", "data": {"amount": 7}}

    refused: list[tuple[bytes, dict[str, str]]] = []
    refused.append(std_signed(standard.generate_secret(), body))  # someone else's secret
    raw, headers = std_signed(secret, body)
    refused.append((raw.replace(b"7", b"8"), headers))  # tampered
    refused.append(std_signed(secret, body, now=time.time() - 3600))  # stale
    refused.append(std_signed(secret, body, now=time.time() + 3600))  # from the future
    raw, headers = std_signed(secret, body)
    refused.append((raw, {**headers, "webhook-signature": "v1" + headers["webhook-signature"]}))
    raw, headers = std_signed(secret, body)
    refused.append((raw, {k: v for k, v in headers.items() if k != "webhook-timestamp"}))
    for raw, headers in refused:
        response = await anon.post(path, content=raw, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _counts(tenant) == (0, 0)

    raw, headers = std_signed(secret, body, msg_id="msg_std_1")
    response = await anon.post(path, content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["delivery_id"] == "msg_std_1"
    event = await fetchrow(
        "SELECT type, payload::text AS payload FROM events WHERE id = $1::uuid",
        response.json()["event_id"],
    )
    assert event is not None
    assert event["type"] == "deal.won"
    # The same webhook-id again (a retry): acknowledged, not recorded twice.
    raw, headers = std_signed(secret, body, msg_id="msg_std_1")
    again = await anon.post(path, content=raw, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert await _counts(tenant) == (1, 1)


async def test_inbound_rotation_accepts_both_secrets_until_the_grace_period_ends(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    old, path = source["secret"], source["path"]
    url = f"/api/v1/webhook-sources/{source['source']}/rotate"
    rotated = await tenant.http.post(url, json={"grace_s": 3600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["previous_secret_valid_until"] is not None

    body = {"event": "deal.won", "data": {}}
    for secret in (old, new):
        raw, headers = std_signed(secret, body)
        response = await anon.post(path, content=raw, headers=headers)
        assert response.status_code == 202, response.text
    # A sender mid-switch signs with both: fine too.
    raw, headers = std_signed([new, old], body)
    assert (await anon.post(path, content=raw, headers=headers)).status_code == 202

    # The grace period ends (the stored end moved into the past, as time would move it).
    row = await fetchrow(
        "SELECT secret_encrypted FROM inbound_webhook_sources WHERE id = $1::uuid", source["id"]
    )
    assert row is not None
    keyring = standard.load_keyring(decrypt_secret(row["secret_encrypted"]))
    assert keyring.previous == old
    expired = standard.Keyring(
        current=keyring.current, previous=keyring.previous, previous_until=time.time() - 1
    )
    await fetchval(
        "UPDATE inbound_webhook_sources SET secret_encrypted = $2 WHERE id = $1::uuid RETURNING 1",
        source["id"],
        encrypt_secret(expired.dump()),
    )
    raw, headers = std_signed(old, body)
    assert (await anon.post(path, content=raw, headers=headers)).status_code == 401
    raw, headers = std_signed(new, body)
    assert (await anon.post(path, content=raw, headers=headers)).status_code == 202

    # grace_s 0: the old secret stops at once.
    immediate = await tenant.http.post(url, json={"grace_s": 0})
    assert immediate.json()["previous_secret_valid_until"] is None
    raw, headers = std_signed(new, body)
    assert (await anon.post(path, content=raw, headers=headers)).status_code == 401
    raw, headers = std_signed(immediate.json()["secret"], body)
    assert (await anon.post(path, content=raw, headers=headers)).status_code == 202
    # No body at all: the configured default grace period applies.
    assert (await tenant.http.post(url)).json()["previous_secret_valid_until"] is not None


async def test_a_workflow_secret_change_keeps_the_old_one_signing(
    tenant: TenantCtx, session_receiver: Receiver
) -> None:
    old, new = standard.generate_secret(), standard.generate_secret()
    path = f"/rotating/{tenant.tenant_id}"

    def hook(secret: str) -> dict[str, Any]:
        return {
            "type": "WEBHOOK",
            "config": {"url": session_receiver.base + path, "secret": secret},
        }

    created = await tenant.http.post(
        "/api/v1/workflows",
        json={"name": "rot", "trigger_type": "MANUAL", "is_active": True, "actions": [hook(old)]},
    )
    assert created.status_code == 201, created.text
    wf = created.json()["id"]
    changed = await tenant.http.patch(f"/api/v1/workflows/{wf}", json={"actions": [hook(new)]})
    assert changed.status_code == 200, changed.text
    trigger = await tenant.http.post(f"/api/v1/workflows/{wf}/trigger", json={})
    assert trigger.status_code == 202, trigger.text
    for _ in range(300):
        if session_receiver.app.at(path):
            break
        await asyncio.sleep(0.05)
    [seen] = session_receiver.app.at(path)
    for secret in (old, new):
        Webhook(secret).verify(seen.body, seen.headers)
