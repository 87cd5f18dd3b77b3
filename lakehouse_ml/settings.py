"""Project settings read from ``LAKEHOUSE_*`` environment variables.

Plain module (no Dagster import) so the CLI, the KFP components and the model
server read the same configuration as the code location.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROFILES = ("local", "prod")


@dataclass(frozen=True)
class Settings:
    profile: str
    home: Path
    raw_uri: str
    as_of: date | None
    serving_port: int

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        profile = env.get("LAKEHOUSE_PROFILE", "local")
        if profile not in PROFILES:
            raise ValueError(f"LAKEHOUSE_PROFILE must be one of {PROFILES}, got {profile!r}")
        home = Path(env.get("LAKEHOUSE_HOME", ".lakehouse")).expanduser().resolve()
        as_of_text = env.get("LAKEHOUSE_AS_OF")
        try:
            as_of = date.fromisoformat(as_of_text) if as_of_text else None
        except ValueError as err:
            raise ValueError(f"LAKEHOUSE_AS_OF must be YYYY-MM-DD, got {as_of_text!r}") from err
        port_text = env.get("LAKEHOUSE_SERVING_PORT", "8080")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"LAKEHOUSE_SERVING_PORT must be a TCP port number, got {port_text!r}")
        return cls(
            profile=profile,
            home=home,
            raw_uri=env.get("LAKEHOUSE_RAW_URI") or str(home / "raw"),
            as_of=as_of,
            serving_port=int(port_text),
        )

    @property
    def raw_is_local(self) -> bool:
        return "://" not in self.raw_uri

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def gold_dir(self) -> Path:
        return self.home / "gold"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def kfp_root(self) -> Path:
        return self.home / "kfp"

    @property
    def registry_dir(self) -> Path:
        return self.home / "registry"

    @property
    def dvc_remote_dir(self) -> Path:
        return self.home / "dvc-remote"

    @property
    def iceberg_dir(self) -> Path:
        return self.home / "iceberg"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
