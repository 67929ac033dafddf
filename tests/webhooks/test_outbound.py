"""The WEBHOOK action against real HTTP servers on 127.0.0.1: signing, address guard, retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from email.utils import formatdate
from typing import Any

import msgspec
import pytest

from app.core.crypto import encrypt_secret
from app.engine.actions.base import ActionError
from app.engine.actions.webhook import run_webhook
from app.webhooks.guard import is_forbidden, parse_allow_entry
from app.workflows.definition import WebhookConfig
from tests.conftest import free_port
from tests.webhooks.conftest import outbound_settings, step_context
from tests.webhooks.receiver import Receiver, Reply


def config(url: str, **fields: Any) -> WebhookConfig:
    return msgspec.convert({"url": url, **fields}, WebhookConfig)


async def test_a_signed_request_verifies_at_the_receiver(receiver: Receiver) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    secret = "shared-secret-with-the-receiver"
    stored = encrypt_secret(secret, settings=settings)
    assert secret not in stored
    ctx = step_context()
    output = await run_webhook(
        ctx,
        config(
            receiver.base + "/hook/{{ event.type }}",
            body={"client": "{{ client.name }}", "amount": "{{ event.payload.amount }}"},
            headers={"X-Team": "{{ workflow.name }}", "X-Crmflow-Delivery": "spoofed"},
            secret=stored,
        ),
        settings=settings,
    )
    assert output["status"] == 200
    assert output["signed"] is True
    assert secret not in msgspec.json.encode(output).decode()

    [seen] = receiver.app.at("/hook/deal.won")
    assert seen.method == "POST"
    assert msgspec.json.decode(seen.body) == {"client": "Ada", "amount": "42"}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-team"] == "Notify"
    # The receiver's check: HMAC-SHA256(secret, timestamp + "." + raw body).
    timestamp = seen.headers["x-crmflow-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + seen.body, hashlib.sha256)
    assert seen.headers["x-crmflow-signature"] == "sha256=" + expected.hexdigest()
    # The delivery id is the step's idempotency key, whatever the workflow's headers say.
    assert seen.headers["x-crmflow-delivery"] == ctx.idempotency_key
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_without_a_secret_nothing_is_signed(receiver: Receiver) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    output = await run_webhook(step_context(), config(receiver.base + "/plain"), settings=settings)
    assert output["signed"] is False
    [seen] = receiver.app.at("/plain")
    assert "x-crmflow-signature" not in seen.headers
    # No body configured: the event, client and workflow the step saw.
    assert msgspec.json.decode(seen.body)["event"]["type"] == "deal.won"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/x",
        "http://127.0.0.1:{port}/x",
        "http://10.20.30.40/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/x",
        "http://[fd00:ec2::254]/x",
        "http://0.0.0.0:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        # IPv6 addresses that embed 127.0.0.1: IPv4-compatible, NAT64, 6to4 (issue 8, item 5).
        "http://[::7f00:1]:{port}/x",
        "http://[64:ff9b::7f00:1]:{port}/x",
        "http://[2002:7f00:1::]:{port}/x",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    ],
)
async def test_private_loopback_and_metadata_addresses_are_refused(
    receiver: Receiver, url: str
) -> None:
    with pytest.raises(ActionError) as info:
        await run_webhook(
            step_context(), config(url.format(port=receiver.port)), settings=outbound_settings()
        )
    assert info.value.retryable is False
    assert "refused" in info.value.message
    assert receiver.app.seen == []


async def test_the_allowlist_opens_exactly_one_address_and_port(
    receiver: Receiver, second_receiver: Receiver
) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    assert (await run_webhook(step_context(), config(receiver.base + "/ok"), settings=settings))[
        "status"
    ] == 200
    with pytest.raises(ActionError) as info:
        await run_webhook(step_context(), config(second_receiver.base + "/no"), settings=settings)
    assert info.value.retryable is False
    assert second_receiver.app.seen == []


async def test_a_redirect_to_a_forbidden_address_is_refused(
    receiver: Receiver, second_receiver: Receiver
) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    for target in (second_receiver.base, f"http://localhost:{second_receiver.port}"):
        receiver.app.on("/moved", Reply(status=302, headers={"Location": target + "/internal"}))
        with pytest.raises(ActionError) as info:
            await run_webhook(step_context(), config(receiver.base + "/moved"), settings=settings)
        assert info.value.retryable is False
        assert "refused" in info.value.message
    assert second_receiver.app.seen == []
    assert len(receiver.app.at("/moved")) == 2


async def test_an_allowed_redirect_is_followed_with_bounded_hops(receiver: Receiver) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    receiver.app.on("/old", Reply(status=307, headers={"Location": "/new"}))
    output = await run_webhook(step_context(), config(receiver.base + "/old"), settings=settings)
    assert output["status"] == 200
    assert output["redirects"] == 1
    assert output["final_url"].endswith("/new")
    # 307 keeps the method and the body.
    assert receiver.app.at("/new")[0].method == "POST"

    receiver.app.on("/loop", Reply(status=302, headers={"Location": "/loop"}))
    with pytest.raises(ActionError) as info:
        await run_webhook(step_context(), config(receiver.base + "/loop"), settings=settings)
    assert info.value.retryable is False
    assert "redirects" in info.value.message
    assert len(receiver.app.at("/loop")) == 6


async def refused(receiver: Receiver, path: str, reply: Reply) -> ActionError:
    """The ActionError a WEBHOOK step to the receiver's path raises when the path answers reply."""
    receiver.app.on(path, reply)
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    with pytest.raises(ActionError) as info:
        await run_webhook(step_context(), config(receiver.base + path), settings=settings)
    return info.value


async def test_5xx_is_retried(receiver: Receiver) -> None:
    error = await refused(receiver, "/flaky", Reply(status=500, body=b"database down"))
    assert error.retryable is True
    assert error.output is not None
    assert error.output["status"] == 500
    assert error.output["response_excerpt"] == "database down"


async def test_429_is_retried_after_the_retry_after_delay(receiver: Receiver) -> None:
    error = await refused(receiver, "/busy", Reply(status=429, headers={"Retry-After": "7"}))
    assert error.retryable is True
    assert error.retry_after_s == 7

    later = formatdate(time.time() + 120, usegmt=True)
    error = await refused(receiver, "/busy-date", Reply(status=429, headers={"Retry-After": later}))
    assert error.retryable is True
    assert error.retry_after_s is not None
    assert 100 <= error.retry_after_s <= 121


async def test_other_4xx_is_not_retried(receiver: Receiver) -> None:
    error = await refused(receiver, "/gone", Reply(status=404, body=b"no such hook"))
    assert error.retryable is False
    assert error.output is not None
    assert error.output["status"] == 404


async def test_a_network_error_is_retried() -> None:
    port = free_port()
    settings = outbound_settings(f"127.0.0.1:{port}")
    with pytest.raises(ActionError) as info:
        await run_webhook(step_context(), config(f"http://127.0.0.1:{port}/"), settings=settings)
    assert info.value.retryable is True
    assert "network error" in info.value.message


async def test_the_response_excerpt_is_bounded(receiver: Receiver) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    receiver.app.on("/big", Reply(body=b"x" * 100_000))
    output = await run_webhook(step_context(), config(receiver.base + "/big"), settings=settings)
    assert output["status"] == 200
    assert len(output["response_excerpt"]) == 2048


async def test_a_template_error_is_not_retried(receiver: Receiver) -> None:
    settings = outbound_settings(f"127.0.0.1:{receiver.port}")
    with pytest.raises(ActionError) as info:
        await run_webhook(
            step_context(), config(receiver.base + "/{{ client.nope }}"), settings=settings
        )
    assert info.value.retryable is False
    assert receiver.app.seen == []


def test_allowlist_entries_and_address_classes() -> None:
    entry = parse_allow_entry("127.0.0.1:8080")
    loopback = ipaddress.ip_address("127.0.0.1")
    assert entry.permits(host="127.0.0.1", ip=loopback, port=8080)
    assert not entry.permits(host="127.0.0.1", ip=loopback, port=8081)
    net = parse_allow_entry("10.0.0.0/8")
    assert net.permits(host="svc", ip=ipaddress.ip_address("10.1.2.3"), port=1)
    named = parse_allow_entry("hooks.internal:443")
    assert named.permits(host="HOOKS.internal", ip=ipaddress.ip_address("10.0.0.9"), port=443)
    assert not named.permits(host="other.internal", ip=ipaddress.ip_address("10.0.0.9"), port=443)
    six = parse_allow_entry("[::1]:9000")
    assert six.permits(host="::1", ip=ipaddress.ip_address("::1"), port=9000)
    for bad in ("", "a b", "1.2.3.4:port", "host:70000"):
        with pytest.raises(ValueError, match=r"."):
            parse_allow_entry(bad)
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address to classify, not to bind
        "224.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::",
    ):
        assert is_forbidden(ipaddress.ip_address(address)), address
    # IPv6 forms of a forbidden IPv4 address are judged by the IPv4 address inside them.
    for address in (
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",  # 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 well-known prefix
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "64:ff9b:1::808:808",  # NAT64 local-use prefix: never a public destination
    ):
        assert is_forbidden(ipaddress.ip_address(address)), address
    for address in (
        "93.184.216.34",
        "2606:4700::1111",
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
    ):
        assert not is_forbidden(ipaddress.ip_address(address)), address


async def test_a_host_name_entry_connects_to_the_checked_address_with_the_name_as_host(
    receiver: Receiver,
) -> None:
    settings = outbound_settings(f"localhost:{receiver.port}")
    url = f"http://localhost:{receiver.port}/named"
    output = await run_webhook(step_context(), config(url), settings=settings)
    assert output["status"] == 200
    [seen] = receiver.app.at("/named")
    assert seen.headers["host"] == f"localhost:{receiver.port}"
    # The name entry opens that name only: the same server by its IP stays closed.
    with pytest.raises(ActionError):
        await run_webhook(step_context(), config(receiver.base + "/by-ip"), settings=settings)


async def test_a_redirect_to_another_origin_drops_every_credential_header(
    receiver: Receiver, second_receiver: Receiver
) -> None:
    """Issue 8, item 5: not only Authorization — every header the step set, and the signature."""
    settings = outbound_settings(f"127.0.0.1:{receiver.port}", f"localhost:{second_receiver.port}")
    secret = encrypt_secret("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", settings=settings)
    step_headers = {
        "Authorization": "Bearer t0ken",
        "X-Api-Key": "k3y",
        "Cookie": "session=c00kie",
        "X-Tenant-Token": "t3nant",
    }
    other_origin = f"http://localhost:{second_receiver.port}/landing"
    receiver.app.on("/same", Reply(status=307, headers={"Location": "/here"}))
    receiver.app.on("/away", Reply(status=307, headers={"Location": other_origin}))
    for path in ("/same", "/away"):
        await run_webhook(
            step_context(),
            config(receiver.base + path, headers=step_headers, secret=secret),
            settings=settings,
        )
    # The same origin gets everything the step set.
    [kept] = receiver.app.at("/here")
    assert kept.headers["x-api-key"] == "k3y"
    assert kept.headers["authorization"] == "Bearer t0ken"
    assert "webhook-signature" in kept.headers
    # Another origin gets none of it.
    [landed] = second_receiver.app.at("/landing")
    for name in (*(n.lower() for n in step_headers), "webhook-signature", "x-crmflow-signature"):
        assert name not in landed.headers, name
    secrets_sent = ("t0ken", "k3y", "c00kie", "t3nant")
    assert not any(s in value for value in landed.headers.values() for s in secrets_sent)


async def _dripping_server(chunks: int, every_s: float) -> tuple[asyncio.Server, list[int]]:
    """An HTTP server (port 0) that answers 200 and then drips its body a few bytes at a time:
    every read completes quickly, the response never does. `sent[0]` counts chunks sent."""
    sent = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {chunks * 3}\r\n\r\n".encode()
            )
            for _ in range(chunks):
                writer.write(b"abc")
                await writer.drain()
                sent[0] += 1
                await asyncio.sleep(every_s)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, sent


async def test_timeout_s_bounds_the_whole_exchange_not_each_read() -> None:
    """Issue 8, item 4: a receiver dripping 3 bytes at a time (every read well inside the
    timeout) cannot hold the step past timeout_s. The drip is 1,000 chunks long: with per-read
    timeouts only, the request would succeed once all of them were sent."""
    server, sent = await _dripping_server(chunks=1_000, every_s=0.05)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ActionError) as info:
            await run_webhook(
                step_context(),
                config(f"http://127.0.0.1:{port}/drip", timeout_s=1),
                settings=outbound_settings(f"127.0.0.1:{port}"),
            )
    finally:
        server.close()
        await server.wait_closed()
    assert "within timeout_s = 1 s" in info.value.message
    assert info.value.retryable is True
    # Cut off long before the drip ends (with per-read timeouts only, it would run to the end).
    assert sent[0] < 1_000


def test_allowlist_ports_are_ascii_digits_only() -> None:
    for bad in ("127.0.0.1:²", "[::1]:٣٣", "host:8²"):
        with pytest.raises(ValueError, match="port"):
            parse_allow_entry(bad)
