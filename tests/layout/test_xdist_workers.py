"""Parallel workers (pytest-xdist, python3 tasks.py test) get service namespaces of their own."""

from __future__ import annotations

import pytest

from tests.conftest import worker_redis_url


@pytest.mark.parametrize("base", range(16))
def test_four_workers_get_four_valid_redis_databases_from_any_base(base):
    urls = [worker_redis_url(f"redis://127.0.0.1:6379/{base}", worker) for worker in range(4)]
    databases = [int(url.rsplit("/", 1)[1]) for url in urls]
    assert databases[0] == base  # without xdist (worker 0) the configured database itself
    assert len(set(databases)) == 4 and all(0 <= db < 16 for db in databases), databases


def test_a_redis_url_without_a_database_number_is_refused():
    with pytest.raises(ValueError, match="must end in a database number"):
        worker_redis_url("redis://127.0.0.1:6379", 1)
