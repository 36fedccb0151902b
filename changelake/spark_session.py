"""The one place a SparkSession is built: ``rebuild --runner spark`` (``changelake[spark]``).

On a cluster (EMR Serverless, EMR, Glue) ``spark-submit`` gives the master and the platform reads
``s3://`` with the job's role: the session is taken as it comes. Anywhere else the session runs in
local mode (``--spark-master``, default ``local[*]``) and reads an S3 archive through Hadoop's S3A
connector, with the endpoint, region and credentials boto3 would use. S3A's jars are not part of
pyspark: ``CHANGELAKE_SPARK_JARS`` names a directory of them (``make spark`` fills
``.cache/spark/lib`` from Maven Central, see ``services/spark/pom.xml``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from changelake.config import ENV_SPARK_JARS, s3_addressing_style
from changelake.schemas.exceptions import ArchiveLocationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from changelake.rebuild.latest_images import Selection
    from changelake.rebuild.search_sink import SearchSink
    from changelake.rebuild.spark_runner import SparkRunner
    from changelake.schemas.archive_layout import ArchiveLocation
    from changelake.search_options import SearchOptions

_REPOSITORY_JARS = Path(__file__).resolve().parent.parent / ".cache" / "spark" / "lib"

_LOCAL_SETTINGS = {
    # Loopback only: nothing outside this machine talks to a local session.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Spark's 200 shuffle partitions would each cost a task on one machine; two per core keep
    # every core busy while one partition is being sent.
    "spark.sql.shuffle.partitions": str(2 * (os.cpu_count() or 1)),
    # Driver and executors share this one JVM in local mode; Spark's default is 1 GB.
    "spark.driver.memory": "2g",
    # Spark's default warehouse is ./spark-warehouse, a folder left in whatever directory ran it.
    "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "changelake-spark-warehouse"),
}


@dataclass(frozen=True)
class SparkArchive:
    """A Spark session and the archive's URL as that session reads it."""

    spark: SparkSession
    url: str


def is_cluster() -> bool:
    """True when ``spark-submit`` (EMR, Glue, a cluster) started this process as its driver.

    spark-submit's JVM starts the Python driver and hands it the gateway's port in this
    variable; the master it was given is then the session's.
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def open_spark_archive(location: ArchiveLocation, master: str | None = None) -> SparkArchive:
    """The session of this process, the cluster's or a local one, and the archive's URL for it.

    A local session reads ``s3://`` archives as ``s3a://``; one already running in this
    process (a test session's) is reused, with the S3A settings set on it again.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("changelake")
    if master is None and is_cluster():
        spark = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
        url = location.url() if location.is_s3 else Path(location.url()).as_uri()
        return SparkArchive(spark, url)
    builder = builder.master(master or "local[*]")
    # Local workers run this interpreter, whose packages (changelake, pyarrow) they import;
    # pyspark reads only the variable, when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for name, value in _LOCAL_SETTINGS.items():
        builder = builder.config(name, value)
    jars = s3a_jars(required=location.is_s3)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    if not location.is_s3:
        return SparkArchive(spark, Path(location.url()).as_uri())
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for name, value in s3a_settings().items():
        hadoop.set(name, value)
    return SparkArchive(spark, "s3a://" + location.url().removeprefix("s3://"))


def s3a_jars(*, required: bool) -> list[str]:
    """The S3A connector's jars: ``CHANGELAKE_SPARK_JARS``, else the repository's cache."""
    directory = Path(os.environ.get(ENV_SPARK_JARS) or _REPOSITORY_JARS)
    jars = sorted(str(path) for path in directory.glob("*.jar"))
    if not jars and required:
        raise ArchiveLocationError(
            f"no S3A jars in {directory} to read an s3:// archive with local Spark; run "
            f"`make spark` in the repository, or set {ENV_SPARK_JARS} to a directory holding "
            "hadoop-aws and the AWS SDK's S3 modules (services/spark/pom.xml lists them)"
        )
    return jars


def s3a_settings() -> dict[str, str]:
    """Hadoop settings for S3A with boto3's endpoint, region and credentials (frozen now)."""
    import boto3

    from changelake.clients import s3_client

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ArchiveLocationError(
            "no AWS credentials found to read the s3:// archive; set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    frozen = credentials.get_frozen_credentials()
    prefix = "fs.s3a."
    settings = {
        prefix + "access.key": frozen.access_key,
        prefix + "secret.key": frozen.secret_key,
        prefix + "endpoint.region": session.region_name or "us-east-1",
    }
    if frozen.token:
        settings[prefix + "session.token"] = frozen.token
        settings[prefix + "aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        )
    endpoint = urlparse(s3_client().meta.endpoint_url)
    if endpoint.hostname and not endpoint.hostname.endswith("amazonaws.com"):
        settings[prefix + "endpoint"] = endpoint.geturl()
        settings[prefix + "connection.ssl.enabled"] = str(endpoint.scheme == "https").lower()
        settings[prefix + "path.style.access"] = str(s3_addressing_style() != "virtual").lower()
    return settings


def spark_rebuild_runner(
    location: ArchiveLocation,
    selection: Selection,
    es_url: str,
    search: SearchOptions,
    sink: SearchSink,
    master: str | None = None,
) -> SparkRunner:
    """The Spark runner of a rebuild: the session, and sinks built on the executors like ``sink``.

    The executors are told the engine the driver found, so none of them asks ``GET /`` again.
    """
    from changelake.clients import make_search_sink
    from changelake.rebuild.spark_runner import SparkRunner

    archive = open_spark_archive(location, master)
    on_executor = replace(search, engine=sink.engine)
    return SparkRunner(
        archive.spark, archive.url, selection, partial(make_search_sink, es_url, on_executor)
    )
