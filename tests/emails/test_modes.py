"""Email modes: DRAFT_ONLY keeps drafts; SEND mails the allowlist only; unsafe SEND cannot start."""

from __future__ import annotations

import pytest

from app.core.config import ConfigError, EmailMode, Environment, Settings
from app.core.sql import fetchrow
from app.emails.policy import recipient_allowed
from app.server import create_app
from tests.conftest import TenantCtx
from tests.emails.conftest import make_email, send_mode_settings, smtp_settings, unique_address
from tests.helpers import cli


def test_allowlist_matches_exact_addresses_and_domain_patterns() -> None:
    allow = ["Boss@Partner.test", "*@ourcompany.test"]
    assert recipient_allowed("boss@partner.test", allow)
    assert recipient_allowed("anyone@ourcompany.test", allow)
    assert not recipient_allowed("other@partner.test", allow)
    assert not recipient_allowed("x@evil-ourcompany.test", allow)
    assert not recipient_allowed("x@sub.ourcompany.test", allow)
    assert not recipient_allowed("not-an-address", allow)
    assert not recipient_allowed("anyone@ourcompany.test", [])


async def test_draft_only_keeps_every_workflow_email_as_a_draft(tenant: TenantCtx) -> None:
    result = await make_email(tenant, settings=smtp_settings(25))
    assert result["status"] == "DRAFT"
    row = await fetchrow(
        "SELECT status, draft_reason FROM emails WHERE id = $1::uuid", result["email_id"]
    )
    assert row is not None
    assert row["status"] == "DRAFT"
    assert "DRAFT_ONLY" in row["draft_reason"]


async def test_send_mode_approves_allowlisted_and_drafts_the_rest(tenant: TenantCtx) -> None:
    settings = send_mode_settings(["*@ourcompany.test"])
    allowed = await make_email(tenant, to="sales@ourcompany.test", settings=settings)
    outside = await make_email(tenant, to=unique_address(), settings=settings)
    assert allowed["status"] == "APPROVED"
    assert outside["status"] == "DRAFT"
    response = await tenant.http.get(f"/api/v1/emails/{outside['email_id']}")
    assert response.status_code == 200
    assert "not on EMAIL_ALLOWLIST" in response.json()["draft_reason"]
    approved = (await tenant.http.get(f"/api/v1/emails/{allowed['email_id']}")).json()
    assert approved["draft_reason"] is None
    # Approved by policy, not by a person.
    assert approved["decided_by"] is None


async def test_a_header_injection_in_a_rendered_subject_is_flattened(tenant: TenantCtx) -> None:
    result = await make_email(tenant, subject="Hi\r\nBcc: victim@evil.test")
    row = (await tenant.http.get(f"/api/v1/emails/{result['email_id']}")).json()
    assert "\n" not in row["subject"]
    assert "\r" not in row["subject"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"environment": Environment.DEVELOPMENT}, "ENVIRONMENT is 'development'"),
        ({"environment": Environment.TEST}, "ENVIRONMENT is 'test'"),
        (
            {"environment": Environment.PRODUCTION, "email_allowlist": []},
            "EMAIL_ALLOWLIST is empty",
        ),
    ],
)
def test_send_mode_refuses_to_start_outside_production_or_without_allowlist(
    overrides: dict[str, object], expected: str
) -> None:
    fields: dict[str, object] = {
        "email_mode": EmailMode.SEND,
        "secret_key": "a-test-secret-key-of-enough-length",
        "email_allowlist": ["*@ourcompany.test"],
        **overrides,
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="EMAIL_MODE=SEND is refused") as info:
        create_app(settings)
    assert expected in str(info.value)


def test_send_mode_starts_in_production_with_an_allowlist() -> None:
    settings = send_mode_settings(["*@ourcompany.test"])
    assert create_app(settings) is not None


def test_production_needs_a_secret_key() -> None:
    settings = Settings(environment=Environment.PRODUCTION)
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        create_app(settings)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_cli_refuses_send_mode_outside_production(command: str) -> None:
    env = {
        "EMAIL_MODE": "SEND",
        "ENVIRONMENT": "development",
        "EMAIL_ALLOWLIST": "*@ourcompany.test",
    }
    done = cli(command, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "EMAIL_MODE=SEND is refused because ENVIRONMENT is 'development'" in done.stderr


@pytest.mark.parametrize(
    "credentials",
    [{"smtp_username": "mailer", "smtp_password": "pw"}, {"smtp_password": "pw"}],
)
def test_production_refuses_smtp_credentials_without_tls(credentials: dict[str, str]) -> None:
    """Issue 8, item 7: AUTH over a clear connection would leak the password."""
    base = {
        "environment": Environment.PRODUCTION,
        "secret_key": "a-test-secret-key-of-enough-length",
        **credentials,
    }
    with pytest.raises(ConfigError, match="SMTP_STARTTLS"):
        create_app(Settings(**base))  # type: ignore[arg-type]
    assert create_app(Settings(**base, smtp_starttls=True)) is not None  # type: ignore[arg-type]
    # Outside production (a local sink) and without credentials, nothing to protect.
    dev = {**base, "environment": Environment.DEVELOPMENT}
    assert create_app(Settings(**dev)) is not None  # type: ignore[arg-type]
    no_auth = {"environment": Environment.PRODUCTION, "secret_key": base["secret_key"]}
    assert create_app(Settings(**no_auth)) is not None  # type: ignore[arg-type]


def test_the_cli_refuses_production_smtp_credentials_without_tls() -> None:
    env = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": "a-test-secret-key-of-enough-length",
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": "pw",
        "SMTP_STARTTLS": None,
    }
    done = cli("worker", env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "SMTP_STARTTLS is not" in done.stderr
