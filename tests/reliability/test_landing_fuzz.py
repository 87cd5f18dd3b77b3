"""Landing-zone fuzz: hypothesis writes customers (CSV in several encodings) and orders (Parquet with other
physical types); each landing zone is either ingested with the contract's types or refused with an error
naming the dataset (and, for contract violations, the column and the rule). Never another exception."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.ingest import (
    CONTRACT,
    DATASETS,
    ContractViolationError,
    LandingZoneError,
    read_dataset,
    validate_landing_zone,
)

EXAMPLES = 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
CUSTOMER_COLUMNS = [c.name for c in CONTRACT["customers"]]
ORDER_COLUMNS = [c.name for c in CONTRACT["orders"]]
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]
TIMESTAMPS = [
    "2024-01-02T09:00:00Z",
    "2024-01-21T01:30:00+02:00",
    "1901-06-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "2262-04-12T00:00:00Z",
    "31/12/2024 25:00",
    "",
    "NaN",
    "0",
]
IDS = st.sampled_from(["A", "B", "C", "Ä", "0007", " ", "NaN", "null", "", "x" * 300])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)


@st.composite
def customers_csv(draw) -> list[tuple[str, bytes]]:
    """One to three CSV files: header variants, encodings (mixed between files), odd values, empty files."""
    files = []
    for index in range(draw(st.integers(1, 3))):
        header = draw(
            st.sampled_from(
                [
                    CUSTOMER_COLUMNS,
                    CUSTOMER_COLUMNS[:2],
                    ["customer_id", "customer_id", "signup_ts"],
                    ["signup_ts", "customer_id", "extra"],
                    ["customer_id"],
                    ["CUSTOMER_ID", "signup_ts"],
                    ["", "signup_ts"],
                ]
            )
        )
        rows = draw(
            st.lists(
                st.lists(
                    IDS | st.sampled_from(TIMESTAMPS) | TEXT, min_size=len(header), max_size=len(header)
                ),
                max_size=5,
            )
        )
        out = io.StringIO()
        writer = csv.writer(out)
        if draw(st.booleans()) or rows:
            writer.writerow(header)
        writer.writerows(rows)
        text = out.getvalue() if draw(st.integers(0, 9)) else ""  # an empty file now and then
        encoding = draw(st.sampled_from(ENCODINGS))
        files.append((f"part-{index}.csv", text.encode(encoding, errors="replace")))
    return files


AMOUNTS = st.sampled_from([0.0, -20.0, 1e308, -1e308, math.inf, -math.inf, math.nan, 1e-300, 12.5])
ORDER_TYPES = {
    "order_id": [pa.string(), pa.int32(), pa.binary(), pa.float64(), pa.bool_()],
    "customer_id": [
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.large_string(),
        pa.dictionary(pa.int8(), pa.string()),
    ],
    "order_ts": [
        pa.timestamp("s"),
        pa.timestamp("ms", tz="UTC"),
        pa.timestamp("ns", tz="Europe/Berlin"),
        pa.date32(),
        pa.string(),
        pa.int64(),
    ],
    "amount": [pa.float64(), pa.float32(), pa.decimal128(38, 4), pa.int16(), pa.string(), pa.bool_()],
    "items": [pa.int64(), pa.int8(), pa.float64(), pa.string(), pa.uint64()],
}
DATES = [
    datetime(2024, 1, 3, 10, tzinfo=UTC),
    datetime(1901, 1, 1, tzinfo=UTC),
    datetime(2200, 1, 1, tzinfo=UTC),
]


def _column(name: str, arrow_type: pa.DataType, values: list) -> pa.Array:
    """Best effort: the fuzzed values cast to ``arrow_type``; a value that does not fit becomes null."""
    out = []
    for value in values:
        try:
            out.append(pa.scalar(value).cast(arrow_type).as_py() if value is not None else None)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            out.append(None)
    if pa.types.is_dictionary(arrow_type):
        return pa.array(out, pa.string()).dictionary_encode()
    if pa.types.is_decimal(arrow_type):
        return pa.array([None if v is None else Decimal(str(v)) for v in out], arrow_type)
    return pa.array(out, arrow_type)


@st.composite
def orders_parquet(draw) -> list[tuple[str, bytes]]:
    n = draw(st.integers(0, 5))
    columns = draw(
        st.sampled_from([ORDER_COLUMNS, ORDER_COLUMNS[:4], ORDER_COLUMNS[1:], ORDER_COLUMNS[::-1]])
    )
    values = {
        "order_id": draw(st.lists(st.sampled_from(["o1", "o2", "o3", None, "7"]), min_size=n, max_size=n)),
        "customer_id": draw(st.lists(IDS | st.just(math.nan) | st.none(), min_size=n, max_size=n)),
        "order_ts": draw(st.lists(st.sampled_from(DATES) | st.none(), min_size=n, max_size=n)),
        "amount": draw(st.lists(AMOUNTS | st.none(), min_size=n, max_size=n)),
        "items": draw(st.lists(st.sampled_from([1, -3, 2**40, None]), min_size=n, max_size=n)),
    }
    table = pa.table(
        {name: _column(name, draw(st.sampled_from(ORDER_TYPES[name])), values[name]) for name in columns}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return [("orders.parquet", sink.getvalue())]


def _write(raw: Path, dataset: str, files: list[tuple[str, bytes]]) -> None:
    (raw / dataset).mkdir(parents=True)
    for name, data in files:
        (raw / dataset / name).write_bytes(data)


def ingest(raw: Path) -> dict[str, pa.Table]:
    """What the raw asset does before it loads anything: read both datasets, validate the contract."""
    tables = {dataset: read_dataset(str(raw), dataset)[0] for dataset in DATASETS}
    return validate_landing_zone(tables["customers"], tables["orders"])


def _assert_clear_refusal(error: Exception) -> None:
    message = str(error)
    assert "Traceback" not in message
    if isinstance(error, ContractViolationError):
        assert error.violations
        for violation in error.violations:
            assert violation.dataset in DATASETS
            assert violation.column in {c.name for c in CONTRACT[violation.dataset]}
            assert (
                violation.rule
                and f"{violation.dataset}.{violation.column}: rule '{violation.rule}'" in message
            )
    else:
        assert any(f"'{dataset}'" in message for dataset in DATASETS), message


@FUZZ
@given(customers=customers_csv(), orders=orders_parquet())
def test_fuzzed_landing_zones_are_ingested_or_refused_clearly(customers, orders):
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder)
        _write(raw, "customers", customers)
        _write(raw, "orders", orders)
        try:
            typed = ingest(raw)
        except (ContractViolationError, LandingZoneError) as error:
            _assert_clear_refusal(error)
            return
    for dataset in DATASETS:
        assert typed[dataset].column_names == [c.name for c in CONTRACT[dataset]]
    amounts = typed["orders"].column("amount").to_pylist()
    assert all(math.isfinite(a) for a in amounts)
    ids = typed["customers"].column("customer_id").to_pylist()
    assert len(ids) == len(set(ids)) and None not in ids


@pytest.mark.parametrize(
    ("customers", "words"),
    [
        (b"customer_id,customer_id,signup_ts\nA,B,2024-01-01\n", "customer_id"),
        (b"\xef\xbb\xbfcustomer_id,signup_ts\nA,2024-01-01\n", None),
        ("customer_id,signup_ts\nÄ,2024-01-01\n".encode("utf-16"), "customers"),
        (b"", "customers"),
        (b"customer_id,signup_ts\nA,9999-12-31T23:59:59Z\nB,1900-01-01\n", None),
    ],
)
def test_named_landing_cases(tmp_path, customers, words):
    _write(tmp_path, "customers", [("part.csv", customers)])
    orders = pa.table({c: pa.array([], pa.string()) for c in ORDER_COLUMNS})
    sink = io.BytesIO()
    pq.write_table(orders, sink)
    _write(tmp_path, "orders", [("o.parquet", sink.getvalue())])
    if words is None:
        assert ingest(tmp_path)["customers"].num_rows >= 1
        return
    with pytest.raises((ContractViolationError, LandingZoneError)) as refused:
        ingest(tmp_path)
    _assert_clear_refusal(refused.value)
    assert words in str(refused.value)
