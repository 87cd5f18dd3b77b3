"""Planted secrets never reach the UI: the webserver's GraphQL answers (what the Dagster UI renders) for
the code location's resources, asset definitions, the instance, runs that failed on every service, their
run config and their events show none of them.

The code location is the project's own ``lakehouse_ml.definitions`` in the prod profile, loaded the way
``dagster-webserver`` loads it (a code server process started from a workspace), on a PostgreSQL
instance whose password comes from a planted environment variable.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import dagster as dg
import pytest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from tests.support.planted_secrets import PLANTED, SECRETS, SETTINGS

# the registry's git remote, required by the prod graph, with a token in its URL
GIT_URL = {"LAKEHOUSE_REGISTRY_GIT_URL": "https://svc:planted-git-Zq87@127.0.0.1:9/registry.git"}
MARKERS = [*PLANTED, "Zq87"]
DECOY = "decoy-Zq99"

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# each a run of the real graph that fails on a planted service: S3 (landing zone), Trino (dbt), the Feast
# registry on PostgreSQL, Polaris (prediction log)
FAILING_SELECTIONS = [
    ["raw_customers", "raw_orders"],
    ["fct_customer_features"],
    ["feast_definitions"],
    ["churn_predictions"],
]

RESOURCES = """
query ($repo: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {
    __typename
    ... on ResourceDetailsList {
      results {
        name description resourceType
        configFields { name description defaultValueAsJson }
        configuredValues { key value type }
        nestedResources { name type resource { name configuredValues { key value type } } }
      }
    }
  }
}
"""

ASSETS_AND_INSTANCE = """
query {
  instance { info runLauncher { name } }
  assetNodes {
    assetKey { path }
    description
    metadataEntries { ...entry }
    assetMaterializations { runId metadataEntries { ...entry } }
  }
}
fragment entry on MetadataEntry {
  label description __typename
  ... on TextMetadataEntry { text }
  ... on JsonMetadataEntry { jsonString }
  ... on UrlMetadataEntry { url }
  ... on PathMetadataEntry { path }
  ... on MarkdownMetadataEntry { mdStr }
}
"""

RUNS = """
query {
  runsOrError {
    ... on Runs {
      results {
        runId status runConfigYaml
        tags { key value }
        stepKeysToExecute
      }
    }
  }
}
"""

ERROR = "message stack className cause { message stack } causes { message stack }"
EVENTS = f"""
query ($runId: ID!) {{
  logsForRun(runId: $runId, limit: 10000) {{
    __typename
    ... on EventConnection {{
      events {{
        __typename
        ... on MessageEvent {{ message stepKey }}
        ... on ExecutionStepFailureEvent {{
          error {{ {ERROR} }}
          failureMetadata {{ metadataEntries {{ label }} }}
        }}
        ... on RunFailureEvent {{ pipelineFailureError: error {{ {ERROR} }} }}
        ... on EngineEvent {{ engineError: error {{ {ERROR} }} metadataEntries {{ label __typename }} }}
        ... on HookErroredEvent {{ hookError: error {{ {ERROR} }} }}
        ... on ResourceInitFailureEvent {{ resourceError: error {{ {ERROR} }} }}
      }}
    }}
  }}
}}
"""


def _leaks(answer) -> list[str]:
    text = json.dumps(answer)
    return [marker for marker in MARKERS if marker in text]


@pytest.fixture
def planted_instance(postgres_url, monkeypatch, lakehouse_home, tmp_path):
    for name, value in {**SETTINGS, **SECRETS, **GIT_URL}.items():
        monkeypatch.setenv(name, value)
    url = urlparse(postgres_url)
    # the local server trusts 127.0.0.1, so the planted password is sent nowhere but stays in the config
    storage = {
        "postgres": {
            "postgres_db": {
                "username": url.username or "postgres",
                "password": {"env": "LAKEHOUSE_DAGSTER_PG_PASSWORD"},
                "hostname": url.hostname,
                "port": url.port or 5432,
                "db_name": url.path.lstrip("/"),
            }
        }
    }
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(overrides={"storage": storage}, temp_dir=str(tmp_path / "dagster")) as instance:
        yield instance


def _fail_runs(instance: dg.DagsterInstance) -> list[str]:
    from lakehouse_ml.definitions import ASSET_MODULES
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources import build_resources

    assets = dg.load_assets_from_modules(ASSET_MODULES)
    resources = build_resources(Settings.from_env())
    run_ids = []
    for selection in FAILING_SELECTIONS:
        result = dg.materialize(
            assets,
            selection=selection,
            resources=resources,
            instance=instance,
            raise_on_error=False,
            tags={"decoy": DECOY},  # a value that must show up: the answers do carry run data
        )
        assert not result.success, selection
        run_ids.append(result.run_id)
    return run_ids


def test_graphql_answers_show_no_planted_secret(planted_instance, tmp_path):
    run_ids = _fail_runs(planted_instance)
    location = tmp_path / "location.py"
    location.write_text("from lakehouse_ml.definitions import defs\n")
    with define_out_of_process_context(str(location), "defs", planted_instance) as context:
        (code_location,) = context.code_locations
        (repository,) = code_location.get_repositories().values()
        selector = {"repositoryLocationName": code_location.name, "repositoryName": repository.name}

        resources = execute_dagster_graphql(context, RESOURCES, {"repo": selector}).data
        listed = resources["allTopLevelResourceDetailsOrError"]["results"]
        values = [value for resource in listed for value in resource["configuredValues"]]
        env_backed = {value["key"] for value in values if value["type"] == "ENV_VAR"}
        assert {"registry_url", "redis_url", "password"} <= env_backed  # shown by variable name only
        assets_and_instance = execute_dagster_graphql(context, ASSETS_AND_INSTANCE).data
        assert assets_and_instance["instance"]["info"] and assets_and_instance["assetNodes"]
        runs = execute_dagster_graphql(context, RUNS).data
        listed_runs = {run["runId"] for run in runs["runsOrError"]["results"]}
        assert set(run_ids) <= listed_runs
        events = {
            run_id: execute_dagster_graphql(context, EVENTS, {"runId": run_id}).data for run_id in run_ids
        }

    failures = [
        event
        for answer in events.values()
        for event in answer["logsForRun"]["events"]
        if event["__typename"] == "ExecutionStepFailureEvent"
    ]
    assert len(failures) >= len(run_ids)  # every run failed in a step, with its error in the answer
    assert all(failure["error"]["message"] for failure in failures)
    assert DECOY in json.dumps(runs)
    assert _leaks(resources) == []
    assert _leaks(assets_and_instance) == []
    assert _leaks(runs) == []
    assert {run_id: _leaks(answer) for run_id, answer in events.items()} == dict.fromkeys(run_ids, [])
