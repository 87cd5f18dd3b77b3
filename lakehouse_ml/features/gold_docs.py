"""Descriptions and owner of the gold feature table, from the dbt model's docs (one source for Feast).

``dbt_project/models/gold/gold.yml`` documents ``fct_customer_features``: the model's description,
``config.meta.owner`` and a description per column. The Feast entity, feature view and fields take theirs
from here, so ``feast feature-views describe`` and dbt docs say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakehouse_ml.platform.settings import project_root

GOLD_DOCS_FILE = Path("dbt_project") / "models" / "gold" / "gold.yml"


class GoldDocsError(ValueError):
    """The dbt docs of a gold model lack what Feast's definitions need."""


@dataclass(frozen=True)
class GoldModelDocs:
    model: str
    description: str
    owner: str
    columns: dict[str, str]

    def column(self, name: str) -> str:
        if not self.columns.get(name):
            raise GoldDocsError(
                f"{GOLD_DOCS_FILE}: column {name!r} of model {self.model!r} has no description"
            )
        return self.columns[name]


def gold_model_docs(model: str, path: Path | None = None) -> GoldModelDocs:
    import yaml

    path = path or project_root() / GOLD_DOCS_FILE
    models = {
        entry.get("name"): entry for entry in (yaml.safe_load(path.read_text()) or {}).get("models", [])
    }
    if model not in models:
        raise GoldDocsError(f"{path}: no model named {model!r} (found {sorted(filter(None, models))})")
    entry = models[model]
    description = " ".join(str(entry.get("description") or "").split())
    owner = ((entry.get("config") or {}).get("meta") or {}).get("owner")
    if not description:
        raise GoldDocsError(f"{path}: model {model!r} has no description")
    if not owner:
        raise GoldDocsError(f"{path}: model {model!r} has no config.meta.owner")
    columns = {c["name"]: " ".join(str(c.get("description") or "").split()) for c in entry.get("columns", [])}
    return GoldModelDocs(model, description, str(owner), columns)
