"""A client nobody here wrote fuzzes the running APIs: schemathesis reads the served OpenAPI
documents and sends generated requests, valid and invalid, to `alliance serve` on a seeded database
with a partner token and a signed intake source. Nothing may answer 5xx, every answer must match the
document (status, content type, headers, body), and no answer before a claim may carry a household's
personal data (docs/partner-api.md)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alliance.households.models import Household
from alliance.households.sources import add_source, sign
from alliance.partners.tokens import create_token_for
from tests.claims_support import add_household_request, build_claim_world
from tests.conftest import start_live_server, stop_live_server

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Per operation and mode (valid, then invalid data): 6 operations x 2 x 50 stays well under a minute.
# ALLIANCE_FUZZ_EXAMPLES=500 for a deeper, randomized run by hand.
EXAMPLES = int(os.environ.get("ALLIANCE_FUZZ_EXAMPLES") or 50)
DERANDOMIZE = "ALLIANCE_FUZZ_EXAMPLES" not in os.environ
PERSONAL_KEYS = {"head_name", "name", "phone", "id_number", "address", "household"}


class Signed(requests.auth.AuthBase):
    """The intake signature over what goes on the wire: timestamp, method, raw path, body."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = f"{time.time():.3f}"
        path = prepared.path_url.split("?", 1)[0]
        prepared.headers["X-Alliance-Timestamp"] = timestamp
        prepared.headers["X-Alliance-Signature"] = sign(
            self.secret, timestamp, body, method=prepared.method or "GET", path=path
        )
        return prepared


class Bearer(requests.auth.AuthBase):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self.secret}"
        return prepared


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


def _no_personal_data(secrets_of_households: list[str]) -> Callable:
    def check(response, claimed: bool, where: str) -> None:
        if claimed:
            return  # the claim's own answer carries the contact details, audited
        text = response.text
        assert not any(value in text for value in secrets_of_households), (where, text[:300])
        if "json" in (response.headers.get("content-type") or [""])[0]:
            assert not (_keys(json.loads(text)) & PERSONAL_KEYS), (where, text[:300])

    return check


def _fuzz(
    schema, session: requests.Session, auth: requests.auth.AuthBase, check_privacy: Callable, seen: Counter
) -> int:
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=DERANDOMIZE,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                nonlocal sent
                response = case.call(session=session, auth=auth)
                sent += 1
                seen[(case.method, case.operation.path, response.status_code)] += 1
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
                case.validate_response(response, checks=CHECKS)
                claimed = response.status_code == 200 and case.formatted_path.endswith("/claim")
                check_privacy(response, claimed, f"{case.method} {case.formatted_path}")

            run()
    return sent


@pytest.fixture
def fast_tokens(monkeypatch):
    # The fuzzer is one client sending hundreds of calls: the per-token rate is not what is tested.
    monkeypatch.setenv("ALLIANCE_API_RATE_PER_MINUTE", "100000")
    monkeypatch.setenv("ALLIANCE_API_BURST", "100000")


async def test_schemathesis_finds_no_server_error_no_schema_break_and_no_personal_data(
    servers, tmp_path, fast_tokens
):
    world = await build_claim_world()
    for index in range(3):
        await add_household_request(world.left, f"fz{index}")
    from alliance.matching.matching import match_all

    await match_all(notify=False)
    token = (await create_token_for(world.home.partner.name)).secret
    _source, intake_secret = await add_source("fuzz-sais")
    personal = [
        value
        for row in await Household.all().values("head_name", "phone", "id_number", "address")
        for value in row.values()
        if value
    ]
    check_privacy = _no_personal_data(personal)
    server = start_live_server(servers, tmp_path)
    seen: Counter = Counter()
    try:
        with requests.Session() as session:
            partner = schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json")
            sent = _fuzz(partner, session, Bearer(token), check_privacy, seen)
            intake = schemathesis.openapi.from_url(server.url + "/api/intake/openapi.json")
            sent += _fuzz(intake, session, Signed(intake_secret), check_privacy, seen)
            # A real claim answers with the contact details, in the documented shape.
            listed = session.get(
                server.url + "/api/v1/partner/requests", headers={"Authorization": f"Bearer {token}"}
            ).json()
            assert listed["requests"] and not (_keys(listed) & PERSONAL_KEYS)
            operation = partner["/api/v1/partner/requests/{request_id}/claim"]["POST"]
            case = operation.Case(
                path_parameters={"request_id": listed["requests"][0]["request_id"]}, body={}
            )
            response = case.call(session=session, auth=Bearer(token))
            assert response.status_code == 200, response.text
            case.validate_response(response, checks=CHECKS)
            assert json.loads(response.text)["household"]["phone"]
    finally:
        stop_live_server(server)
    assert sent > 200
    # The fuzzer got past the gates: pages listed, bodies refused field by field, signed imports read.
    statuses = {(path, status) for _method, path, status in seen}
    assert ("/api/v1/partner/requests", 200) in statuses and ("/api/v1/partner/requests", 422) in statuses
    assert ("/api/v1/intake/households", 200) in statuses and ("/api/v1/intake/households", 400) in statuses
    assert ("/api/v1/partner/requests/{request_id}/claim", 404) in statuses
