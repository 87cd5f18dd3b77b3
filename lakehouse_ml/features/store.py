"""Open the project's Feast feature store for a profile.

Both profiles read their YAML from ``feast_repo/`` (``feature_store.yaml`` locally,
``feature_store.prod.yaml`` in prod) so that the CLI and the code location share one configuration;
here the paths come from ``Settings`` instead of the process environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from lakehouse_ml.platform.settings import Settings, project_root

if TYPE_CHECKING:
    import feast

FEAST_REPO = project_root() / "feast_repo"
FEATURE_SERVICE = "churn_v1"
FEATURE_VIEW = "customer_features"
ENTITY_KEY = "customer_id"
FEATURE_NAMES = [
    "lifetime_value",
    "order_count_30d",
    "order_count_90d",
    "avg_order_value",
    "days_since_last_order",
    "tenure_days",
    "customer_segment",
]
CATEGORICAL_FEATURES = ["customer_segment"]


# A Redis that stops answering fails an online read (the model server answers 503) instead of hanging it.
REDIS_TIMEOUT_SECONDS = 2


class FeatureStoreConfigError(ValueError):
    """The environment does not describe a usable feature store for the profile."""


def redis_connection_string(url: str) -> str:
    """Feast's Redis connection string (``host:port,db=N,...``) from a ``redis://`` or ``rediss://`` URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        shown = parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()  # never echo a password
        raise FeatureStoreConfigError(
            f"LAKEHOUSE_REDIS_URL must look like redis://host:6379/0, got {shown!r}"
        )
    parts = [f"{parsed.hostname}:{parsed.port or 6379}"]
    db = parsed.path.strip("/")
    if db:
        if not db.isdigit():
            raise FeatureStoreConfigError(f"LAKEHOUSE_REDIS_URL: the database must be a number, got {db!r}")
        parts.append(f"db={db}")
    if parsed.username:
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    parts += [f"socket_timeout={REDIS_TIMEOUT_SECONDS}", f"socket_connect_timeout={REDIS_TIMEOUT_SECONDS}"]
    return ",".join(parts)


def _render(yaml_file: Path, variables: dict[str, str]) -> dict[str, Any]:
    """Load a feature_store.yaml, substituting ``$VAR``/``${VAR}`` like Feast's ``os.path.expandvars``."""
    import yaml

    text = Template(yaml_file.read_text()).safe_substitute(variables)
    return yaml.safe_load(text)


def local_store_config(feast_dir: Path) -> dict[str, Any]:
    """Local profile: feast_repo/feature_store.yaml with registry and sqlite online store in ``feast_dir``."""
    raw = _render(FEAST_REPO / "feature_store.yaml", dict(os.environ))
    raw["registry"]["path"] = str(feast_dir / "registry.db")
    raw["online_store"]["path"] = str(feast_dir / "online.db")
    feast_dir.mkdir(parents=True, exist_ok=True)
    return raw


def prod_store_config(registry_url: str, redis_url: str) -> dict[str, Any]:
    """Prod profile: feast_repo/feature_store.prod.yaml with a SQL registry and the Redis online store."""
    if not registry_url:
        raise FeatureStoreConfigError(
            "LAKEHOUSE_FEAST_REGISTRY_URL (SQLAlchemy URL: postgresql://user@host/feast) is required in prod"
        )
    if not redis_url:
        raise FeatureStoreConfigError("LAKEHOUSE_REDIS_URL (redis://host:6379/0) is required in prod")
    if registry_url.startswith(("postgresql://", "postgres://")):
        # Feast would switch a bare postgresql:// to psycopg 3; the environment ships psycopg2.
        registry_url = "postgresql+psycopg2://" + registry_url.split("://", 1)[1]
    variables = {
        **os.environ,
        "LAKEHOUSE_FEAST_REGISTRY_URL": registry_url,
        "LAKEHOUSE_FEAST_REDIS": redis_connection_string(redis_url),
    }
    return _render(FEAST_REPO / "feature_store.prod.yaml", variables)


def store_config(settings: Settings | None = None) -> dict[str, Any]:
    """The profile's feature store configuration as a plain dict (``RepoConfig`` keyword arguments)."""
    settings = settings or Settings.from_env()
    if settings.profile == "local":
        return local_store_config(settings.feast_dir)
    return prod_store_config(
        os.environ.get("LAKEHOUSE_FEAST_REGISTRY_URL", ""), os.environ.get("LAKEHOUSE_REDIS_URL", "")
    )


def store_from_config(config: dict[str, Any]) -> feast.FeatureStore:
    """A ``FeatureStore`` over ``feast_repo/`` with the given configuration dict."""
    from feast import FeatureStore, RepoConfig

    repo_config = RepoConfig(repo_path=FEAST_REPO, **config)
    return FeatureStore(repo_path=str(FEAST_REPO), config=repo_config)


def feature_store(settings: Settings | None = None) -> feast.FeatureStore:
    """The project's feature store for the settings' profile (default: ``Settings.from_env()``)."""
    return store_from_config(store_config(settings))
