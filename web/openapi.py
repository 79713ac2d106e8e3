"""The OpenAPI 3.1 documents of the machine APIs, built from the same pydantic models the handlers
validate requests and serialize answers with (web/api_models.py), so the contract cannot drift from
the code. Each API lists its operations once (`Operation`); `document()` turns the list into the
served JSON, and `validated()` is how a handler reads its query, path or body through a model."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from web.problems import PROBLEM_MEDIA_TYPE, FieldProblem, Problem, field_problems, invalid

Model = TypeVar("Model", bound=BaseModel)
REF_TEMPLATE = "#/components/schemas/{model}"


class RequestInvalid(Exception):
    """A request that its model refuses: answered 422 with each field (web/problems.py)."""

    def __init__(self, errors: list[FieldProblem], detail: str = "") -> None:
        super().__init__(detail or "invalid request")
        self.errors = errors
        self.detail = detail


def validated(model: type[Model], data: Any, location: Literal["body", "query", "path", "header"]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestInvalid(field_problems(error, location)) from error


def validated_json(model: type[Model], body: bytes, *, empty: Any = None) -> Model:
    """The body read as JSON through `model`; `empty` stands for an empty body when it may be."""
    if not body.strip():
        if empty is None:
            raise RequestInvalid(
                [FieldProblem(location="body", field="(whole)", detail="A JSON body is required.")]
            )
        return validated(model, empty, "body")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestInvalid(
            [FieldProblem(location="body", field="(whole)", detail=f"Not valid JSON: {error}")]
        ) from error
    return validated(model, data, "body")


def answering_invalid(handler: Callable) -> Callable:
    """The handler, with a refused model answered as a 422 problem."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestInvalid as refused:
            return invalid(request, refused.errors, refused.detail)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def answer(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A success answer serialized through its model."""
    return JSONResponse(
        model.model_dump(mode="json", by_alias=True),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


@dataclass(frozen=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    headers: dict[str, str] = field(default_factory=dict)  # name -> description (integer or string)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as routed: "/api/v1/partner/requests/{request_id:int}/claim"
    operation_id: str
    summary: str
    responses: dict[int, Reply]
    description: str = ""
    tags: tuple[str, ...] = ()
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    security: tuple[dict[str, list[str]], ...] | None = None

    @property
    def openapi_path(self) -> str:
        return self.path.replace(":int}", "}").replace(":str}", "}").replace(":path}", "}")


def _parameters(model: type[BaseModel], where: str, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[model.__name__]
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        # A query string cannot say null: an optional parameter is simply left out.
        branches = [branch for branch in prop.pop("anyOf", []) if branch != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
            if prop.get("default", "") is None:
                del prop["default"]
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
        }
        if description:
            parameter["description"] = description
        parameter["schema"] = prop
        found.append(parameter)
    return found


def document(
    *,
    title: str,
    version: str,
    description: str,
    operations: Sequence[Operation],
    security_schemes: dict[str, Any],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`."""
    models: list[type[BaseModel]] = [Problem]
    for operation in operations:
        models += [m for m in (operation.query, operation.path_params, operation.body) if m]
        models += [reply.model for reply in operation.responses.values() if reply.model]
    unique = list(dict.fromkeys(models))
    _keys, definitions = models_json_schema(
        [(model, "serialization" if _is_answer(model, operations) else "validation") for model in unique],
        ref_template=REF_TEMPLATE,
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "responses": {},
        }
        if operation.description:
            entry["description"] = operation.description
        if operation.tags:
            entry["tags"] = list(operation.tags)
        parameters: list[dict[str, Any]] = []
        if operation.path_params:
            parameters += _parameters(operation.path_params, "path", schemas)
        if operation.query:
            parameters += _parameters(operation.query, "query", schemas)
        if parameters:
            entry["parameters"] = parameters
        if operation.body:
            entry["requestBody"] = {
                "required": operation.body_required,
                "content": {
                    "application/json": {
                        "schema": {"$ref": REF_TEMPLATE.format(model=operation.body.__name__)}
                    }
                },
            }
        if operation.security is not None:
            entry["security"] = list(operation.security)
        for status, reply in sorted(operation.responses.items()):
            response: dict[str, Any] = {"description": reply.description}
            if reply.model is not None:
                media = PROBLEM_MEDIA_TYPE if reply.model is Problem else "application/json"
                response["content"] = {
                    media: {"schema": {"$ref": REF_TEMPLATE.format(model=reply.model.__name__)}}
                }
            if reply.headers:
                response["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in reply.headers.items()
                }
            entry["responses"][str(status)] = response
        paths.setdefault(operation.openapi_path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": security_schemes},
    }


def _is_answer(model: type[BaseModel], operations: Sequence[Operation]) -> bool:
    return any(reply.model is model for operation in operations for reply in operation.responses.values())
