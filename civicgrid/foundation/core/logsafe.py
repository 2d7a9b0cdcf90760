"""Secrets kept out of log lines: the bearer links and keys that travel in request paths and query strings.

A follow link (`/follow/<token>/`, and the API's `/api/v1/follow/<token>`) is the reporter's key: whoever holds it
reads the case, rates it and asks for it to be reopened. Django logs the path of every 4xx and 5xx
(`django.request`: "Conflict: /follow/<token>/reopen/"), of every CSRF refusal (`django.security.csrf`), and
`runserver` every request line (`django.server`), so whoever read the log held every link that had met an error.
An Open311 token (`/open311/v2/tokens/<token>`) finds a client's report before it has a number; an Open311 key may
come in the query string (`?api_key=`), which request lines carry. SECURITY.md: no secrets or personal data in log
lines.

`SecretsFilter` (config/settings.py's LOGGING puts it on the loggers that write paths, and on the console
handler for everything else that reaches it) rewrites a record's message and arguments before any handler
formats it: a token keeps its first four characters, as the console sender's follow links do
(`/follow/AbCd…/`: enough to tell two lines apart, nothing to open a link with), a key none (`api_key=[已隐去]`).
"""

from __future__ import annotations

import logging
import re

# A path segment after one of these prefixes is a bearer token: its first 4 characters stay. Only the
# characters a URL path segment carries up to the next "/", "?", "#", quote or whitespace are cut.
_TOKEN_PATHS = re.compile(r"(/follow/|/open311/v2/tokens/)([^/?#\s\"'<>.]{0,4})[^/?#\s\"'<>.]*")
# A secret in a query string (or a form body someone logs): the value goes whole.
_SECRET_PARAMS = re.compile(r"([?&;](?:api_key|token|key)=)[^&#\s\"']*", re.IGNORECASE)
HIDDEN = "[已隐去]"


def redact(text: str) -> str:
    """`text` with the follow and Open311 tokens in it cut to their first four characters and the keys in its query
    strings hidden (`/follow/AbCdEf…/rate/` → `/follow/AbCd…/rate/`)."""
    if "/" not in text and "=" not in text:
        return text
    text = _TOKEN_PATHS.sub(lambda m: f"{m.group(1)}{m.group(2)}…" if m.group(0) != m.group(1) else m.group(0), text)
    return _SECRET_PARAMS.sub(rf"\1{HIDDEN}", text)


def _clean(value):
    return redact(value) if isinstance(value, str) else value


class SecretsFilter(logging.Filter):
    """Rewrites every record it sees (never drops one): its message and string arguments `redact`ed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_clean(v) for v in record.args)
        return True
