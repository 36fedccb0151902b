"""Spark's document ids and their check held to the definition, ``document_ids``, on generated keys.

Keys of one to three attributes whose names and values hold the characters the item key escapes
(``%``, ``&``, ``=``), regular-expression characters, non-ASCII text and values long enough to be
hashed; string, number and binary values. Each rule's ``_id`` must be the same text in both
engines, and ``check_document_ids`` must refuse the same key sets with the same message.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from changelake.rebuild import document_ids
from changelake.rebuild.document_ids import document_id_sql
from changelake.rebuild.spark_latest import check_document_ids, document_id_column
from changelake.schemas.change_record import keys_to_item_key
from changelake.schemas.exceptions import RebuildError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

NAMES = ("postId", "seriesId", "a=b", "x&y", "p%25", "n.# 한")
RULES = (
    "item_key",
    "{postId}",
    "{seriesId}/{postId}",
    "{a=b}-{x&y}:{p%25}",
    "[{n.# 한}]{postId}",
)
_TEXT = st.text(st.sampled_from("ab&=%/#.*한 9"), min_size=1, max_size=8)
values = st.one_of(
    st.builds(lambda text: {"S": text}, _TEXT | st.just("v" * 600)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-(10**30), 10**30)),
    st.builds(lambda raw: {"B": base64.b64encode(raw).decode()}, st.binary(min_size=1, max_size=6)),
)
item_keys = st.builds(
    keys_to_item_key, st.dictionaries(st.sampled_from(NAMES), values, min_size=1, max_size=3)
)
# Few values, so that some key sets have two items a template names alike (N 1 and S 1 both
# read "1") and some lack an attribute the template names.
few_values = st.sampled_from([{"S": "1"}, {"S": "2"}, {"N": "1"}, {"S": "v" * 600}])
key_sets = st.lists(
    st.builds(
        keys_to_item_key,
        st.dictionaries(st.sampled_from(["postId", "seriesId", "x&y"]), few_values, min_size=1),
    ),
    min_size=1,
    max_size=8,
    unique=True,
)

# No shrinking: each example is a Spark job.
SETTINGS = dict(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(max_examples=8, **SETTINGS)
@given(keys=st.lists(item_keys, min_size=1, max_size=40))
def test_spark_document_ids_are_the_definitions(spark: SparkSession, keys: list[str]) -> None:
    rows = pa.table({"item_key": keys})
    columns = ", ".join(f"{document_id_sql(rule)} AS r{n}" for n, rule in enumerate(RULES))
    connection = duckdb.connect()
    connection.register("keys", rows)
    expected = connection.execute(f"SELECT item_key, {columns} FROM keys").fetchall()
    found = (
        spark.createDataFrame(rows)
        .select(
            "item_key", *(document_id_column(rule).alias(f"r{n}") for n, rule in enumerate(RULES))
        )
        .collect()
    )
    assert sorted(tuple(row) for row in found) == sorted(expected)


def _refusal(check: object, *args: object) -> str | None:
    try:
        check(*args)  # type: ignore[operator]
    except RebuildError as error:
        return str(error)
    return None


@settings(max_examples=5, **SETTINGS)
@given(keys=key_sets)
@pytest.mark.parametrize("rule", ["{postId}", "{seriesId}/{postId}"])
def test_spark_checks_document_ids_as_the_definition(
    spark: SparkSession, rule: str, keys: list[str]
) -> None:
    table = pa.table({"item_key": keys})
    connection = duckdb.connect()
    connection.register("keys", table)
    expected = _refusal(
        document_ids.check_document_ids, connection, rule, "SELECT item_key FROM keys"
    )
    assert _refusal(check_document_ids, spark.createDataFrame(table), rule) == expected
