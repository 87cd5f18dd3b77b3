"""Request limits of the model server, checked before KServe sees a request.

An ASGI middleware. KServe's model repository endpoints (``/v2/repository/...``: load and unload a model)
are refused with 403: any client could otherwise unload the served model. In front of the inference
endpoints (V1 ``:predict``, V2 ``/infer``):

- a body over ``MAX_BODY_BYTES`` is refused with 413 (by ``Content-Length``, or while it streams in);
- a body that is not strict JSON is refused with 400: invalid UTF-8, ``NaN``/``Infinity``, nesting deeper
  than ``MAX_JSON_DEPTH``, or an object with a duplicate key (parsers disagree on which value wins);
- more than ``MAX_INSTANCES`` instances (V1) or ``customer_id`` values (V2) in one request: 413;
- a ``customer_id`` longer than ``MAX_CUSTOMER_ID_LENGTH`` characters: 400.

V2 requests with the binary tensor extension (``inference-header-content-length``) are limited by size
only; their JSON header is parsed by KServe. Every refusal is ``{"error": "<what is wrong>"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from lakehouse_ml.serving.online_lookup import ENTITY_KEY

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_INSTANCES = 10_000
MAX_CUSTOMER_ID_LENGTH = 128
MAX_JSON_DEPTH = 64
BINARY_HEADER = b"inference-header-content-length"
REPOSITORY_PREFIX = "/v2/repository/"
LIMITED_PATHS = re.compile(r"^/v1/models/[^/]+:predict$|^/v2/models/[^/]+(/versions/[^/]+)?/infer$")


class RequestRefused(ValueError):
    """A request past a limit; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def check_body(body: bytes) -> None:
    """Raise ``RequestRefused`` unless ``body`` is strict JSON within the limits."""
    if len(body) > MAX_BODY_BYTES:
        raise _too_large(len(body))
    try:
        text = body.decode("utf-8")
        payload = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"request body is not valid UTF-8: {err}") from err
    except RecursionError as err:
        raise _too_deep() from err
    except ValueError as err:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, f"request body is not valid JSON: {err}") from err
    openers = body.count(b"[") + body.count(b"{")  # an upper bound of the depth, at C speed
    if openers > MAX_JSON_DEPTH and _depth(payload) > MAX_JSON_DEPTH:
        raise _too_deep()
    check_customer_ids(_customer_ids(payload))


def check_customer_ids(customer_ids: list) -> None:
    """At most ``MAX_INSTANCES`` ids, each at most ``MAX_CUSTOMER_ID_LENGTH`` characters."""
    if len(customer_ids) > MAX_INSTANCES:
        raise RequestRefused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"request has {len(customer_ids)} instances; at most {MAX_INSTANCES} per request",
        )
    for index, value in enumerate(customer_ids):
        if isinstance(value, str) and len(value) > MAX_CUSTOMER_ID_LENGTH:
            raise RequestRefused(
                HTTPStatus.BAD_REQUEST,
                f"{ENTITY_KEY}[{index}] has {len(value)} characters; at most {MAX_CUSTOMER_ID_LENGTH}",
            )


def _customer_ids(payload) -> list:
    """The customer ids a V1 or V2 body carries; shape errors are left to the model's own checks."""
    if not isinstance(payload, dict):
        return []
    instances = payload.get("instances")
    if isinstance(instances, list):
        return [i.get(ENTITY_KEY) if isinstance(i, dict) else None for i in instances]
    inputs = payload.get("inputs")
    if isinstance(inputs, list):
        for tensor in inputs:
            if isinstance(tensor, dict) and tensor.get("name") == ENTITY_KEY:
                data = tensor.get("data")
                return data if isinstance(data, list) else []
    return []


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r} in an object")
    return result


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(value, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return level - 1
    return max((_depth(item, level + 1) for item in value), default=level)


def _too_large(size: int) -> RequestRefused:
    return RequestRefused(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"request body has {size} bytes or more; at most {MAX_BODY_BYTES} bytes per request",
    )


def _too_deep() -> RequestRefused:
    return RequestRefused(HTTPStatus.BAD_REQUEST, f"request body nests deeper than {MAX_JSON_DEPTH} levels")


ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class RequestLimits:
    """Pure ASGI middleware: reads a limited request's body, checks it, and replays it to ``app``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(REPOSITORY_PREFIX):
            await _refuse(send, RequestRefused(HTTPStatus.FORBIDDEN, "model repository control is disabled"))
            return
        if scope["type"] != "http" or scope["method"] != "POST" or not LIMITED_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        try:
            if declared > MAX_BODY_BYTES:
                raise _too_large(declared)
            body = await _read_body(receive)
            if BINARY_HEADER not in headers:
                check_body(body)
        except RequestRefused as refused:
            await _refuse(send, refused)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "client disconnected before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    """The body once as one message; later calls wait on the connection (for its disconnect)."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send, refused: RequestRefused) -> None:
    body = json.dumps({"error": str(refused)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": int(refused.status),
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
