"""Settings read from environment variables, each checked when the process starts.

A value that cannot be used stops the start with one line that names the variable, the value and what is
allowed (every bad variable at once, no traceback), instead of a traceback at import or a 500 on some later
request. `settings.py` reads through one `Env` and calls `stop_if_invalid()` at its end.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

TRUE = {"1", "true", "yes", "on"}
# A host name or address as Django's ALLOWED_HOSTS compares it (no scheme, port or path): `*`, a leading dot for
# a domain and its subdomains, or an IPv6 address in brackets.
HOST = re.compile(r"\*|\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\]")
FALSE = {"0", "false", "no", "off"}


class Env:
    """Typed reads of environment variables; a bad value is noted (the default is used meanwhile)."""

    def __init__(self, environ=None):
        self.environ = os.environ if environ is None else environ
        self.errors: list[str] = []

    def bad(self, name: str, value: str, allowed_zh: str, allowed_en: str) -> None:
        self.errors.append(
            f"设置无效：{name}={value!r}，{allowed_zh} / invalid setting: {name}={value!r}: {allowed_en}"
        )

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def str(self, name: str, default: str = "") -> str:
        value = self.environ.get(name)
        return default if value is None else value

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in TRUE | FALSE:
            return value.lower() in TRUE
        self.bad(
            name,
            value,
            "应为 1/0、true/false、yes/no 或 on/off",
            "expected 1/0, true/false, yes/no or on/off",
        )
        return default

    def _range_words(self, minimum, maximum) -> tuple[str, str]:
        if minimum is not None and maximum is not None:
            return f"在 {minimum} 到 {maximum} 之间", f"from {minimum} to {maximum}"
        if minimum is not None:
            return f"不小于 {minimum}", f"at least {minimum}"
        return "", ""

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            number = None
        if (
            number is None
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)
        ):
            zh, en = self._range_words(minimum, maximum)
            self.bad(
                name,
                value,
                "，".join(w for w in ("应为整数", zh) if w),
                ", ".join(w for w in ("expected a whole number", en) if w),
            )
            return default
        return number

    def float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        note_zh: str = "",
        note_en: str = "",
    ) -> float:
        """A number; `minimum`/`maximum`: at least/at most, `above`: greater than. `note_*` tells what a special
        value means."""
        value = self.raw(name)
        if value is None:
            return default
        if above is not None:
            zh, en = f"大于 {above}", f"greater than {above}"
        else:
            zh, en = self._range_words(minimum, maximum)
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if (
            not math.isfinite(number)
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)
            or (above is not None and number <= above)
        ):
            self.bad(
                name,
                value,
                "，".join(w for w in ("应为数字", zh, note_zh) if w),
                ", ".join(w for w in ("expected a number", en, note_en) if w),
            )
            return default
        return number

    def choice(self, name: str, default: str, choices: Iterable[str], *, lower: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        choices = list(choices)
        if (value.lower() if lower else value) in choices:
            return value.lower() if lower else value
        self.bad(name, value, f"可选：{'、'.join(choices)}", f"one of {', '.join(choices)}")
        return default

    def directory(self, name: str, path: Path) -> bool:
        """Create `path` (read from `name`) if missing; False, with the reason noted, when it cannot be."""
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.bad(
                name,
                str(path),
                f"目录无法创建（{exc.strerror}）",
                f"the directory cannot be created ({exc.strerror})",
            )
            return False
        return True

    def url(self, name: str) -> str:
        """An absolute http(s) address such as https://wangge.example.gov.cn ("" when unset)."""
        value = self.raw(name)
        if value is None:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            self.bad(
                name,
                value,
                "应为完整网址，如 https://wangge.example.gov.cn",
                "expected a full address such as https://wangge.example.gov.cn",
            )
            return ""
        return value

    def redis_url(self, name: str) -> str:
        """A Redis address: redis://[:password@]host[:port][/db], rediss:// (TLS) or unix:///path[?db=n] ("" when
        unset). A bad one is named by its scheme only: the value may carry a password."""
        value = self.raw(name)
        if value is None:
            return ""
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        ok = scheme in {"redis", "rediss", "unix"}
        if ok:
            from redis.connection import parse_url

            try:
                parts = parse_url(value)
            except ValueError:
                ok = False
            else:
                db = urlsplit(value).path.strip("/")
                ok = bool(parts.get("path")) if scheme == "unix" else bool(parts.get("host")) and (not db or db.isdigit())
        if not ok:
            self.bad(
                name,
                f"{scheme}://…" if scheme else "…",
                "应为 Redis 地址：redis://[:密码@]主机[:端口][/库号]、rediss://（TLS）或 unix:///套接字路径",
                "expected a Redis address: redis://[:password@]host[:port][/db], rediss:// (TLS) or "
                "unix:///socket/path",
            )
            return ""
        return value

    def tile_origin(self, name: str, template: str) -> str:
        """The origin a map tile URL template loads from, for the CSP's img-src ("" for this site's own paths);
        Leaflet's `{s}` subdomain becomes a wildcard (`https://{s}.tiles.example` → `https://*.tiles.example`)."""
        if not template or template.startswith("/") and not template.startswith("//"):
            return ""
        parts = urlsplit(template if "://" in template or template.startswith("//") else f"//{template}")
        host = (parts.hostname or "").replace("%7bs%7d", "{s}")
        if host.startswith("{s}."):
            host = "*." + host[4:]
        if parts.scheme not in {"http", "https"} or not host or "{" in host or "}" in host:
            self.bad(
                name,
                template,
                "应为 https://主机/{z}/{x}/{y}.png 形式的瓦片地址（主机名可用 {s}. 开头）",
                "expected a tile URL template like https://host/{z}/{x}/{y}.png (the host may start with {s}.)",
            )
            return ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"

    def _entries(self, name: str, default: list[str], sep: str | None) -> tuple[str | None, list[str]]:
        """The entries of a list (`sep` between them, None: whitespace), each stripped; the raw value too."""
        value = self.raw(name)
        if value is None:
            return None, list(default)
        return value, [part.strip() for part in value.split(sep)]

    def names(self, name: str, allowed: Iterable[str]) -> list[str]:
        """A comma list of names, each one of `allowed` (spaces around a name are ignored)."""
        value, entries = self._entries(name, [], ",")
        allowed = list(allowed)
        wrong = [e for e in entries if e not in allowed]
        if wrong:
            self.bad(
                name,
                value,
                f"无法识别：{'、'.join(repr(w) for w in wrong)}；可选（逗号分隔）：{'、'.join(allowed)}",
                f"not known: {', '.join(repr(w) for w in wrong)}; a comma list of: {', '.join(allowed)}",
            )
            return [e for e in entries if e in allowed]
        return entries

    def hosts(self, name: str, default: list[str]) -> list[str]:
        """A comma list of bare host names as ALLOWED_HOSTS takes them (wangge.example.gov.cn, .example.gov.cn)."""
        value, entries = self._entries(name, default, ",")
        wrong = [e for e in entries if not HOST.fullmatch(e)]
        if wrong:
            self.bad(
                name,
                value,
                f"应为逗号分隔的主机名，如 wangge.example.gov.cn,.example.gov.cn（不带 http://、端口或路径，不留空项）；"
                f"有误：{'、'.join(repr(w) for w in wrong)}",
                "expected a comma list of host names such as wangge.example.gov.cn,.example.gov.cn (no http://, "
                f"port or path, no empty entry); wrong: {', '.join(repr(w) for w in wrong)}",
            )
            return [e for e in entries if e not in wrong]
        return entries

    def origins(self, name: str, default: list[str], *, sep: str | None = ",") -> list[str]:
        """A list of origins, scheme and host (and port): https://wangge.example.gov.cn; the host may start with
        `*.` for its subdomains."""
        value, entries = self._entries(name, default, sep)
        wrong = [e for e in entries if not _is_origin(e)]
        if wrong:
            between_zh, between_en = ("逗号", "comma") if sep == "," else ("空格", "space-separated")
            self.bad(
                name,
                value,
                f"应为{between_zh}分隔的来源（协议加主机，可带端口），如 https://wangge.example.gov.cn（不带路径，不留空项）；"
                f"有误：{'、'.join(repr(w) for w in wrong)}",
                f"expected a {between_en} list of origins (scheme and host, a port if any) such as "
                f"https://wangge.example.gov.cn (no path, no empty entry); wrong: {', '.join(repr(w) for w in wrong)}",
            )
            return [e for e in entries if e not in wrong]
        return entries

    def stop_if_invalid(self) -> None:
        """Print every bad setting, one line each, and exit with status 2 (no traceback)."""
        if self.errors:
            for line in self.errors:
                print(line, file=sys.stderr)
            sys.stderr.flush()
            raise SystemExit(2)


def _is_origin(value: str) -> bool:
    """scheme://host[:port] with an http(s) scheme, nothing after it; `*.` may open the host."""
    if not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return False
    host = parts.netloc.rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    host = host[2:] if host.startswith("*.") else host
    return (
        parts.scheme in {"http", "https"}
        and "@" not in parts.netloc
        and not parts.path
        and not parts.query
        and not parts.fragment
        and bool(HOST.fullmatch(host))
        and host != "*"
    )
