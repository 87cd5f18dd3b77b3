"""Name the service behind a connection failure: S3, PostgreSQL or Redis going away mid-run surfaces as
a low-level error (an aiohttp connect call, a psycopg2 OperationalError) deep in Feast, s3fs or
SQLAlchemy; ``naming_unavailable_services`` re-raises it as ``ServiceUnavailableError`` saying which
service and which setting, with the original error chained. Messages carry no URL: those hold secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# (service, setting, exception classes by "module.ClassName" prefix); the first match in the chain wins
SERVICES = [
    (
        "PostgreSQL",
        "the Feast registry, LAKEHOUSE_FEAST_REGISTRY_URL",
        ("psycopg2.OperationalError", "psycopg.OperationalError", "sqlalchemy.exc.OperationalError"),
    ),
    (
        "S3",
        "LAKEHOUSE_S3_ENDPOINT",
        (
            "aiohttp.client_exceptions.ClientConnectorError",
            "aiohttp.client_exceptions.ClientOSError",
            "aiohttp.client_exceptions.ServerDisconnectedError",
            "botocore.exceptions.EndpointConnectionError",
            "botocore.exceptions.ConnectionClosedError",
            "botocore.exceptions.ReadTimeoutError",
        ),
    ),
    ("Redis", "LAKEHOUSE_REDIS_URL", ("redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError")),
]


class ServiceUnavailableError(ConnectionError):
    """A service the run needs stopped answering."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(error: BaseException) -> set[str]:
    return {f"{klass.__module__}.{klass.__qualname__}" for klass in type(error).__mro__}


def unavailable_service(error: BaseException) -> tuple[str, str] | None:
    """(service, setting) when ``error`` or one of its causes is a known service's connection failure."""
    for link in _chain(error):
        names = _names(link)
        for service, setting, classes in SERVICES:
            if names.intersection(classes):
                return service, setting
    return None


def _root_cause(error: BaseException) -> BaseException:
    return list(_chain(error))[-1]


@contextmanager
def naming_unavailable_services(doing: str) -> Iterator[None]:
    """Re-raise a connection failure of S3, PostgreSQL or Redis met while ``doing`` as
    ``ServiceUnavailableError`` naming the service; other errors pass unchanged."""
    try:
        yield
    except ServiceUnavailableError:
        raise
    except Exception as error:
        found = unavailable_service(error)
        if found is None:
            raise
        service, setting = found
        cause = _root_cause(error)
        detail = f"{type(cause).__name__}: {str(cause).strip()}"
        raise ServiceUnavailableError(
            f"{service} is unavailable ({setting}) while {doing}: {detail}. Run again once it is back."
        ) from error
