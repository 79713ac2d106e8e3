"""The embedded Redis of a laptop: one server per data folder, a child of the process that started it."""

from __future__ import annotations

from redis import Redis

from alliance.core.embedded import start_embedded_redis


def test_two_commands_on_one_data_folder_share_one_embedded_redis(tmp_path):
    first = start_embedded_redis(tmp_path)
    try:
        second = start_embedded_redis(tmp_path)
        assert second.url == first.url
        Redis.from_url(second.url).set("queued", "1")
        second.stop()  # not its server: it keeps running for the first
        assert Redis.from_url(first.url).get("queued") == b"1"
    finally:
        first.stop()
    assert first.handle.returncode == 0 and not (tmp_path / "redis.server").exists()
    # Started again (the queue kept in data/redis.rdb): what was queued is still there.
    again = start_embedded_redis(tmp_path)
    try:
        assert Redis.from_url(again.url).get("queued") == b"1"
    finally:
        again.stop()


def test_a_long_data_folder_path_puts_the_socket_in_a_private_folder_removed_at_stop(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    server = start_embedded_redis(deep)
    try:
        assert len(server.url) < 110 and server.private_dir is not None
        assert Redis.from_url(server.url).ping()
    finally:
        server.stop()
    assert not server.private_dir.exists()
