"""Feast's descriptions and owners come from the dbt docs of the gold model; gaps are named."""

from __future__ import annotations

import pytest

from lakehouse_ml.features.gold_docs import GoldDocsError, gold_model_docs
from lakehouse_ml.features.store import FEATURE_NAMES

GOOD = """
models:
  - name: fct_customer_features
    description: >
      Churn features
      per customer.
    config: {meta: {owner: data-team}}
    columns:
      - {name: customer_id, description: "The customer"}
      - {name: tenure_days}
"""


def test_the_project_documents_every_feature_and_an_owner():
    docs = gold_model_docs("fct_customer_features")
    assert docs.owner and docs.description
    for name in ["customer_id", *FEATURE_NAMES]:
        assert docs.column(name)


def test_docs_are_read_from_the_dbt_yaml(tmp_path):
    path = tmp_path / "gold.yml"
    path.write_text(GOOD)
    docs = gold_model_docs("fct_customer_features", path)
    assert (docs.description, docs.owner, docs.column("customer_id")) == (
        "Churn features per customer.",
        "data-team",
        "The customer",
    )
    with pytest.raises(GoldDocsError, match="column 'tenure_days' of model 'fct_customer_features'"):
        docs.column("tenure_days")
    with pytest.raises(GoldDocsError, match="no model named 'fct_churn_labels'"):
        gold_model_docs("fct_churn_labels", path)


def test_a_model_without_an_owner_is_refused(tmp_path):
    path = tmp_path / "gold.yml"
    path.write_text(GOOD.replace("    config: {meta: {owner: data-team}}\n", ""))
    with pytest.raises(GoldDocsError, match="config.meta.owner"):
        gold_model_docs("fct_customer_features", path)
