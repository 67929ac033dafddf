"""Tags have one spelling — trimmed, lower-case — wherever they are written or compared."""

from __future__ import annotations

import asyncio

from tests.conftest import TenantCtx
from tests.helpers import all_pages, make_client


async def test_client_tags_are_stored_trimmed_and_lower_case(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http, tags=["VIP", " vip ", "Gold", "gold"])
    assert client["tags"] == ["vip", "gold"]
    patched = await tenant.http.patch(
        f"/api/v1/clients/{client['id']}", json={"tags": ["Churn-Risk", "CHURN-RISK"]}
    )
    assert patched.json()["tags"] == ["churn-risk"]
    added = await tenant.http.post(f"/api/v1/clients/{client['id']}/tags", json={"tag": " NEW "})
    assert added.json()["tags"] == ["churn-risk", "new"]
    # Adding another spelling of a tag already there changes nothing.
    again = await tenant.http.post(f"/api/v1/clients/{client['id']}/tags", json={"tag": "New"})
    assert again.json()["tags"] == ["churn-risk", "new"]
    removed = await tenant.http.delete(f"/api/v1/clients/{client['id']}/tags/CHURN-RISK")
    assert removed.status_code < 300, removed.text
    got = await tenant.http.get(f"/api/v1/clients/{client['id']}")
    assert got.json()["tags"] == ["new"]
    blank = await tenant.http.post(f"/api/v1/clients/{client['id']}/tags", json={"tag": "  "})
    assert blank.status_code == 422


async def test_the_tag_filter_ignores_case(tenant: TenantCtx) -> None:
    vip = await make_client(tenant.http, name="Vip", tags=["VIP"])
    await make_client(tenant.http, name="Other", tags=["basic"])
    for spelling in ("vip", "VIP", " Vip "):
        found = await all_pages(tenant.http, "/api/v1/clients", tag=spelling)
        assert [c["id"] for c in found] == [vip["id"]], spelling


async def test_conditions_and_tag_actions_use_the_same_spelling(tenant: TenantCtx) -> None:
    """A workflow written with `VIP` matches a client tagged `vip`, and its actions tag `vip`."""
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "vip onboarding",
            "trigger_type": "MANUAL",
            "is_active": True,
            "conditions": {"field": "client.tags", "operator": "contains", "value": " VIP"},
            "actions": [
                {"type": "ADD_TAG", "config": {"tag": "Onboarded"}},
                {"type": "REMOVE_TAG", "config": {"tag": "NEW"}},
            ],
        },
    )
    assert response.status_code == 201, response.text
    workflow = response.json()
    assert workflow["conditions"] == {
        "all": [{"field": "client.tags", "operator": "contains", "value": "vip"}]
    }
    client = await make_client(tenant.http, tags=["vip", "new"])
    dry = await tenant.http.post(
        f"/api/v1/workflows/{workflow['id']}/test", json={"client_id": client["id"]}
    )
    assert dry.json()["conditions_matched"] is True, dry.text
    trigger = await tenant.http.post(
        f"/api/v1/workflows/{workflow['id']}/trigger", json={"client_id": client["id"]}
    )
    assert trigger.status_code == 202, trigger.text
    for _ in range(200):
        tags = (await tenant.http.get(f"/api/v1/clients/{client['id']}")).json()["tags"]
        if tags == ["vip", "onboarded"]:
            break
        await asyncio.sleep(0.05)
    assert tags == ["vip", "onboarded"]
