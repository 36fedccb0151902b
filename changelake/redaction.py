"""Secrets never printed: search credentials masked in every message, log line and traceback.

``redact`` masks user info in URLs (``https://user:password@host``), authorization header
values (Basic, Bearer, ApiKey), the parts of a SigV4 signature that matter (credential scope,
signature, session token, also as presigned-URL parameters), ``api_key=`` values, and every
password or key changelake was given (``remember_secret``), plain or URL-encoded. The CLI passes
every error, and with ``--verbose`` every traceback, through it; the search clients are only
ever given URLs without user info (``SearchOptions.with_url_credentials``).
"""

from __future__ import annotations

import re
from urllib.parse import quote

MASK = "***"

# Secrets given to this process, longest first so that one inside another is masked whole.
_SECRETS: list[str] = []
# Shorter values would mask ordinary words (a password "a" would mask every "a").
MIN_SECRET_LENGTH = 4

_QUOTE = "[\"']?"
# (pattern, replacement): what names the secret is kept, its value masked.
_PATTERNS = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@'\"<>]+@"), rf"\1{MASK}@"),
    (
        re.compile(
            rf"(?i)(authorization{_QUOTE}\s*[:=]\s*{_QUOTE}\s*)(basic|bearer|apikey)\s+[^\s'\",}}]+"
        ),
        rf"\1\2 {MASK}",
    ),
    (re.compile(r"(?i)((?:x-amz-)?(?:credential|signature)=)[^,&\s'\"]+"), rf"\1{MASK}"),
    (
        re.compile(rf"(?i)(x-amz-security-token{_QUOTE}\s*[:=]\s*{_QUOTE})[^,&\s'\"}}]+"),
        rf"\1{MASK}",
    ),
    (re.compile(rf"(?i)(api[_-]?key{_QUOTE}\s*[:=]\s*{_QUOTE})[^,&\s'\"}}]+"), rf"\1{MASK}"),
)


def remember_secret(value: str | None) -> None:
    """Mask ``value`` (a password, an API key) wherever :func:`redact` meets it from now on."""
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return
    for form in {value, quote(value, safe="")}:
        if form not in _SECRETS:
            _SECRETS.append(form)
    _SECRETS.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***``."""
    for secret in _SECRETS:
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
