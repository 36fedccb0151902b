"""Both object stores: exactly one of several conditional writers wins; failures are ours."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from changelake.archiver.object_store import LocalStore, S3Store
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import (
    ArchiveAccessError,
    ArchiveLocationError,
    PreconditionFailedError,
)
from tests.helpers import race

if TYPE_CHECKING:
    from pathlib import Path


def test_put_if_absent_creates_once(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    etag = store.put_if_absent("_checkpoints/a.json", b"first")
    with pytest.raises(PreconditionFailedError, match="another writer"):
        store.put_if_absent("_checkpoints/a.json", b"second")
    assert store.get_with_etag("_checkpoints/a.json") == (b"first", etag)


def test_put_if_match_replaces_only_the_version_read(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    store.put_if_absent("lock", b"v1")
    data, etag = store.get_with_etag("lock")
    assert data == b"v1"
    new_etag = store.put_if_match("lock", b"v2", etag)
    assert new_etag != etag
    with pytest.raises(PreconditionFailedError, match="changed"):
        store.put_if_match("lock", b"v3", etag)
    assert store.get_with_etag("lock") == (b"v2", new_etag)
    assert list(store.list_keys("")) == ["lock"]


def test_put_if_match_on_a_missing_object_fails(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    store.put_if_absent("gone", b"v1")
    _, etag = store.get_with_etag("gone")
    store.delete("gone")
    with pytest.raises(PreconditionFailedError):
        store.put_if_match("gone", b"v2", etag)
    with pytest.raises(FileNotFoundError):
        store.get_with_etag("gone")


@pytest.mark.parametrize("mode", ["absent", "match"])
def test_one_of_many_concurrent_writers_wins(archive_uri: str, mode: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    etag = store.put_if_absent("shared", b"start") if mode == "match" else ""

    def write(data: bytes) -> None:
        if mode == "absent":
            store.put_if_absent("shared", data)
        else:
            store.put_if_match("shared", data, etag)

    writers = [f"writer-{n}".encode() for n in range(8)]
    winners, losers = race(write, writers, PreconditionFailedError)
    assert len(winners) == 1
    assert len(losers) == 7
    assert store.get_bytes("shared") == winners[0]


def test_a_local_read_that_fails_names_the_path_and_the_remedy(tmp_path: Path) -> None:
    store = LocalStore(parse_archive_uri(str(tmp_path)))
    (tmp_path / "table=posts").mkdir()
    with pytest.raises(ArchiveAccessError, match=r"cannot read .*table=posts: .*--archive"):
        store.get_bytes("table=posts")  # a folder where a file belongs
    with pytest.raises(FileNotFoundError):
        store.get_bytes("missing.json")  # missing stays FileNotFoundError, as on S3


def test_an_s3_store_refuses_a_local_location(tmp_path: Path) -> None:
    with pytest.raises(ArchiveLocationError, match=r"is not an S3 archive; give s3://"):
        S3Store(parse_archive_uri(str(tmp_path)), client=None)
