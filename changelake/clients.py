"""The one place where clients are built: boto3, the archive store and DuckDB.

DuckDB (and any search client) is imported inside the functions that build it: the archive Lambda
imports this module, and its package carries neither (see deploy/package.py). boto3 too, so that
a command over a local archive does not spend a fifth of a second importing it.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from changelake.archiver.object_store import LocalStore, ObjectStore, S3Store
from changelake.config import s3_addressing_style
from changelake.extras import is_installed, require_extra
from changelake.memory_limit import default_memory_limit
from changelake.redaction import remember_secret
from changelake.schemas.archive_layout import ArchiveLocation, parquet_glob
from changelake.schemas.byte_sizes import MIB
from changelake.schemas.exceptions import (
    MissingExtraError,
    MissingSettingError,
    SearchConfigError,
    SearchUnavailableError,
)
from changelake.schemas.sql_views import (
    archive_views_sql,
    clear_s3_credential_settings_sql,
    create_changes_view_sql,
    quote_literal,
    read_only_settings_sql,
)
from changelake.search_options import (
    SearchOptions,
    aws_service_for_url,
    check_search_url,
    engine_from_info,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from botocore.config import Config
    from duckdb import DuckDBPyConnection

    from changelake.rebuild.search_sink import SearchSink

HTTPFS_VERSION = "v1.5.5"


@cache
def s3_client() -> Any:
    """A boto3 S3 client from the standard AWS configuration, with bounded retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": s3_addressing_style()},
    )
    return boto3.session.Session().client("s3", config=config)


def make_search_sink(url: str, options: SearchOptions | None = None) -> SearchSink:
    """The search sink for ``url``: the engine named by ``options`` or detected from ``GET /``.

    User info in ``url`` becomes the basic-auth credentials: the clients, and so every message
    and log line, only see the URL without it.
    """
    url, options = (options or SearchOptions()).with_url_credentials(check_search_url(url))
    for secret in (options.password, options.api_key):
        remember_secret(secret)
    engine = options.implied_engine() or detect_search_engine(url, options)
    if engine == "opensearch":
        require_extra("opensearchpy")
        from changelake.rebuild.opensearch_sink import OpenSearchSink

        return OpenSearchSink(
            opensearch_client(url, options), opensearch_client(url, options, max_retries=0)
        )
    require_extra("elasticsearch")
    from changelake.rebuild.elasticsearch_sink import ElasticsearchSink

    return ElasticsearchSink(elasticsearch_client(url, options))


def elasticsearch_client(url: str, options: SearchOptions, max_retries: int = 3) -> Any:
    """An elasticsearch-py client (8.x) with the options' credentials and TLS settings."""
    require_extra("elasticsearch")
    from elastic_transport.client_utils import DEFAULT
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        url,
        request_timeout=120,
        max_retries=max_retries,
        retry_on_timeout=max_retries > 0,
        basic_auth=options.basic_auth,
        api_key=options.api_key,
        verify_certs=options.verify_certs,
        ssl_show_warn=False,  # only --no-verify-certs turns verification off: asked for
        ca_certs=options.ca_certs or DEFAULT,
    )


@cache
def dynamodb_client() -> Any:
    """A boto3 DynamoDB client (``AWS_ENDPOINT_URL_DYNAMODB`` points it at DynamoDB Local)."""
    import boto3

    return boto3.session.Session().client("dynamodb", config=_aws_config())


@cache
def streams_client() -> Any:
    """A boto3 DynamoDB Streams client (``AWS_ENDPOINT_URL_DYNAMODB_STREAMS`` for a local one)."""
    import boto3

    return boto3.session.Session().client("dynamodbstreams", config=_aws_config())


def secret_string(arn: str) -> str:
    """The value of a Secrets Manager secret (the search URL of the sync Lambda)."""
    import boto3

    client = boto3.session.Session().client("secretsmanager", config=_aws_config())
    value: str = client.get_secret_value(SecretId=arn)["SecretString"]
    return value


def _aws_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
    )


def opensearch_client(url: str, options: SearchOptions, max_retries: int = 3) -> Any:
    """An opensearch-py client; SigV4-signed from the AWS credentials chain with ``aws_region``."""
    require_extra("opensearchpy")
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth

    auth: Any = options.basic_auth
    if options.aws_region is not None:
        import boto3

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise SearchConfigError(
                "--aws-region asks for SigV4 signing but no AWS credentials were found; set "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role"
            )
        # The signer freezes refreshable credentials per request, so role credentials rotate.
        auth = Urllib3AWSV4SignerAuth(credentials, options.aws_region, aws_service_for_url(url))
    return OpenSearch(
        url,
        http_auth=auth,
        verify_certs=options.verify_certs,
        ssl_show_warn=False,  # only --no-verify-certs turns verification off: asked for
        ca_certs=options.ca_certs,
        timeout=120,
        max_retries=max_retries,
        retry_on_timeout=max_retries > 0,
    )


def detect_search_engine(url: str, options: SearchOptions) -> str:
    """``elasticsearch`` or ``opensearch``, from the engine's answer to ``GET /``."""
    if not is_installed("opensearchpy"):
        return _detect_with_elasticsearch_client(url, options)
    from opensearchpy import ConnectionError, TransportError

    # opensearch-py reads any engine's GET /; the elasticsearch client refuses OpenSearch.
    try:
        info = opensearch_client(url, options, max_retries=1).info()
    except ConnectionError as error:
        raise SearchUnavailableError(
            f"the search engine could not be reached to ask which engine it is (GET {url}): "
            f"{error}; check --es-url"
        ) from None
    except TransportError as error:
        raise SearchConfigError(
            f"could not ask {url} which search engine it is (GET /: {error}); check the "
            "credentials, or name the engine with --engine"
        ) from None
    return engine_from_info(info, url)


def _detect_with_elasticsearch_client(url: str, options: SearchOptions) -> str:
    """Detect the engine with the elasticsearch client, when it is the only one installed.

    That client refuses another engine's answer, and the refusal carries the ``GET /`` body.
    """
    if not is_installed("elasticsearch"):
        raise MissingExtraError(
            "no search engine client is installed; install the one for your engine: "
            "pip install 'changelake[opensearch]' or 'changelake[elasticsearch]'"
        )
    from elastic_transport import ConnectionError, TransportError
    from elasticsearch import ApiError, UnsupportedProductError

    try:
        info = elasticsearch_client(url, options, max_retries=1).info().body
    except UnsupportedProductError as error:
        info = error.body
    except ConnectionError as error:
        raise SearchUnavailableError(
            f"the search engine could not be reached to ask which engine it is (GET {url}): "
            f"{error}; check --es-url"
        ) from None
    except (ApiError, TransportError) as error:
        raise SearchConfigError(
            f"could not ask {url} which search engine it is (GET /: {error}); check the "
            "credentials, or name the engine with --engine"
        ) from None
    return engine_from_info(info, url)


def make_store(location: ArchiveLocation) -> ObjectStore:
    """The object store for an archive location."""
    if location.is_s3:
        return S3Store(location, s3_client())
    return LocalStore(location)


def connect_duckdb(
    location: ArchiveLocation, memory_limit: int | None = None
) -> DuckDBPyConnection:
    """An in-memory DuckDB connection that can read the archive (S3 through httpfs).

    DuckDB uses at most ``memory_limit`` bytes (default: ``default_memory_limit()``) and spills
    the rest to a directory of its own under the system's temporary directory (``TMPDIR``).
    """
    import duckdb

    # Secrets live in memory only: a persistent one would be written under ~/.duckdb.
    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "allow_persistent_secrets": False,
            "memory_limit": f"{(memory_limit or default_memory_limit()) // MIB}MiB",
            # Not DuckDB's default (.tmp in the working directory, which may be read-only).
            "temp_directory": str(Path(tempfile.gettempdir(), f"changelake-duckdb-{os.getpid()}")),
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    if location.is_s3:
        connection.execute(f"LOAD {quote_literal(httpfs_extension_path())}")
        connection.execute(s3_secret_sql())
    return connection


def open_archive(
    location: ArchiveLocation,
    table_name: str | None = None,
    files: Sequence[str] | None = None,
    memory_limit: int | None = None,
) -> DuckDBPyConnection:
    """A DuckDB connection with a ``changes`` view over the archive (or one table of it).

    ``files`` narrows the view to those Parquet objects (``--skip-corrupt`` leaves some out).
    """
    connection = connect_duckdb(location, memory_limit)
    # A command reads the same footers in many queries (a sync looks each changed item up in
    # every compacted file). An archive file never changes once written, and DuckDB checks its
    # modification time before using a cached footer. The cache lives as long as the
    # connection: one command's, never a long-running loop's.
    connection.execute("SET parquet_metadata_cache = true")
    if files is not None:
        connection.execute(create_changes_view_sql(files))
        return connection
    glob = parquet_glob(location, table_name)
    found = connection.execute("SELECT count(*) FROM glob(?)", [glob]).fetchone()
    connection.execute(create_changes_view_sql(glob if found and found[0] else None))
    return connection


def open_read_only_archive(
    location: ArchiveLocation, files: Sequence[str] | None = None
) -> DuckDBPyConnection:
    """A DuckDB connection that can read the archive and nothing else, and never write to it.

    Views ``changes`` and ``latest`` and macros ``history(key)`` and ``as_of(ts)`` are set up,
    then the connection is locked: no file or URL outside the archive, no extension loading, and
    the S3 secret is scoped to the archive prefix. Statements that write are refused before they
    run (``changelake.ask.read_only``).
    """
    connection = open_archive(location, files=files)
    for statement in archive_views_sql():
        connection.execute(statement)
    root = location.url().rstrip("/") + "/"
    if location.is_s3:
        connection.execute(s3_secret_sql(scope=root))
        for statement in clear_s3_credential_settings_sql():
            connection.execute(statement)
    for statement in read_only_settings_sql([root]):
        connection.execute(statement)
    return connection


def httpfs_extension_path() -> str:
    """The httpfs extension shipped by the duckdb-extension-httpfs wheel (never downloaded)."""
    package = resources.files("duckdb_extension_httpfs")
    return str(package / "extensions" / HTTPFS_VERSION / "httpfs.duckdb_extension")


def s3_secret_sql(scope: str | None = None) -> str:
    """``CREATE SECRET`` for DuckDB with the same endpoint, region and credentials as boto3."""
    import boto3

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise MissingSettingError(
            "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    frozen = credentials.get_frozen_credentials()
    options = {
        "TYPE": "s3",
        "KEY_ID": frozen.access_key,
        "SECRET": frozen.secret_key,
        "REGION": session.region_name or "us-east-1",
    }
    if frozen.token:
        options["SESSION_TOKEN"] = frozen.token
    endpoint = s3_client().meta.endpoint_url
    parsed = urlparse(endpoint)
    if parsed.hostname and not parsed.hostname.endswith("amazonaws.com"):
        options["ENDPOINT"] = parsed.netloc
        options["USE_SSL"] = "true" if parsed.scheme == "https" else "false"
        options["URL_STYLE"] = "vhost" if s3_addressing_style() == "virtual" else "path"
    if scope:
        options["SCOPE"] = scope
    body = ", ".join(
        f"{name} {value if name in {'TYPE', 'USE_SSL'} else quote_literal(value)}"
        for name, value in options.items()
    )
    return f"CREATE OR REPLACE SECRET changelake_s3 ({body})"
