"""A stand-in for the part of Apache Polaris' REST API that the bootstrap uses (no Polaris server can run
here): a real HTTP server on 127.0.0.1 that records every call, keeps the created objects, and answers as
Polaris does: 201 with the entity on create (200 for a namespace), 409 with an error body when the object
already exists, 404 when a parent is missing, 201 again for a grant or role assignment that is already in
place, 401 without a bearer token. Of the Iceberg REST catalog API it answers the config (prefix = catalog
name, as Polaris does) and, for a table in a namespace that does not exist, loading or creating it with 404
``NoSuchNamespaceException``, so a writer outside the governed namespaces fails as it would on Polaris; a
create in an existing namespace gets 501 (the stand-in keeps no table metadata)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN = ("root-id", "root-secret")
TOKEN = "standin-token"


class PolarisState:
    def __init__(self):
        self.calls: list[tuple[str, str, dict | None]] = []
        self.catalogs: dict[str, dict] = {}
        self.namespaces: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        self.catalog_roles: dict[str, set[str]] = defaultdict(set)
        self.grants: dict[tuple[str, str], set[tuple]] = defaultdict(set)  # (catalog, role) -> grants
        self.principal_roles: set[str] = set()
        self.role_catalog_roles: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.principals: dict[str, str] = {}  # name -> client id
        self.principal_assignments: dict[str, set[str]] = defaultdict(set)

    def snapshot(self) -> tuple:
        """Copies of every object the server holds (calls excluded)."""
        return (
            {name: dict(catalog) for name, catalog in self.catalogs.items()},
            {name: set(items) for name, items in self.namespaces.items()},
            {name: set(items) for name, items in self.catalog_roles.items()},
            {key: set(items) for key, items in self.grants.items()},
            set(self.principal_roles),
            {name: set(items) for name, items in self.role_catalog_roles.items()},
            dict(self.principals),
            {name: set(items) for name, items in self.principal_assignments.items()},
        )

    def privileges(self, principal_role: str) -> dict[str, set[str]]:
        """Namespace (or ``*`` for the whole catalog) -> privileges the principal role holds."""
        held: dict[str, set[str]] = defaultdict(set)
        for catalog, catalog_role in self.role_catalog_roles[principal_role]:
            for grant in self.grants[(catalog, catalog_role)]:
                kind, target, privilege = grant
                held[".".join(target) if kind == "namespace" else "*"].add(privilege)
        return dict(held)


def _error(status: int, kind: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": kind, "code": status}}


def _handle(state: PolarisState, method: str, path: str, body: dict | None) -> tuple[int, dict | None]:
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    if parts[:3] == ["api", "management", "v1"]:
        rest = parts[3:]
        if method == "POST" and rest == ["catalogs"]:
            name = body["catalog"]["name"]
            if name in state.catalogs:
                return _error(409, "EntityAlreadyExistsException", f"Catalog {name} already exists")
            state.catalogs[name] = body["catalog"]
            return 201, body["catalog"]
        if method == "POST" and rest == ["principal-roles"]:
            name = body["principalRole"]["name"]
            if name in state.principal_roles:
                return _error(409, "EntityAlreadyExistsException", f"PrincipalRole {name} already exists")
            state.principal_roles.add(name)
            return 201, body["principalRole"]
        if method == "POST" and rest == ["principals"]:
            name = body["principal"]["name"]
            if name in state.principals:
                return _error(409, "EntityAlreadyExistsException", f"Principal {name} already exists")
            state.principals[name] = f"id-{name}"
            principal = {"name": name, "clientId": f"id-{name}"}
            return 201, {
                "principal": principal,
                "credentials": {"clientId": f"id-{name}", "clientSecret": f"secret-{name}"},
            }
        if method == "POST" and len(rest) == 3 and rest[0] == "catalogs" and rest[2] == "catalog-roles":
            catalog, name = rest[1], body["catalogRole"]["name"]
            if catalog not in state.catalogs:
                return _error(404, "NotFoundException", f"Catalog {catalog} not found")
            if name in state.catalog_roles[catalog]:
                return _error(409, "EntityAlreadyExistsException", f"CatalogRole {name} already exists")
            state.catalog_roles[catalog].add(name)
            return 201, body["catalogRole"]
        if method == "PUT" and len(rest) == 5 and rest[0] == "catalogs" and rest[4] == "grants":
            catalog, role = rest[1], rest[3]
            if role not in state.catalog_roles[catalog]:
                return _error(404, "NotFoundException", f"CatalogRole {role} not found")
            grant = body["grant"]
            state.grants[(catalog, role)].add(
                (grant["type"], tuple(grant.get("namespace", ())), grant["privilege"])
            )
            return 201, None
        if method == "PUT" and len(rest) == 4 and rest[0] == "principal-roles" and rest[2] == "catalog-roles":
            principal_role, catalog, name = rest[1], rest[3], body["catalogRole"]["name"]
            if principal_role not in state.principal_roles or name not in state.catalog_roles[catalog]:
                return _error(404, "NotFoundException", f"{principal_role} or {name} not found")
            state.role_catalog_roles[principal_role].add((catalog, name))
            return 201, None
        if method == "PUT" and len(rest) == 3 and rest[0] == "principals" and rest[2] == "principal-roles":
            principal, name = rest[1], body["principalRole"]["name"]
            if principal not in state.principals or name not in state.principal_roles:
                return _error(404, "NotFoundException", f"{principal} or {name} not found")
            state.principal_assignments[principal].add(name)
            return 201, None
    if parts[:3] == ["api", "catalog", "v1"] and method == "GET" and parts[3:] == ["config"]:
        return 200, {"defaults": {}, "overrides": {"prefix": next(iter(state.catalogs), "")}}
    if (
        parts[:3] == ["api", "catalog", "v1"]
        and len(parts) in (7, 8)
        and parts[4:7:2] == ["namespaces", "tables"]
    ):
        catalog, namespace = parts[3], tuple(parts[5].split("\x1f"))
        if catalog not in state.catalogs:
            return _error(404, "NoSuchCatalogException", f"Catalog {catalog} not found")
        if namespace not in state.namespaces[catalog]:
            return _error(404, "NoSuchNamespaceException", f"Namespace does not exist: {'.'.join(namespace)}")
        if method == "GET" and len(parts) == 8:
            return _error(404, "NoSuchTableException", f"Table does not exist: {parts[7]}")
        return _error(501, "NotImplementedException", "the stand-in keeps no table metadata")
    if (
        parts[:3] == ["api", "catalog", "v1"]
        and method == "POST"
        and len(parts) == 5
        and parts[4] == "namespaces"
    ):
        catalog, namespace = parts[3], tuple(body["namespace"])
        if catalog not in state.catalogs:
            return _error(404, "NoSuchCatalogException", f"Catalog {catalog} not found")
        if namespace in state.namespaces[catalog]:
            return _error(409, "AlreadyExistsException", f"Namespace already exists: {'.'.join(namespace)}")
        state.namespaces[catalog].add(namespace)
        return 200, {"namespace": list(namespace), "properties": body.get("properties") or {}}
    return _error(404, "NotFoundException", f"no route {method} {path}")


class PolarisStandIn:
    def __init__(self):
        self.state = PolarisState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, payload: dict | None):
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _request(self, method: str):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                path = urllib.parse.urlsplit(self.path).path
                if path == "/api/catalog/v1/oauth/tokens":
                    form = dict(urllib.parse.parse_qsl(raw))
                    state.calls.append((method, path, {"client_id": form.get("client_id")}))
                    if (form.get("client_id"), form.get("client_secret")) != ADMIN:
                        return self._answer(401, {"error": "unauthorized_client", "error_description": "bad"})
                    return self._answer(
                        200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}
                    )
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(*_error(401, "NotAuthorizedException", "no token"))
                body = json.loads(raw) if raw else None
                state.calls.append((method, path, body))
                self._answer(*_handle(state, method, path, body))

            def do_POST(self):
                self._request("POST")

            def do_PUT(self):
                self._request("PUT")

            def do_GET(self):
                self._request("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PolarisStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
