"""Registry: each trained churn model as a DVC-tracked, git-tagged version, gated for deployment."""

import dagster as dg
from pydantic import Field

from lakehouse_ml.model_artifact import TRAINING_SET_FILE
from lakehouse_ml.orchestration.pools import REGISTRY_POOL
from lakehouse_ml.platform.storage import local_folder
from lakehouse_ml.resources.registry import ModelRegistryResource

GROUP = "registry"


@dg.asset(group_name=GROUP, kinds={"dvc", "git"}, pool=REGISTRY_POOL)
def model_version(churn_model: dict, model_registry: ModelRegistryResource) -> dg.Output[str]:
    """The churn model's version in the git + DVC registry (``churn-model@vN``).

    Compiles the model to ONNX and refuses it unless the compiled model scores the whole evaluation
    set like scikit-learn (within 1e-6, identical labels). Adds the model folder, its ONNX form and its
    exact training set with DVC, pushes them to the DVC remote, and
    commits metrics, params and lineage (code revision, feature service, KFP run, sha256 of every
    registered file incl. the training and evaluation sets, gold row counts, time range and file hashes)
    so any version can be restored, audited and rebuilt (``lakehouse-ml reproduce vN``). Serving deploys from
    here; the blocking check ``model_beats_champion`` stands between this and deployment.
    """
    registry = model_registry.open()
    with local_folder(churn_model["model_dir"]) as model_dir:  # an s3:// URI in prod
        version = registry.register(model_dir, churn_model["lineage"])
    metrics = registry.metrics(version)
    lineage = registry.lineage(version)
    serving = lineage["serving"]
    parity = serving.get("parity", {})
    return dg.Output(
        version,
        metadata={
            "version": version,
            "git_tag": f"churn-model@{version}",
            "roc_auc": float(metrics["roc_auc"]),
            "production_version": registry.production_version() or "none",
            "registry": dg.MetadataValue.path(str(registry.root)),
            "dvc_remote": model_registry.remote_url,
            "training_set_md5": lineage["training_set_md5"],
            "training_set_sha256": lineage["artifact_sha256"][TRAINING_SET_FILE],
            "kfp_run_id": lineage["kfp_run_id"],
            "serving_runtime": serving["runtime"],
            "onnx_parity_max_abs_diff": float(parity.get("max_abs_diff", float("nan"))),
            "onnx_parity_rows": int(parity.get("rows", 0)),
        },
    )


class ChampionGateConfig(dg.Config):
    min_roc_auc: float = Field(0.65, description="ROC AUC floor every candidate must reach")
    tolerance: float = Field(
        0.02, description="how far the candidate's ROC AUC may fall below the champion's on the same window"
    )


@dg.asset_check(
    asset=model_version,
    blocking=True,
    description=(
        "Candidate reaches the ROC AUC floor and is not worse than the production model on the same "
        "evaluation window by more than the tolerance"
    ),
)
def model_beats_champion(
    config: ChampionGateConfig, model_version: str, model_registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    from lakehouse_ml.registry.gate import check_candidate

    registry = model_registry.open()
    champion = registry.production_version()
    if champion == model_version:
        champion = None
    result = check_candidate(
        registry.checkout(model_version),
        registry.checkout(champion) if champion else None,
        config.min_roc_auc,
        config.tolerance,
    )
    registry.record_gate(model_version, result.passed, result.reason)
    return dg.AssetCheckResult(
        passed=result.passed,
        description=result.reason,
        metadata={
            **result.metadata(),
            "candidate": model_version,
            "champion": champion or "none",
            "min_roc_auc": config.min_roc_auc,
            "tolerance": config.tolerance,
        },
    )
