"""Load the Pingcheng demo: regions with demo geometry, organisations, demo accounts and base data.

`load_demo()` is idempotent: each stage creates only what is missing, so a second run writes nothing and
takes well under a second (the demo geometry is generated only when boundaries or grids are missing).
Base data (people, households, buildings …) comes from `civicgrid.foundation.people.demo.load_demo_people`,
written by the base-data module; when that module is absent the stage is skipped with a message.

Demo accounts exist only with demo data (SECURITY.md): the loader refuses to add them to a database that
already holds real (non-demo) accounts, unless told to with `force=True`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from civicgrid.foundation.access.models import User
from civicgrid.foundation.core import context, dbstats
from civicgrid.foundation.core.errors import Conflict
from civicgrid.foundation.regions.models import Level, Region

from . import accounts as demo_accounts
from . import orgs as demo_orgs
from . import regions as demo_regions

PEOPLE_MODULE = "civicgrid.foundation.people.demo"
DEFAULT_DEMO_PASSWORD = "civicgrid-demo"


@dataclass
class DemoSummary:
    """What a demo load did, stage by stage, with timings in seconds."""

    stages: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def _timed(summary: DemoSummary, name: str, fn: Callable[[], str]) -> None:
    started = time.perf_counter()
    summary.stages[name] = fn()
    summary.seconds[name] = round(time.perf_counter() - started, 2)


def _refuse_real_accounts(force: bool) -> None:
    demo_loaded = User.objects.filter(username="admin", is_demo=True).exists()
    if demo_loaded or force:
        return
    real = User.objects.filter(is_demo=False).exclude(username__startswith="contract-").count()
    if real:
        raise Conflict(
            f"数据库中已有 {real} 个正式账号：不能再加入密码公开的演示账号（可用 --force 强制） / this database "
            "holds real accounts; demo accounts with a published password would be a hole (use --force)"
        )


def _people_stage() -> str:
    try:
        module = importlib.import_module(PEOPLE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != PEOPLE_MODULE:
            raise
        return "跳过：基础数据演示模块尚未提供 (civicgrid.foundation.people.demo missing)"
    grids = list(Region.objects.filter(level=Level.GRID).order_by("code").defer("geometry"))
    outcome = module.load_demo_people(grids)
    if isinstance(outcome, dict):  # rows made per kind: "楼栋 1,234、房屋 …"
        names = {"building": "楼栋", "house": "房屋", "household": "户", "resident": "人口", "unit": "单位",
                 "place": "场所"}
        return "、".join(f"{names.get(k, k)} {v:,}" for k, v in outcome.items()) or "无需新增"
    return str(outcome) if outcome is not None else "完成"


def _app_stage(app: str) -> Callable[[], str]:
    """The demo stage of an app: `civicgrid.apps.<app>.demo.load_demo_<app>()`."""

    def stage() -> str:
        module = importlib.import_module(f"civicgrid.apps.{app}.demo")
        outcome = getattr(module, f"load_demo_{app}")()
        return str(outcome) if outcome is not None else "完成"

    return stage


def load_demo(*, people: bool = True, force: bool = False, history_days: int | None = None) -> DemoSummary:
    """Load (or complete) the demo; returns what each stage did. Runs as the system (audit channel "command").
    `history_days`: how many past days of cases to play through the loop (default: the setting
    `CIVICGRID_DEMO_HISTORY_DAYS`; 0 for none)."""
    summary = DemoSummary()
    cases_demo = importlib.import_module("civicgrid.demo.history")
    history_days = cases_demo.check_days(history_days)  # a bad value stops the demo before anything is written
    with context.acting(channel="command"):
        _refuse_real_accounts(force)

        def regions() -> str:
            done = demo_regions.load_demo_regions()
            if not done.changed:
                return "已存在，未改动"
            return f"新建代码 {done.codes_created} 个，演示边界 {done.boundaries_set} 个，网格 {done.grids_created} 个"

        def organisations() -> str:
            created = demo_orgs.load_demo_orgs()
            return f"新建 {created} 个" if created else "已存在，未改动"

        def accounts() -> str:
            with transaction.atomic():
                done = demo_accounts.load_demo_accounts()
                posts = demo_orgs.load_demo_posts(done.posts or {}, done.grid_workers or {})
            changed = f"，{done.passwords_changed} 个账号的密码已改为 CIVICGRID_DEMO_PASSWORD 的值" if done.passwords_changed else ""
            if not (done.users_created or done.grants_created or posts):
                return f"已存在{changed}" if changed else "已存在，未改动"
            return f"新建账号 {done.users_created} 个，授权 {done.grants_created} 条，岗位 {posts} 个{changed}"

        _timed(summary, "regions", regions)
        _timed(summary, "organisations", organisations)
        _timed(summary, "categories", importlib.import_module("civicgrid.demo.categories").load_demo_categories)
        _timed(summary, "accounts", accounts)
        _timed(summary, "open311", importlib.import_module("civicgrid.integrations.open311.demo").load_demo_open311)
        _timed(summary, "router", importlib.import_module("civicgrid.integrations.router.demo").load_demo_router)
        if people:
            _timed(summary, "people", _people_stage)
        # Ledgers of the hazards, flood, materials and rescue apps (in this order: each may use the one before).
        for app in ("hazards", "flood", "materials", "rescue"):
            _timed(summary, app, _app_stage(app))
        # Last: the case history plays the loop with every account, category and department in place.
        if history_days:
            _timed(summary, "cases", lambda: cases_demo.load_demo_cases(history_days))
    if any(outcome != "已存在，未改动" for outcome in summary.stages.values()):
        # Bulk-written tables: give the planner statistics (SQLite has none until ANALYZE runs).
        dbstats.refresh_statistics()
    summary.counts = {
        "streets": Region.objects.filter(level=Level.STREET).count(),
        "communities": Region.objects.filter(level=Level.COMMUNITY).count(),
        "villages": Region.objects.filter(level=Level.VILLAGE).count(),
        "grids": Region.objects.filter(level=Level.GRID).count(),
        "accounts": User.objects.filter(is_demo=True).count(),
    }
    return summary


STAGE_LABELS = {
    "regions": "区域网格", "organisations": "组织机构", "accounts": "演示账号", "people": "基础数据",
    "hazards": "隐患台账", "flood": "防汛", "materials": "应急物资", "rescue": "抢险队伍", "cases": "事件历史",
}


def format_summary(summary: DemoSummary) -> str:
    """The stages, the counts and the table of demo accounts, as `make run` prints them."""
    lines = ["平城区演示数据 / Pingcheng demo data"]
    for name, outcome in summary.stages.items():
        lines.append(f"  {STAGE_LABELS.get(name, name)}：{outcome}（{summary.seconds[name]:.1f} 秒）")
    c = summary.counts
    lines.append(f"  街道 {c.get('streets', 0)} · 社区 {c.get('communities', 0)} · 村 {c.get('villages', 0)} · "
                 f"网格 {c.get('grids', 0)} · 演示账号 {c.get('accounts', 0)}")
    lines.append("")
    lines.append(format_accounts())
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def format_accounts() -> str:
    """The demo accounts table (username, role, scope) with the shared password."""
    rows = demo_accounts.account_rows()
    if not rows:
        return "（没有演示账号 / no demo accounts）"
    header = ("用户名 username", "角色 role", "范围 scope")
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(3)]
    # The default password is public (README); an operator's own CIVICGRID_DEMO_PASSWORD is not echoed.
    password = settings.CIVICGRID_DEMO_PASSWORD
    shown = password if password == DEFAULT_DEMO_PASSWORD else "环境变量 CIVICGRID_DEMO_PASSWORD 的值"
    out = [f"演示账号（密码均为 {shown}） / demo accounts, all with that password:"]
    def line(values) -> str:
        return ("  " + "  ".join(_pad(v, w) for v, w in zip(values, widths, strict=True))).rstrip()

    out.append(line(header))
    out.append("  " + "  ".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    grid_workers = User.objects.filter(is_demo=True, username__startswith="wg").count()
    if grid_workers:
        out.append(f"  另有每个网格一名网格员 / plus one grid worker per grid: wg<15 位网格代码>，"
                   f"如 wg{demo_accounts.PILOT_GRIDS[0]}（共 {grid_workers} 个）")
    handlers = User.objects.filter(is_demo=True, username__startswith="hd-").count()
    if handlers:
        out.append(f"  另有每个区直部门一名处置人员 / plus a handler per district department: hd-<部门代码>，"
                   f"如 hd-zjj（区住建局，共 {handlers} 个）")
    return "\n".join(out)
