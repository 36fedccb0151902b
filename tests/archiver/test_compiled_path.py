"""The compiled hot path (native/) gives what the Python definition gives, or defers to it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import changelake_native
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changelake.archiver import change_tables
from changelake.archiver.change_tables import iter_row_tables, iter_stream_tables, table_json_bytes
from changelake.archiver.stream_events import event_to_records, load_json
from changelake.archiver.stream_records import RejectedRecord, record_to_row
from changelake.schemas import dynamodb_types
from changelake.schemas.dynamodb_types import image_to_ddb_bytes, image_to_plain_bytes
from changelake.schemas.exceptions import TerminalError
from tests.helpers import (
    EVENTS,
    POSTS_STREAM_ARN,
    kinesis_record_to_pipes,
    make_kinesis_change,
    make_kinesis_record,
    make_record,
)
from tests.schemas.strategies import images, names, number_texts, texts

ARCHIVED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_the_compiled_path_is_installed() -> None:
    # `make install` builds it; without it everything still works, only slower.
    assert change_tables._native_stream_columns is not None
    assert dynamodb_types._encode_native is not None


def python_pair(image: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The Python codec's answer, or None where it rejects the image."""
    try:
        return image_to_plain_bytes(image), image_to_ddb_bytes(image)
    except TerminalError:
        return None


@given(st.one_of(images(), images(binary_as_bytes=True)))
def test_valid_images_encode_exactly_as_the_python_codec(image: dict[str, Any]) -> None:
    assert changelake_native.encode_image(image) == python_pair(image)


# Near-misses of typed values: wrong tags, wrong inner types, loose numbers, odd base64.
_odd_scalars = st.one_of(
    texts,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=6),
    st.sampled_from(["01", "+1", ".5", "1.", "1e", "NaN", "QR==", "QQ", "QQ==QQ==", "", " 1"]),
)
_tags = st.sampled_from(["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "X", "s"])
_odd_values = st.recursive(
    st.builds(lambda tag, inner: {tag: inner}, _tags, _odd_scalars),
    lambda children: st.one_of(
        st.builds(lambda tag, inner: {tag: inner}, _tags, st.lists(children | _odd_scalars)),
        st.builds(
            lambda tag, inner: {tag: inner}, _tags, st.dictionaries(names, children, max_size=3)
        ),
        st.dictionaries(_tags, children, min_size=2, max_size=3),
        _odd_scalars,
    ),
    max_leaves=8,
)


@given(st.dictionaries(names, _odd_values, max_size=4))
def test_odd_images_are_left_to_the_python_codec_or_match_it(image: dict[str, Any]) -> None:
    compiled = changelake_native.encode_image(image)
    if compiled is not None:
        assert compiled == python_pair(image)


def test_escapes_sets_and_numbers_match_the_python_codec() -> None:
    image = {
        "text": {"S": 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f é 🔍 \u2028'},
        "numbers": {"NS": ["10", "-2", "1.0", "1", "0.5", "-0", "0", "1e1", "-1.5E-10"]},
        "strings": {"SS": ["b", "a", "é", "Z", ""]},
        "binaries": {"BS": ["Qg==", "QQ==", "AA==", ""]},
        "nested": {"L": [{"M": {"deep": {"L": [{"NULL": True}, {"BOOL": False}]}}}]},
    }
    assert changelake_native.encode_image(image) == python_pair(image)


def python_tables(
    records: list[Any], table_name: str | None = None
) -> tuple[pa.Table | None, list[tuple[Any, str]]]:
    """The pure-Python path: every record through record_to_row."""
    to_row = partial(
        record_to_row, archived_at=ARCHIVED_AT, table_name=table_name, shard_id="shardId-1"
    )
    return _collect(iter_row_tables(records, to_row, max_bytes=2**27))


def compiled_tables(
    records: list[Any], table_name: str | None = None, max_bytes: int = 2**27
) -> tuple[pa.Table | None, list[tuple[Any, str]]]:
    """The archiver's path: the compiled converter, deferring to record_to_row."""
    converted = iter_stream_tables(
        records,
        archived_at=ARCHIVED_AT,
        table_name=table_name,
        shard_id="shardId-1",
        max_bytes=max_bytes,
    )
    return _collect(converted)


def _collect(
    converted: Any,
) -> tuple[pa.Table | None, list[tuple[Any, str]]]:
    tables, rejected = [], []
    for item in converted:
        if isinstance(item, RejectedRecord):
            rejected.append((item.record, str(item.error)))
        else:
            tables.append(item)
    return (pa.concat_tables(tables) if tables else None), rejected


def assert_same(records: list[Any], table_name: str | None = None) -> None:
    compiled, compiled_rejected = compiled_tables(records, table_name)
    python, python_rejected = python_tables(records, table_name)
    assert compiled_rejected == python_rejected
    if python is None:
        assert compiled is None
    else:
        assert compiled is not None
        assert compiled.equals(python), (compiled.to_pylist(), python.to_pylist())


PUBLISHED_SAMPLES = sorted(
    path.name for path in EVENTS.glob("*.json") if not path.name.startswith(("info-", "getrecords"))
)


@pytest.mark.parametrize("name", PUBLISHED_SAMPLES)
def test_the_sample_events_convert_exactly_as_in_python(name: str) -> None:
    records = event_to_records(load_json((EVENTS / name).read_bytes()))
    assert_same(records)
    assert_same(records, "named")


def test_kinesis_and_pipes_records_are_left_to_python_and_convert_alike() -> None:
    changes = [
        make_kinesis_change("a", at=1_764_288_000_123),
        make_kinesis_change("b", at=1_764_288_000_123_456, event_name="REMOVE"),
    ]
    records: list[Any] = [
        make_kinesis_record(change, sequence=n) for n, change in enumerate(changes)
    ]
    records += [kinesis_record_to_pipes(record) for record in records]
    records.insert(2, make_record(5))  # a DynamoDB Streams record between them
    assert changelake_native.stream_records_to_columns(records, 0, None, 2**27)[0] == 0
    assert_same(records)
    compiled, _ = compiled_tables(records)
    assert compiled is not None and compiled.num_rows == 5


def test_objects_that_repeat_a_key_are_left_to_python_and_rejected_alike() -> None:
    record = make_record(1)
    text = json.dumps(record).replace(
        '"Keys": {"id": {"S": "post#1"}}', '"Keys": {"id": {"S": "a", "S": "b"}}'
    )
    assert text != json.dumps(record)
    repeated_record = '{"eventID": "x", "eventID": "y"}'
    records = event_to_records(load_json(f'{{"Records": [{text}, {repeated_record}]}}'))
    compiled, rejected = compiled_tables(records)
    assert compiled is None and len(rejected) == 2
    assert_same(records)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:dynamodb:us-east-1:111122223333:table/EventSourceTable",
        "arn:aws:dynamodb:us-east-1:1:table/a:table/posts",
        "arn:aws:dynamodb:us-east-1:1:table/posts/",
        "arn:aws:dynamodb:us-east-1:1:table/posts\n",
        "arn:aws:dynamodb:us-east-1:1:table/",
    ],
)
def test_table_arns_name_the_table_as_in_python(arn: str) -> None:
    assert_same([make_record(1, arn=arn)])


@pytest.mark.parametrize(
    "created",
    [
        99_999_999_999,
        100_000_000_000,
        1_480_642_020_000,
        99_999_999_999_999,
        100_000_000_000_000,
        1_731_924_555_370_123,
        99_999_999_999_999_999,
        100_000_000_000_000_000,
        1_480_642_020_000.5,
        1_480_642_020_000.0005,
        1_731_924_555_370_123.5,
        1e17,
    ],
)
def test_millisecond_and_microsecond_times_convert_as_in_python(created: float) -> None:
    record = make_record(1)
    record["dynamodb"]["ApproximateCreationDateTime"] = created
    assert_same([record])


_key_values = st.one_of(
    texts.map(lambda s: {"S": s}),
    number_texts().map(lambda n: {"N": n}),
    st.binary(max_size=8).map(lambda b: {"B": base64.b64encode(b).decode()}),
    st.binary(max_size=8).map(lambda b: {"B": b}),
)
# Metadata text, now and then with a lone surrogate (UTF-8, and so Arrow, cannot hold it).
_metadata_texts = st.one_of(
    texts, st.text(alphabet=st.sampled_from(["a", "é", "🔍", "\ud800", "\udfff"]), max_size=6)
)
_optional_text = st.one_of(st.none(), _metadata_texts, st.integers())


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, sometimes an odd one."""
    return st.sampled_from(range(10)).flatmap(lambda n: odd if n == 9 else valid)


@st.composite
def stream_records(draw: st.DrawFn) -> dict[str, Any]:
    """Lambda-shaped records, mostly valid, with every optional field present or not."""
    keys = draw(st.dictionaries(names, _key_values, min_size=1, max_size=2))
    block: dict[str, Any] = {
        "Keys": draw(mostly(st.just(keys), st.one_of(st.just({}), _odd_values))),
        "SequenceNumber": draw(
            mostly(
                st.integers(min_value=0, max_value=10**40 - 1).map(str),
                st.sampled_from(["", "12a", "1" * 41, "٣"]),
            )
        ),
        "ApproximateCreationDateTime": draw(
            mostly(
                st.one_of(
                    st.integers(min_value=0, max_value=10**17 - 1),
                    st.floats(min_value=0, max_value=1e17),
                    st.integers(min_value=0, max_value=2 * 10**9),
                ),
                st.one_of(
                    st.integers(min_value=-5, max_value=-1),
                    st.just(10**17),
                    st.floats(min_value=-1, max_value=1e18),
                    st.just(True),
                ),
            )
        ),
    }
    for name, value in (
        ("NewImage", mostly(images(), st.one_of(st.none(), st.just("oops")))),
        ("OldImage", mostly(images(binary_as_bytes=True), st.none())),
        (
            "SizeBytes",
            mostly(st.integers(min_value=0, max_value=2**63 - 1), st.integers(max_value=-1)),
        ),
        ("StreamViewType", mostly(texts, _optional_text)),
    ):
        if draw(st.booleans()):
            block[name] = draw(value)
    record: dict[str, Any] = {
        "eventID": draw(mostly(st.text(min_size=1, max_size=8), st.sampled_from(["", "\ud800"]))),
        "eventName": draw(
            mostly(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.sampled_from(["x", None]))
        ),
        "eventSourceARN": draw(
            mostly(
                st.sampled_from(
                    [
                        POSTS_STREAM_ARN,
                        POSTS_STREAM_ARN.replace("table/posts", "table/other_table"),
                        POSTS_STREAM_ARN.partition("/stream/")[0],
                    ]
                ),
                st.sampled_from(
                    [
                        POSTS_STREAM_ARN.replace("table/posts", "table/x"),
                        "arn:aws:dynamodb:us-east-1:1:table/a:table/posts/stream/x",
                        POSTS_STREAM_ARN + "\ud800",
                        None,
                    ]
                ),
            )
        ),
        "dynamodb": draw(mostly(st.just(block), st.just(None))),
    }
    if draw(st.booleans()):
        record["awsRegion"] = draw(mostly(texts, _optional_text))
    if draw(st.booleans()):
        identity = st.fixed_dictionaries(
            {}, optional={"type": _optional_text, "principalId": _optional_text}
        )
        record["userIdentity"] = draw(mostly(identity, st.just("Service")))
    return record


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stream_records(), max_size=6), st.sampled_from([None, "named"]))
def test_records_convert_exactly_as_in_python(
    records: list[dict[str, Any]], table_name: str | None
) -> None:
    assert_same(records, table_name)


def test_tables_are_cut_at_the_json_budget_and_stay_in_order() -> None:
    records = [make_record(n, key=f"post#{n}", body="x" * 500) for n in range(1, 41)]
    records.insert(7, {"eventID": "bad", "eventName": "MODIFY"})  # rejected in its place
    records[20]["dynamodb"]["ApproximateCreationDateTime"] = datetime(2026, 11, 28, tzinfo=UTC)
    converted = list(
        iter_stream_tables(
            records, archived_at=ARCHIVED_AT, table_name=None, shard_id=None, max_bytes=5_000
        )
    )
    tables = [item for item in converted if isinstance(item, pa.Table)]
    assert all(table_json_bytes(t) < 5_000 + 2_000 for t in tables)
    assert len(tables) > 5
    event_ids = [e for t in tables for e in t["event_id"].to_pylist()]
    assert event_ids == [f"event-{n}" for n in range(1, 41)]  # the datetime one via Python
    assert [item.event_id for item in converted if isinstance(item, RejectedRecord)] == ["bad"]


@pytest.mark.parametrize("created", [1_764_288_000.5, 1_764_288_000.0000005, 0.0000015, 7.9999995])
def test_float_creation_times_round_as_datetime_does(created: float) -> None:
    record = make_record(1)
    record["dynamodb"]["ApproximateCreationDateTime"] = created
    assert_same([record])
