"""The machine APIs' contract: the served OpenAPI 3.1 documents are valid, list exactly the app's
/api/ routes, and every error is an RFC 9457 problem (web/problems.py, web/api_contracts.py)."""

from __future__ import annotations

from openapi_spec_validator import validate
from starlette.routing import Route

from alliance.partners.tokens import create_token_for
from tests.claims_support import build_claim_world

DOCUMENTS = ("/api/v1/openapi.json", "/api/intake/openapi.json")


def _openapi_path(path: str) -> str:
    return path.replace(":int}", "}")


async def _documents(client) -> dict[str, dict]:
    found = {}
    for url in DOCUMENTS:
        response = await client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        found[url] = response.json()
    return found


async def test_both_documents_are_valid_openapi_3_1(client):
    for url, document in (await _documents(client)).items():
        validate(document)  # raises on the first violation
        assert document["openapi"].startswith("3.1"), url
        problem = document["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])


async def test_every_api_route_is_in_a_document_and_nothing_else_is(app, client):
    routed = {
        (method.lower(), _openapi_path(route.path))
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (method, path)
        for document in (await _documents(client)).values()
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert routed == documented
    partner, intake = (await _documents(client)).values()
    assert all(path.startswith("/api/v1/partner") or path == DOCUMENTS[0] for path in partner["paths"])
    assert all(
        path.startswith(("/api/v1/intake", "/api/v1/inbound")) or path == DOCUMENTS[1]
        for path in intake["paths"]
    )


async def test_errors_are_problem_details_with_the_fields_that_were_refused(client):
    world = await build_claim_world()
    secret = (await create_token_for(world.home.partner.name)).secret
    bearer = {"Authorization": f"Bearer {secret}"}
    refused = await client.get("/api/v1/partner/requests?limit=500&need=NOPE", headers=bearer)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "urn:alliance:problem:invalid" and body["title"] == "Unprocessable Entity"
    assert body["status"] == 422 and body["instance"] == "/api/v1/partner/requests" and body["detail"]
    assert {(error["in"], error["field"]) for error in body["errors"]} == {
        ("query", "limit"),
        ("query", "need"),
    }
    bad_body = await client.post(
        f"/api/v1/partner/requests/{world.request.id}/claim", content=b"{nope", headers=bearer
    )
    assert bad_body.status_code == 422 and bad_body.json()["errors"][0]["in"] == "body"
    not_a_number = await client.post(
        f"/api/v1/partner/requests/{world.request.id}/claim", json={"offering_id": "twelve"}, headers=bearer
    )
    assert not_a_number.json()["errors"] == [
        {"in": "body", "field": "offering_id", "detail": not_a_number.json()["errors"][0]["detail"]}
    ]
    forged_cursor = await client.get(
        "/api/v1/partner/requests?cursor=WzEsIDk5OTk5OTk5OTk5OTk5OTk5XQ", headers=bearer
    )
    assert forged_cursor.status_code == 422 and forged_cursor.json()["errors"][0]["field"] == "cursor"
    for method, path in (
        ("POST", "/api/v1/partner/requests/150420096519209952/claim"),
        ("POST", "/api/v1/partner/requests/13778610191/release"),
        ("GET", "/api/v1/nowhere"),
        ("DELETE", "/api/v1/partner/requests"),
    ):
        answer = await client.request(method, path, headers=bearer)
        assert answer.status_code in (404, 405), (method, path)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == answer.status_code and answer.json()["instance"] == path
    anonymous = await client.get("/api/v1/partner/requests")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_a_nul_character_is_refused_where_it_was_never_stored(client):
    import json
    import time

    from alliance.households.models import Household, IntakeRejectedRow
    from alliance.households.sources import add_source, sign
    from tests.intake_support import build_city, person

    await build_city()
    _source, secret = await add_source("nul-sais")
    body = json.dumps([person(1, head_name="王\x00五"), person(2)], ensure_ascii=False).encode()
    timestamp = f"{time.time():.3f}"
    headers = {
        "X-Alliance-Timestamp": timestamp,
        "X-Alliance-Signature": sign(
            secret, timestamp, body, method="POST", path="/api/v1/intake/households"
        ),
        "Content-Type": "application/json",
    }
    answer = await client.post("/api/v1/intake/households", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["created"] == 1
    [rejected] = answer.json()["rejected"]
    assert rejected["row"] == 1 and "NUL" in rejected["errors"][0]["message"]
    assert await Household.all().count() == 1
    stored = await IntakeRejectedRow.get(row=1)
    assert "\x00" not in json.dumps(stored.record)
    timestamp = f"{time.time():.3f}"
    path = "/api/v1/intake/households/WZ%00X"
    read_back = await client.get(
        path,
        headers={
            "X-Alliance-Timestamp": timestamp,
            "X-Alliance-Signature": sign(secret, timestamp, b"", method="GET", path=path),
        },
    )
    assert read_back.status_code == 422 and read_back.json()["errors"][0]["field"] == "external_id"
