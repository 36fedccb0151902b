"""The Glue table of the archive stack: the archive's columns, and a definition that reads it.

Spark SQL reads a hive-layout archive through the table definition taken from the template and
gets the latest state DuckDB gets from the same files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from bench.synthetic_archive import ArchiveShape, write_synthetic_archive
from changelake.clients import open_archive
from changelake.rebuild.latest_images import Selection
from changelake.rebuild.spark_latest import latest_records
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.change_record import CHANGE_RECORD_SCHEMA
from changelake.schemas.sql_views import latest_records_sql
from tests.deploy.test_template import TEMPLATE_PATH

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

_GLUE_TYPES = {
    pa.int16(): "smallint",
    pa.int64(): "bigint",
    pa.string(): "string",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def glue_type(data_type: pa.DataType) -> str:
    """The Hive/Glue type of a change-record column."""
    if pa.types.is_struct(data_type):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in data_type) + ">"
    return _GLUE_TYPES[data_type]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The archive stack's template, parsed with cfn-lint's loader."""
    from cfnlint.decode import cfn_yaml

    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE_PATH))
    return loaded


def table_input(template: dict[str, Any]) -> dict[str, Any]:
    """The TableInput of the change log's Glue table."""
    table: dict[str, Any] = template["Resources"]["ChangeLogTable"]["Properties"]["TableInput"]
    return table


def test_glue_columns_are_the_change_record_schema(template: dict[str, Any]) -> None:
    columns = table_input(template)["StorageDescriptor"]["Columns"]
    assert [(c["Name"], c["Type"]) for c in columns] == [
        (field.name, glue_type(field.type)) for field in CHANGE_RECORD_SCHEMA
    ]


def test_partitions_are_projected_from_the_layout(template: dict[str, Any]) -> None:
    table = table_input(template)
    assert [key["Name"] for key in table["PartitionKeys"]] == ["table", "dt"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert (parameters["projection.dt.type"], parameters["projection.dt.format"]) == (
        "date",
        "yyyy-MM-dd",
    )
    location = parameters["storage.location.template"]["Fn::Sub"]
    assert location.endswith("/table=${!table}/dt=${!dt}")


def spark_table_sql(template: dict[str, Any], name: str, location: str) -> str:
    """``CREATE TABLE`` for Spark SQL with the template's columns and partition keys."""
    table = table_input(template)
    columns = table["StorageDescriptor"]["Columns"] + table["PartitionKeys"]
    listed = ", ".join(f"`{c['Name']}` {c['Type']}" for c in columns)
    keys = ", ".join(f"`{key['Name']}`" for key in table["PartitionKeys"])
    return (
        f"CREATE TABLE {name} ({listed}) USING parquet PARTITIONED BY ({keys}) "
        f"LOCATION '{location}'"
    )


def test_spark_sql_reads_the_layout_through_the_glue_definition(
    template: dict[str, Any],
    spark: SparkSession,
    tmp_path: Path,
) -> None:
    from pyspark.sql import functions as F

    archive = tmp_path / "archive"
    write_synthetic_archive(archive, ArchiveShape(3000, 300, days=3, rows_per_file=500))
    spark.sql(spark_table_sql(template, "glue_changes", archive.as_uri()))
    try:
        # What partition projection does for Athena: the partitions come from the paths.
        spark.sql("ALTER TABLE glue_changes RECOVER PARTITIONS")
        changes = spark.table("glue_changes").select(
            "*",
            F.col("_metadata.file_path").alias("source_file"),
            F.col("_metadata.row_index").alias("source_row"),
        )
        latest = latest_records(changes, Selection("posts"))
        found = latest.select("item_key", "version", "event_name", "new_image")
        by_spark = {tuple(row) for row in found.collect()}
    finally:
        spark.sql("DROP TABLE glue_changes")
    connection = open_archive(parse_archive_uri(str(archive)), "posts")
    by_duckdb = connection.execute(
        f"SELECT item_key, version, event_name, new_image FROM ({latest_records_sql()})"
    ).fetchall()
    assert len(by_spark) == 300
    assert by_spark == set(by_duckdb)
