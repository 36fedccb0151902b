"""Search credentials never appear in what a command prints, logs or shows with --verbose.

Every command that takes --es-url fails three ways (the engine unreachable, a 401 from an engine
that wants other credentials, a TLS certificate it cannot verify), with the credentials given
each way (in the URL, as flags, as an API key), with and without --verbose. The 401 and TLS cases
run against the real Elasticsearch-API server behind a front that checks credentials (as a
security plugin does) and can serve HTTPS with a throwaway certificate authority.
"""

from __future__ import annotations

import base64
import logging
import ssl
import urllib.request
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
import trustme
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import make_search_sink
from changelake.redaction import redact, remember_secret
from changelake.search_options import SearchOptions
from scripts.services import free_port
from tests.changelake.sql_archive import write_sample_archive
from tests.helpers import QuietHandler, serve_http

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scripts.services import Service

USER = "ops-user"
PASSWORD = "pa55-w0rd!"
API_KEY = base64.b64encode(b"key-id:key-s3cret").decode()
# Every form a secret could be printed in: plain, URL-encoded, inside a Basic header.
SECRETS = [
    PASSWORD,
    "pa55-w0rd%21",
    API_KEY,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    f"{USER}:",
]
CREDENTIALS = {
    "in the URL": (f"{USER}:pa55-w0rd%21@", []),
    "as flags": ("", ["--search-username", USER, "--search-password", PASSWORD]),
    "as an API key": ("", ["--api-key", API_KEY]),
}


@contextmanager
def engine_front(target: str, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A front for the engine at ``target`` that answers 401 to every request, like a security
    plugin to credentials it does not know; HTTPS with ``tls``. Yields its URL (host:port)."""

    class Handler(QuietHandler):
        def _refuse(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = (
                b'{"error":{"type":"security_exception","reason":"unable to authenticate user"},'
                b'"status":401}'
            )
            headers = {
                "WWW-Authenticate": 'Basic realm="security" charset="UTF-8"',
                "Content-Type": "application/json",
                "X-Elastic-Product": "Elasticsearch",
            }
            self.reply(401, headers, body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _refuse

    # The engine is real: what the front refuses is only the credentials.
    with urllib.request.urlopen(target, timeout=30) as response:
        assert response.status == 200
    with serve_http(Handler, tls) as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture(params=["unreachable", "401", "tls"])
def failing_engine(
    request: pytest.FixtureRequest, es_service: Service
) -> Iterator[tuple[str, str]]:
    """(URL without credentials, what the error must say) for one way of failing."""
    if request.param == "unreachable":
        yield f"http://127.0.0.1:{free_port()}", "could not be reached"
        return
    tls = None
    if request.param == "tls":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(tls)
    with engine_front(es_service.url, tls) as host:
        if tls is None:
            yield f"http://{host}", "401"
        else:
            yield f"https://{host}", "CERTIFICATE_VERIFY_FAILED"


COMMANDS = {
    "rebuild": ["--archive", "{archive}", "--table", "posts", "-s"],
    "sync": ["--archive", "{archive}", "--table", "posts", "-s"],
    "verify": ["--archive", "{archive}", "--table", "posts", "-s"],
    "rollback": [],
}


@pytest.mark.es
@pytest.mark.parametrize("credentials", sorted(CREDENTIALS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_failure_of_any_command_prints_the_credentials(
    command: str,
    credentials: str,
    failing_engine: tuple[str, str],
    local_archive: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_sample_archive(local_archive)
    url, expected = failing_engine
    userinfo, flags = CREDENTIALS[credentials]
    scheme, _, host = url.partition("://")
    arguments = [a.format(archive=local_archive) for a in COMMANDS[command]]
    arguments += ["--alias", "posts", "--es-url", f"{scheme}://{userinfo}{host}", *flags]
    caplog.set_level(logging.DEBUG)
    for verbose in ([], ["--verbose"]):
        result = CliRunner().invoke(cli, [*verbose, command, *arguments])
        shown = result.stdout + result.stderr + caplog.text
        assert result.exit_code == 1, shown
        assert expected in result.stderr
        for secret in SECRETS:
            assert secret not in shown, (secret, shown)
        if verbose:
            assert "Traceback (most recent call last)" in result.stderr
        else:
            assert "Traceback" not in result.output
            assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")


@pytest.mark.parametrize(
    "url", ["127.0.0.1:9200", "localhost:9200", "ftp://h:1", "http://", "http://h:99999"]
)
def test_a_url_without_scheme_or_host_is_a_usage_error_of_one_line(url: str) -> None:
    for command in ("rollback", "rebuild", "sync", "verify"):
        result = CliRunner().invoke(cli, [command, "--alias", "a", "--es-url", url])
        assert result.exit_code == 2, result.output
        assert "is not an http:// or https:// URL with a host" in result.stderr
        assert "Traceback" not in result.output


def test_a_url_without_scheme_hides_its_user_info_too() -> None:
    result = CliRunner().invoke(
        cli, ["rollback", "--alias", "a", "--es-url", f"{USER}:{PASSWORD}@127.0.0.1:9200"]
    )
    assert result.exit_code == 2
    assert PASSWORD not in result.output and USER not in result.output
    assert "'***@127.0.0.1:9200'" in result.stderr


@pytest.mark.es
def test_credentials_in_the_url_are_sent_as_basic_auth_and_once(
    es_service: Service, local_archive: str
) -> None:
    write_sample_archive(local_archive)
    base = ["--archive", local_archive, "--table", "posts", "--alias", "posts-url", "-s"]
    scheme, _, host = es_service.url.partition("://")
    with_userinfo = f"{scheme}://{USER}:pa55-w0rd%21@{host}"
    result = CliRunner().invoke(cli, ["rebuild", *base, "--es-url", with_userinfo])
    assert result.exit_code == 0, result.output
    twice = CliRunner().invoke(
        cli, ["rebuild", *base, "--es-url", with_userinfo, "--api-key", API_KEY]
    )
    assert twice.exit_code == 2
    assert "give the credentials one way" in twice.stderr
    assert PASSWORD not in twice.output


def test_redact_masks_user_info_headers_signatures_and_given_secrets() -> None:
    remember_secret("given-s3cret")
    text = (
        "GET https://admin:pw@search:9200/ failed; Authorization: Basic YWRtaW46cHc= "
        "{'authorization': 'ApiKey a2V5'} Credential=AKIAEXAMPLE/20261204/eu-west-1/es/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd "
        "x-amz-security-token:FQoGZXIvYXdzEXAMPLE ?X-Amz-Signature=ab12&x=1 given-s3cret "
        "given-s3cret url-encoded: given-s3cret"
    )
    masked = redact(text)
    for secret in ("admin:pw", "YWRtaW46cHc=", "a2V5", "AKIAEXAMPLE", "0123abcd", "FQoG", "ab12"):
        assert secret not in masked
    assert "given-s3cret" not in masked
    assert "https://***@search:9200/" in masked
    assert "Authorization: Basic ***" in masked
    # What is not a secret stays readable.
    assert "SignedHeaders=host;x-amz-date" in masked
    assert redact("post user@example.com not found") == "post user@example.com not found"


def test_an_unexpected_error_is_one_line_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError(f"http://{USER}:{PASSWORD}@host")

    monkeypatch.setattr("changelake.commands.rollback.make_search_sink", broken)
    result = CliRunner().invoke(cli, ["rollback", "--alias", "a", "--es-url", "http://h:1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unexpected KeyError: ")
    assert "please report it" in result.stderr
    assert PASSWORD not in result.output
    verbose = CliRunner().invoke(cli, ["-v", "rollback", "--alias", "a", "--es-url", "http://h:1"])
    assert "Traceback" in verbose.stderr and PASSWORD not in verbose.output


@pytest.mark.opensearch
def test_clients_and_options_keep_no_credentials_in_their_repr(
    opensearch_service: Service, es_service: Service
) -> None:
    for service in (opensearch_service, es_service):
        scheme, _, host = service.url.partition("://")
        sink = make_search_sink(f"{scheme}://{USER}:pa55-w0rd%21@{host}")
        shown = repr(sink) + repr(sink.client) + repr(vars(sink))
        assert PASSWORD not in shown and "pa55-w0rd%21" not in shown, shown
    options = SearchOptions(username=USER, password=PASSWORD)
    assert PASSWORD not in repr(options)
    assert API_KEY not in repr(SearchOptions(api_key=API_KEY))
