"""Kubernetes object names shared by training (KFP, Katib pods), serving (KServe pods) and the Dagster run
pods; ``deploy/`` creates the objects under these names."""

FEATURE_STORE_ENV = ("LAKEHOUSE_REDIS_URL", "LAKEHOUSE_FEAST_REGISTRY_URL")
SPOOL_MOUNT = "/var/spool/lakehouse-ml"
SPOOL_CLAIM = "lakehouse-ml-prediction-spool"  # the claim deploy/helm/values.yaml mounts in run pods
# deploy/k8s/secrets.yaml: the run pods (deploy/helm/values.yaml) read the same secret.
SECRET_NAME = "lakehouse-ml-secrets"
CONFIG_MAP_NAME = "lakehouse-ml-config"  # deploy/k8s/configmap.yaml: plain settings for runs and KFP pods
