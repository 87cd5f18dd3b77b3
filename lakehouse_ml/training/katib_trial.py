"""One Katib trial (lakehouse_ml.training.katib): score one candidate and print ``roc_auc=<value>``.

Reads the training set the KFP pipeline built (any fsspec URI, e.g. its ``s3://`` artifact), fits the
candidate on the earlier training days and scores the latest ones, as one step of ``models.tune``.
"""

from __future__ import annotations

import argparse
import json
import sys

from lakehouse_ml.training.katib import OBJECTIVE, parse_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True)
    parser.add_argument("--train-set", required=True)
    parser.add_argument("--categorical", required=True, help="JSON list of categorical feature names")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE, one per hyperparameter")
    args = parser.parse_args(argv)

    import pandas as pd

    from lakehouse_ml.training.dataset import LABEL
    from lakehouse_ml.training.models import holdout_score

    params = parse_params(args.family, dict(item.split("=", 1) for item in args.param))
    options = {"client_kwargs": {"endpoint_url": args.s3_endpoint}} if args.s3_endpoint else None
    train = pd.read_parquet(args.train_set, storage_options=options)
    names = [c for c in train.columns if c not in ("customer_id", "event_timestamp", LABEL)]
    score = holdout_score(args.family, params, train, names, json.loads(args.categorical), args.seed)
    print(f"{OBJECTIVE}={score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
