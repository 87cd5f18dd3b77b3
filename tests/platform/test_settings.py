"""The one settings object: validation, caching per environment, and resources reading from it."""

from __future__ import annotations

from datetime import date

import pytest

from lakehouse_ml.platform.settings import Settings, project_root


def test_defaults_derive_every_path_from_home(lakehouse_home):
    settings = Settings.from_env()
    assert settings.profile == "local" and settings.home == lakehouse_home.resolve()
    assert settings.raw_uri == str(lakehouse_home / "raw") and settings.raw_is_local
    assert settings.registry_dir == lakehouse_home / "registry"
    assert (settings.as_of, settings.serving_port, settings.gold_uri) == (None, 8080, None)


def test_values_are_parsed_and_empty_means_unset(lakehouse_home, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_AS_OF", "2025-03-02")
    monkeypatch.setenv("LAKEHOUSE_SERVING_PORT", "8116")
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", "")
    monkeypatch.setenv("LAKEHOUSE_RAW_URI", "s3://landing/raw")
    settings = Settings.from_env()
    assert (settings.as_of, settings.serving_port, settings.s3_endpoint) == (date(2025, 3, 2), 8116, None)
    assert not settings.raw_is_local


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAKEHOUSE_PROFILE", "staging"),
        ("LAKEHOUSE_AS_OF", "02/03/2025"),
        ("LAKEHOUSE_SERVING_PORT", "70000"),
        ("LAKEHOUSE_SERVING_PORT", "http"),
        ("LAKEHOUSE_DRIFT_SENSOR_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_bad_value_fails_naming_the_variable_and_the_value(lakehouse_home, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}: .*got '{value}'"):
        Settings.from_env()


def test_validated_once_per_environment(lakehouse_home, monkeypatch):
    first = Settings.from_env()
    assert Settings.from_env() is first
    monkeypatch.setenv("LAKEHOUSE_SERVING_PORT", "8116")
    changed = Settings.from_env()
    assert changed is not first and changed.serving_port == 8116


def test_overrides_apply_on_top_of_the_environment(lakehouse_home, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SERVING_PORT", "8116")
    other = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "other"), "PATH": "/ignored"})
    assert other.home == tmp_path / "other" and other.raw_uri == str(tmp_path / "other" / "raw")
    assert other.serving_port == 8116
    assert Settings.from_env().home == lakehouse_home.resolve()


def test_prod_resources_take_their_values_from_the_settings(lakehouse_home, monkeypatch):
    from lakehouse_ml.resources import RESOURCES_BY_PROFILE

    endpoint = "http://127.0.0.1:9000"
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("LAKEHOUSE_GOLD_URI", "s3://bucket/gold")
    monkeypatch.setenv("LAKEHOUSE_IMAGE", "registry.example/lakehouse-ml:7")
    resources = RESOURCES_BY_PROFILE["prod"](Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert resources["model_registry"].endpoint_url == endpoint
    assert resources["iceberg"].s3_endpoint == endpoint
    assert resources["model_server"].s3_endpoint == endpoint
    assert resources["model_server"].image == "registry.example/lakehouse-ml:7"
    assert resources["training_pipeline"].gold_uri == "s3://bucket/gold"
    assert resources["training_pipeline"].s3_endpoint == endpoint
    assert resources["feature_store"].gold_source().uri == "s3://bucket/gold/fct_customer_features.parquet"


def test_prod_feature_store_without_gold_uri_fails_naming_the_variable(lakehouse_home):
    from lakehouse_ml.features.gold import FeatureDefinitionError
    from lakehouse_ml.resources import RESOURCES_BY_PROFILE

    resources = RESOURCES_BY_PROFILE["prod"](Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    with pytest.raises(FeatureDefinitionError, match="LAKEHOUSE_GOLD_URI"):
        resources["feature_store"].gold_source()


def test_the_label_horizon_has_one_source_that_dbt_receives():
    import yaml

    from lakehouse_ml.assets.gold import DbtBuildConfig, dbt_var_overrides
    from lakehouse_ml.monitoring.policy import TriggerPolicy
    from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS
    from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
    from lakehouse_ml.training.dataset import SplitConfig
    from lakehouse_ml.training.pipeline import PipelineArguments

    dbt_default = yaml.safe_load((project_root() / "dbt_project" / "dbt_project.yml").read_text())["vars"][
        "label_horizon_days"
    ]
    assert dbt_default == LABEL_HORIZON_DAYS  # dbt's parse-time default; the Python value wins below
    defaults = [
        SplitConfig(),
        PipelineArguments(),
        TriggerPolicy(),
        MonitoringPolicy().policy(),
        DbtBuildConfig(),
    ]
    assert {d.label_horizon_days for d in defaults} == {LABEL_HORIZON_DAYS}
    settings = Settings.from_env()
    assert dbt_var_overrides(DbtBuildConfig(label_horizon_days=60), settings)["label_horizon_days"] == 60
    assert "label_horizon_days" not in dbt_var_overrides(DbtBuildConfig(), settings)


def test_the_monitoring_policy_resource_offers_every_trigger_policy_field():
    import dataclasses

    from lakehouse_ml.monitoring.policy import TriggerPolicy
    from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy

    assert set(MonitoringPolicy.model_fields) == {f.name for f in dataclasses.fields(TriggerPolicy)}
    configured = MonitoringPolicy(sample_size=7, construct_drift_features=["tenure_days"]).policy()
    expected = dataclasses.replace(TriggerPolicy(), sample_size=7, construct_drift_features=("tenure_days",))
    assert configured == expected


def test_launchpad_config_fields_are_described_and_feature_source_is_a_choice():
    import dagster as dg

    from lakehouse_ml.assets.gold import DbtBuildConfig
    from lakehouse_ml.assets.registry import ChampionGateConfig
    from lakehouse_ml.assets.training import ChurnTrainingConfig

    for config in (ChurnTrainingConfig, DbtBuildConfig, ChampionGateConfig):
        undocumented = [name for name, field in config.model_fields.items() if not field.description]
        assert undocumented == [], f"{config.__name__} fields without a description: {undocumented}"

    from lakehouse_ml.assets.training import churn_model
    from lakehouse_ml.resources.training_pipeline import local_training_runner

    runner = local_training_runner(Settings.from_env())
    with pytest.raises(dg.DagsterInvalidConfigError, match="feature_source"):
        dg.materialize(
            [churn_model],
            resources={"training_pipeline": runner},
            run_config={"ops": {"churn_model": {"config": {"feature_source": "parquet"}}}},
        )
