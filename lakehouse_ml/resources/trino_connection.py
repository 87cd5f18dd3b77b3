"""One way to talk to Trino for the prod resources (warehouse and monitoring query engine).

Sessions run in UTC so that timestamps with a time zone compare the same in every query. Trino only
accepts a password over TLS, so a password switches the connection to HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.resources.env import optional_env

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrinoConnection:
    host: str
    port: int
    user: str
    password: str | None
    catalog: str

    def _connect(self):
        import trino.auth
        import trino.dbapi

        return trino.dbapi.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            catalog=self.catalog,
            http_scheme="https" if self.password else "http",
            auth=trino.auth.BasicAuthentication(self.user, self.password) if self.password else None,
            timezone="UTC",
        )

    def fetch(self, sql: str) -> tuple[list[tuple], list[str]]:
        """Rows and column names of one statement, on a connection closed afterwards."""
        connection = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            rows = cursor.fetchall()
            return rows, [column[0] for column in cursor.description or []]
        finally:
            connection.close()

    def frame(self, sql: str) -> pd.DataFrame:
        import pandas as pd

        rows, columns = self.fetch(sql)
        return pd.DataFrame(rows, columns=columns)


def trino_config(**optional_variables: str) -> dict:
    """Config of a prod Trino resource: ``LAKEHOUSE_TRINO_HOST`` is required; port, user, catalog,
    password (and ``optional_variables``, field -> variable) only when set, so that the class defaults
    hold otherwise and, without a password, the plain-HTTP connection is used."""
    variables = {
        "user": "LAKEHOUSE_TRINO_USER",
        "password": "LAKEHOUSE_TRINO_PASSWORD",
        "catalog": "LAKEHOUSE_TRINO_CATALOG",
        **optional_variables,
    }
    config = {"host": dg.EnvVar("LAKEHOUSE_TRINO_HOST"), **optional_env("port", "LAKEHOUSE_TRINO_PORT", True)}
    for field, variable in variables.items():
        config.update(optional_env(field, variable))
    return config
