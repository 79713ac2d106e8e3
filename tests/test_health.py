"""/healthz tells a load balancer whether this process can serve: database and Redis both answer."""


async def test_health_is_ok_when_database_and_redis_answer(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["database"]["ok"] is True and body["redis"]["ok"] is True
    assert response.headers["cache-control"] == "no-store"
