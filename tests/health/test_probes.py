import httpx


async def test_health_answers_without_auth(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_database_reachable(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_openapi_schema_is_served(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/health" in response.json()["paths"]


async def test_api_requires_a_key(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/clients")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
