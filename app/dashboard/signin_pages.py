"""Console: sign in with an API key or a one-time link, sign out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from app.core.auth import authenticate_key, authenticate_session
from app.dashboard.context import SESSION_KEY, SESSION_USER, DashRequest, page, see_other
from app.dashboard.signin import audit_sign_in, redeem_login_link

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(value: Any) -> str:
    """Only paths inside the console: an open redirect would make sign-in a phishing aid."""
    target = str(value or "")
    if target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return "/dashboard"


def _refused(request: DashRequest, target: str, error: str) -> Template:
    """The sign-in form again, 401, saying why."""
    return page("login.html", request, None, status_code=401, next=target, error=error)


class SignInPages(Controller):
    path = "/"

    @get("/login", name="dash_login")
    async def login_form(self, request: DashRequest) -> Template:
        return page("login.html", request, None, next=_safe_next(request.query_params.get("next")))

    @post("/login", name="dash_login_post")
    async def login(self, request: DashRequest, data: Form) -> Any:
        key = str(data.get("api_key", "")).strip()
        target = _safe_next(data.get("next"))
        principal = await authenticate_key(key) if key else None
        if principal is None:
            return _refused(request, target, "That API key is unknown or revoked.")
        await audit_sign_in(
            tenant_id=principal.tenant_id, user_id=principal.user_id, method="api_key"
        )
        # A fresh session id on sign-in (no fixation): drop whatever the cookie pointed at.
        request.clear_session()
        request.set_session(
            {SESSION_USER: str(principal.user_id), SESSION_KEY: str(principal.api_key_id)}
        )
        return see_other(request, target)

    @get("/login/link/{token:str}", name="dash_login_link")
    async def link_form(self, request: DashRequest, token: FromPath[str]) -> Template:
        # Opening the link only shows a button: mail scanners that fetch links must not use it up.
        return page("login_link.html", request, None, token=token)

    @post("/login/link", name="dash_login_link_post")
    async def link(self, request: DashRequest, data: Form) -> Any:
        user_id = await redeem_login_link(str(data.get("token", "")))
        principal = (
            await authenticate_session(user_id=user_id, api_key_id=None) if user_id else None
        )
        if principal is not None:
            await audit_sign_in(
                tenant_id=principal.tenant_id, user_id=principal.user_id, method="login_link"
            )
        if principal is None:
            return _refused(
                request,
                "/dashboard",
                "That sign-in link is unknown, used or expired. Ask for a new one.",
            )
        request.clear_session()
        request.set_session({SESSION_USER: str(principal.user_id), SESSION_KEY: None})
        return see_other(request, "/dashboard")

    @post("/logout", name="dash_logout")
    async def logout(self, request: DashRequest) -> Any:
        request.clear_session()
        return see_other(request, "/dashboard/login")


__all__ = ["SignInPages"]
