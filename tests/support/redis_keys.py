"""Clean-up of the Feast keys a test wrote to the shared Redis."""

from __future__ import annotations


def delete_project_keys(redis_url: str, project: str) -> None:
    """Delete every key of Feast project ``project`` (Feast's Redis keys end with the project name)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=b"*" + project.encode()))
    if keys:
        client.delete(*keys)
    client.close()
