"""Console: a FAILED email has a "Send again" button backed by the API's resend service."""

from __future__ import annotations

from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.emails.smtp_sink import SmtpSink
from tests.emails.test_resend_and_bulk import _audit, _failed_email, _wait


async def test_send_a_failed_email_again_from_the_console(
    tenant: TenantCtx, member_console: Console, other_console: Console, session_sink: SmtpSink
) -> None:
    email_id, to = await _failed_email(tenant, session_sink)
    page = await member_console.http.get("/dashboard/emails", params={"status": "FAILED"})
    assert page.status_code == 200
    assert f'formaction="/dashboard/emails/{email_id}/resend"' in page.text
    # Another tenant's operator cannot.
    foreign = await other_console.post(f"/dashboard/emails/{email_id}/resend")
    assert foreign.status_code == 404
    # Without the CSRF token: refused.
    no_token = await member_console.http.post(f"/dashboard/emails/{email_id}/resend")
    assert no_token.status_code == 403

    sent = await member_console.post(f"/dashboard/emails/{email_id}/resend")
    assert sent.status_code == 303, sent.text
    assert "resent=1" in sent.headers["location"]
    assert (await _wait(email_id, "SENT", "FAILED"))["status"] == "SENT"
    assert len(session_sink.handler.to(to)) == 1
    assert "resend" in await _audit(email_id)
    twice = await member_console.post(f"/dashboard/emails/{email_id}/resend")
    assert twice.status_code == 409
