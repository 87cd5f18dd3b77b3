"""``lakehouse-ml serve start|stop|status|promote|rollback``: the local model server process.

Deploying a new version is the ``churn_predictor_deployment`` asset's job; these commands control
what it deployed (``$LAKEHOUSE_HOME/serving/``). Promote and rollback also exist as the Dagster jobs
``promote_canary`` and ``rollback_canary``, which additionally record the stage in the registry.
"""

from __future__ import annotations

import argparse
import json

HELP = "Start, stop or inspect the local churn-predictor model server; promote or roll back its canary."
ACTIONS = ("start", "stop", "status", "promote", "rollback")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument(
        "--port", type=int, help="port on 127.0.0.1 (default: LAKEHOUSE_SERVING_PORT or 8080)"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        help="gRPC V2 port on 127.0.0.1 (default: LAKEHOUSE_SERVING_GRPC_PORT or 8081)",
    )
    parser.add_argument("--feature-repo", help="Feast repo folder (default: the project's feature store)")


def run(args: argparse.Namespace) -> int:
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.serving import rollout
    from lakehouse_ml.serving.process import LocalServer, ServingError

    settings = Settings.from_env()
    server = LocalServer(
        settings.serving_dir,
        args.port or settings.serving_port,
        args.feature_repo,
        args.grpc_port or settings.serving_grpc_port,
    )
    try:
        if args.action == "start":
            pid = server.start()
            print(
                f"churn-predictor serving on {server.endpoint}, gRPC V2 on {server.grpc_target} (pid {pid})"
            )
        elif args.action == "stop":
            print("stopped" if server.stop() else "not running")
        elif args.action == "status":
            status = server.status()
            print(json.dumps(status, indent=2))
            return 0 if status["ready"] else 3
        elif args.action == "promote":
            deployment = rollout.promote(server)
            print(f"promoted {deployment.stable} to 100% of traffic")
        else:
            removed, deployment = rollout.rollback(server)
            print(f"rolled back {removed}; {deployment.stable} serves all traffic")
    except ServingError as err:
        print(f"error: {err}")
        return 1
    return 0
