"""How to reach a search engine: which engine, which credentials, how to check TLS.

Pure: parsing and checking the options, and recognising the engine from a ``GET /`` body. The
clients themselves are built in ``changelake/clients.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from changelake.redaction import MASK
from changelake.schemas.exceptions import SearchConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

ENGINES = ("elasticsearch", "opensearch")


@dataclass(frozen=True)
class SearchOptions:
    """The engine (``None``: detect it from ``GET /``) and the credentials to use.

    One way to authenticate at most: a user name and password (both engines), an Elasticsearch
    API key, or SigV4 signing for Amazon OpenSearch Service when ``aws_region`` is set (the
    credentials then come from the standard AWS chain: environment, profile, role).
    """

    engine: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    aws_region: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True

    def __post_init__(self) -> None:
        if self.engine is not None and self.engine not in ENGINES:
            raise SearchConfigError(
                f"unknown search engine {self.engine!r}; use one of {', '.join(ENGINES)}"
            )
        if (self.username is None) != (self.password is None):
            raise SearchConfigError(
                "a search user name needs a password and a password needs a user name; "
                "give both or neither"
            )
        methods = [
            name
            for name, given in (
                ("a user name and password", self.username is not None),
                ("an API key", self.api_key is not None),
                ("SigV4 (--aws-region)", self.aws_region is not None),
            )
            if given
        ]
        if len(methods) > 1:
            raise SearchConfigError(
                f"choose one way to authenticate to the search engine, not {' and '.join(methods)}"
            )
        if self.api_key is not None and self.engine == "opensearch":
            raise SearchConfigError(
                "OpenSearch has no API keys; use a user name and password, or --aws-region "
                "for Amazon OpenSearch Service"
            )
        if self.aws_region is not None and self.engine == "elasticsearch":
            raise SearchConfigError(
                "SigV4 (--aws-region) is for Amazon OpenSearch Service; Elasticsearch takes "
                "a user name and password or an API key"
            )

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """``(username, password)`` if both are set."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def with_url_credentials(self, url: str) -> tuple[str, SearchOptions]:
        """``url`` without its user info, and these options with the user name and password
        it held (``https://user:password@host``): only the bare URL goes any further."""
        bare, username, password = split_url_credentials(url)
        if username is None:
            return bare, self
        if self.basic_auth or self.api_key is not None or self.aws_region is not None:
            raise SearchConfigError(
                f"{bare} was given with a user name and password in it and with other search "
                "credentials; give the credentials one way"
            )
        return bare, replace(self, username=username, password=password or "")

    def implied_engine(self) -> str | None:
        """The engine the options name or imply (SigV4 and API keys each fit only one)."""
        if self.engine is not None:
            return self.engine
        if self.aws_region is not None:
            return "opensearch"
        if self.api_key is not None:
            return "elasticsearch"
        return None


def check_search_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; else an error showing it without secrets."""
    parts = urlsplit(url)
    try:
        has_host = bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        has_host = False
    if parts.scheme in {"http", "https"} and has_host:
        return url
    shown = _USERINFO.sub(rf"\1{MASK}@", url)
    hint = ""
    if _HOST_AND_PORT.fullmatch(shown):
        hint = f" (did you mean http://{shown} or https://{shown}?)"
    raise SearchConfigError(
        f"search engine URL {shown!r} is not an http:// or https:// URL with a host{hint}; "
        "e.g. https://search.example.com:9200"
    )


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user info, user name, password), the last two URL-decoded or None."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    username, colon, password = userinfo.partition(":")
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, unquote(username), unquote(password) if colon else None


# Everything before the host's "@", with or without a scheme.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/]*@")
# host:port given without a scheme (127.0.0.1:9200, search.internal:9200).
_HOST_AND_PORT = re.compile(r"[A-Za-z0-9.\-]+:\d+/?")


def engine_from_info(info: Mapping[str, Any], url: str) -> str:
    """``elasticsearch`` or ``opensearch``, from the body of the engine's ``GET /``."""
    version = info.get("version")
    if not isinstance(version, dict) or "number" not in version:
        raise SearchConfigError(
            f"{url} did not answer GET / like a search engine (no version.number in "
            f"{dict(info)!r}); check the URL, or name the engine with --engine"
        )
    if version.get("distribution") == "opensearch":
        return "opensearch"
    return "elasticsearch"


def aws_service_for_url(url: str) -> str:
    """The SigV4 service name: ``aoss`` for OpenSearch Serverless, else ``es`` (managed domains)."""
    host = urlparse(url).hostname or ""
    return "aoss" if host.endswith(".aoss.amazonaws.com") else "es"
