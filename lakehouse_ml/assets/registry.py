"""Registry: each trained churn model as a DVC-tracked, git-tagged version, gated for deployment."""

import dagster as dg

from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.storage import local_folder

GROUP = "registry"


@dg.asset(group_name=GROUP, kinds={"dvc", "git"})
def model_version(churn_model: dict, model_registry: ModelRegistryResource) -> dg.Output[str]:
    """The churn model's version in the git + DVC registry (``churn-model@vN``).

    Adds the model folder and its exact training set with DVC, pushes them to the DVC remote, and
    commits metrics, params and lineage (code revision, feature service, training-set hash, KFP run,
    gold row counts and time range) so any version can be restored and audited. Serving deploys from
    here; the blocking check ``model_beats_champion`` stands between this and deployment.
    """
    registry = model_registry.open()
    with local_folder(churn_model["model_dir"]) as model_dir:  # an s3:// URI in prod
        version = registry.register(model_dir, churn_model["lineage"])
    metrics = registry.metrics(version)
    lineage = registry.lineage(version)
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
            "kfp_run_id": lineage["kfp_run_id"],
        },
    )


class ChampionGateConfig(dg.Config):
    min_roc_auc: float = 0.65
    tolerance: float = 0.02


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
