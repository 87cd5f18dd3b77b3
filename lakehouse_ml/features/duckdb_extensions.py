"""DuckDB extensions the prod Feast offline store needs, installed into the image at build time.

The offline store reads the gold Parquet from ``s3://`` (``httpfs``; ``aws`` adds the AWS credential
chain, e.g. pod identities). DuckDB downloads an extension on first use, which pods without internet
access cannot do: ``deploy/Dockerfile`` runs ``python -m lakehouse_ml.features.duckdb_extensions``.
"""

from __future__ import annotations

EXTENSIONS = ("httpfs", "aws")


def install(extensions: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """Install and load each extension; returns the names DuckDB reports as installed."""
    import duckdb

    with duckdb.connect() as con:
        for name in extensions:
            con.install_extension(name)
            con.load_extension(name)
        rows = con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE installed AND loaded ORDER BY 1"
        ).fetchall()
    installed = [name for (name,) in rows]
    missing = sorted(set(extensions) - set(installed))
    if missing:
        raise RuntimeError(f"DuckDB extensions not installed: {missing}")
    return installed


if __name__ == "__main__":
    print("installed DuckDB extensions:", ", ".join(install()))
