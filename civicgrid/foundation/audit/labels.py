"""Names of audit actions: each code (`auth.login`, `cases.dispatch`) → its Chinese name, grouped by domain.

The audit administrator reads names, not codes; the codes stay beside them because auditors search by code. The
foundation names its own verbs here; each app names its `<app>.<verb>` codes with `name_actions` at import of the
module that declares them (loaded from its AppConfig.ready, as capabilities and menus are), reusing its
workflow's labels for the codes built from transition names. Names are lazy: Chinese in the source, English
from the translation catalogue. `tests/test_action_names.py` fails on a recorded code without a name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from . import verbs

CODE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
OTHER = _("其他")


@dataclass(frozen=True)
class Domain:
    """A group of actions on the audit log's filter: all the codes that start with `prefix` and a dot."""

    prefix: str
    label: str | Promise
    order: int


@dataclass(frozen=True)
class ActionGroup:
    """One <optgroup> of the action filter: the domain's prefix ("auth.") and its named actions."""

    prefix: str
    label: str
    actions: list[tuple[str, str]]  # (code, name)


_domains: dict[str, Domain] = {}
_names: dict[str, str | Promise] = {}


def register_domain(prefix: str, label: str | Promise, *, order: int) -> None:
    """Name the domain of the codes `<prefix>.<verb>` (an app's label, or one of the foundation's groups)."""
    _domains[prefix] = Domain(prefix, label, order)


def name_actions(names: Mapping[str, str | Promise]) -> None:
    """Give audit action codes their names (lazy translations of Chinese); an app calls it once per module."""
    for code, label in names.items():
        if not CODE.match(code):
            raise ValueError(f"audit action codes are '<domain>.<verb>' in lower case, not {code!r}")
        _names[code] = label


def is_named(code: str) -> bool:
    return code in _names


def named_codes() -> frozenset[str]:
    return frozenset(_names)


def action_name(code: str) -> str:
    """The action's name in the active language, or the code itself when nobody named it."""
    label = _names.get(code)
    return str(label) if label is not None else code


def domain_label(code_or_prefix: str) -> str:
    domain = _domains.get(code_or_prefix.partition(".")[0])
    return str(domain.label if domain else OTHER)


def action_groups() -> list[ActionGroup]:
    """The named actions grouped by domain, in the domains' order and each app's own order of its codes."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for code, label in _names.items():
        grouped.setdefault(code.partition(".")[0], []).append((code, str(label)))
    ordered = sorted(grouped, key=lambda p: (_domains[p].order if p in _domains else 10_000, p))
    return [ActionGroup(f"{prefix}.", domain_label(prefix), grouped[prefix]) for prefix in ordered]


# ---------------------------------------------------------------------------------- the foundation's own

for _prefix, _label, _order in (
    ("auth", _("登录与认证"), 10),
    ("access", _("账号与授权"), 20),
    ("data", _("数据"), 30),
    ("config", _("配置"), 40),
    ("ops", _("运行"), 50),
    ("system", _("备份与恢复"), 60),
    ("audit", _("审计"), 70),
):
    register_domain(_prefix, _label, order=_order)

name_actions({
    verbs.Auth.LOGIN: _("登录"),
    verbs.Auth.LOGIN_FAILED: _("登录失败"),
    verbs.Auth.LOGOUT: _("退出登录"),
    verbs.Auth.LOCKED: _("账号锁定"),
    verbs.Auth.PASSWORD_CHANGED: _("修改密码"),
    verbs.Auth.TOKEN_ISSUED: _("签发令牌"),
    verbs.Auth.TOKEN_REVOKED: _("吊销令牌"),
    verbs.Auth.TOTP_ENROLLED: _("绑定动态口令"),
    verbs.Auth.TOTP_RESET: _("重置动态口令"),
    verbs.Access.GRANT_ADDED: _("授权"),
    verbs.Access.GRANT_REMOVED: _("撤销授权"),
    verbs.Access.GRANT_BACKDATED: _("补记授权起始时间"),
    verbs.Access.USER_CREATED: _("创建账号"),
    verbs.Access.USER_CHANGED: _("修改账号"),
    verbs.Data.CREATED: _("新建"),
    verbs.Data.CHANGED: _("修改"),
    verbs.Data.DELETED: _("删除"),
    verbs.Data.IMPORTED: _("导入"),
    verbs.Data.EXPORTED: _("导出"),
    verbs.Data.REVEALED: _("查看完整号码"),
    verbs.Data.ANONYMISED: _("到期匿名化"),
    verbs.Data.CONFIDENTIAL_READ: _("查阅保密信息"),
    verbs.Config.CHANGED: _("修改配置"),
    verbs.Ops.EVENTS_RETRIED: _("重投失败事件"),
    verbs.Ops.MESSAGES_RETRIED: _("重发失败消息"),
    verbs.Ops.TASK_RERUN: _("重新运行后台任务"),
    verbs.System.BACKUP: _("备份数据"),
    verbs.System.RESTORE: _("恢复数据"),
    verbs.AuditLog.EXPORTED: _("导出审计记录"),
    verbs.AuditLog.PURGED: _("清理过期审计记录"),
    verbs.AuditLog.REMASKED: _("隐去旧审计记录中的个人信息"),
})
