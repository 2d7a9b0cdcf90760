"""Demo accounts: the superuser `admin`, one account for every role, and a grid worker for every grid.

All share the password `settings.CIVICGRID_DEMO_PASSWORD` (default `civicgrid-demo`), are marked
`is_demo=True` and need no password change, because they exist only together with demo data (SECURITY.md,
"Identity"). The password is hashed ONCE and the hash reused: hashing 1,000+ passwords with Argon2 would take
a minute, and a shared salt is harmless for accounts whose password is published anyway.

Grants are created directly, not through `access.services.add_grant` (which needs a security administrator
and audits per grant): the loader records one summary audit entry per batch instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.access.models import ApiToken, Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Level, Region

from . import orgs as demo_orgs

PILOT_STREET = "140213066"  # 水泊寺街道: the smart-community pilot of the seed text
PILOT_COMMUNITY = "140213066001"  # 永安社区
PILOT_GRIDS = ("140213066001001", "140213066001002", "140213066001003")


@dataclass(frozen=True)
class DemoAccount:
    """One curated demo account: its role over regions (codes) or a department (org code), and its post."""

    username: str
    display_name: str
    role: str  # a Role value, or "superuser"
    regions: tuple[str, ...] = ()
    department: str = ""
    org: str = ""  # organisation code of the account's post ("" = none)
    title: str = ""


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", "演示超级管理员", "superuser"),
    DemoAccount("gridworker", "王建国", Role.GRID_WORKER, PILOT_GRIDS, org=demo_orgs.committee_code(PILOT_COMMUNITY),
                title="专职网格员（第1–3网格）"),
    DemoAccount("community", "李秀兰", Role.COMMUNITY_STAFF, (PILOT_COMMUNITY,),
                org=demo_orgs.committee_code(PILOT_COMMUNITY), title="社区工作人员"),
    DemoAccount("street", "张明", Role.STREET_STAFF, (PILOT_STREET,), org=demo_orgs.street_office_code(PILOT_STREET),
                title="综治办工作人员"),
    DemoAccount("dispatcher", "赵磊", Role.STREET_DISPATCHER, (PILOT_STREET,),
                org=demo_orgs.street_office_code(PILOT_STREET), title="街道派遣员"),
    DemoAccount("handler", "刘洋", Role.DEPARTMENT_HANDLER, department=demo_orgs.DEPARTMENTS["区城管局"][0],
                org=demo_orgs.DEPARTMENTS["区城管局"][0], title="处置人员"),
    DemoAccount("handler_water", "孙海涛", Role.DEPARTMENT_HANDLER, department=demo_orgs.DEPARTMENTS["区水务局"][0],
                org=demo_orgs.DEPARTMENTS["区水务局"][0], title="处置人员"),
    DemoAccount("command", "陈静", Role.COMMAND_DISPATCHER, ("140213",), org=demo_orgs.COMMAND_CENTRE,
                title="指挥中心派遣员"),
    DemoAccount("leader", "周振华", Role.LEADER, ("140213",), org=demo_orgs.GOVERNMENT, title="分管副区长"),
    DemoAccount("volunteer", "吴晓燕", Role.VOLUNTEER, (PILOT_STREET,), org=f"V{PILOT_STREET}", title="志愿者"),
    DemoAccount("resident", "郑丽", Role.RESIDENT, (PILOT_GRIDS[0],)),
    DemoAccount("sysadmin", "系统管理员", Role.SYSTEM_ADMIN),
    DemoAccount("secadmin", "安全管理员", Role.SECURITY_ADMIN),
    DemoAccount("auditor", "审计管理员", Role.AUDIT_ADMIN),
)

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国平红霞志刚桂兰文玉梅海燕鹏飞晓东春雪"


def demo_person_name(index: int) -> str:
    """A plausible, deterministic Chinese name for the index-th generated person."""
    surname = _SURNAMES[index % len(_SURNAMES)]
    a = _GIVEN[(index * 7 + 3) % len(_GIVEN)]
    b = _GIVEN[(index * 13 + 5) % len(_GIVEN)]
    return surname + a + (b if index % 3 else "")


def grid_worker_username(grid_code: str) -> str:
    return f"wg{grid_code}"


def department_handler_username(org_code: str) -> str:
    """`hd-zjj` for 140213-ZJJ (区住建局)."""
    return "hd-" + org_code.split("-", 1)[-1].lower()


def department_handlers() -> dict[str, str]:
    """org code → username: a handler for every district department that has no curated handler account."""
    curated = {a.department for a in DEMO_ACCOUNTS if a.department}
    return {code: department_handler_username(code) for code, _, _ in demo_orgs.DEPARTMENTS.values()
            if code not in curated}


def _new_user(username: str, display_name: str, password_hash: str, *, superuser: bool = False) -> User:
    return User(username=username, display_name=display_name, password=password_hash, is_demo=True,
                must_change_password=False, password_changed_at=timezone.now(), is_superuser=superuser,
                is_staff=superuser)


@dataclass
class AccountsLoaded:
    """Accounts and grants created now, and who holds which post (for the posts loader)."""

    users_created: int = 0
    grants_created: int = 0
    passwords_changed: int = 0
    posts: dict[str, tuple[str, str]] | None = None
    grid_workers: dict[str, str] | None = None


@transaction.atomic
def load_demo_accounts() -> AccountsLoaded:
    """Create the curated accounts and one grid worker per grid, with their grants; existing ones are kept,
    but take the password `CIVICGRID_DEMO_PASSWORD` now names when it changed (`change_demo_password`)."""
    grids = list(Region.objects.filter(level=Level.GRID).order_by("code").values_list("id", "code"))
    grid_workers = {code: grid_worker_username(code) for _, code in grids}
    wanted: dict[str, tuple[str, bool]] = {a.username: (a.display_name, a.role == "superuser") for a in DEMO_ACCOUNTS}
    for i, (_, code) in enumerate(grids):
        wanted[grid_workers[code]] = (demo_person_name(i), False)
    handlers = department_handlers()
    for i, username in enumerate(handlers.values()):
        wanted[username] = (demo_person_name(5000 + i), False)
    existing = set(User.objects.filter(username__in=list(wanted)).values_list("username", flat=True))
    result = AccountsLoaded(posts={a.username: (a.org, a.title) for a in DEMO_ACCOUNTS if a.org},
                            grid_workers=grid_workers)
    result.posts.update({username: (code, "处置人员") for code, username in handlers.items()})
    missing = [u for u in wanted if u not in existing]
    result.passwords_changed = change_demo_password()
    if missing:
        password_hash = make_password(settings.CIVICGRID_DEMO_PASSWORD)
        User.objects.bulk_create([_new_user(u, wanted[u][0], password_hash, superuser=wanted[u][1]) for u in missing],
                                 batch_size=500)
        result.users_created = len(missing)
    users = dict(User.objects.filter(username__in=list(wanted)).values_list("username", "id"))
    regions = dict(Region.objects.filter(code__in={c for a in DEMO_ACCOUNTS for c in a.regions}).values_list("code", "id"))
    departments = dict(Organisation.objects.filter(
        code__in={a.department for a in DEMO_ACCOUNTS if a.department} | set(handlers)).values_list("code", "id"))
    wanted_grants: set[tuple[int, str, int | None, int | None]] = set()
    for a in DEMO_ACCOUNTS:
        if a.role == "superuser":
            continue
        if a.department:
            wanted_grants.add((users[a.username], a.role, None, departments[a.department]))
        for code in a.regions or ((None,) if a.role in {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}
                                  else ()):
            wanted_grants.add((users[a.username], a.role, regions.get(code) if code else None, None))
    for grid_id, code in grids:
        wanted_grants.add((users[grid_workers[code]], Role.GRID_WORKER, grid_id, None))
    for code, username in handlers.items():
        if code in departments:
            wanted_grants.add((users[username], Role.DEPARTMENT_HANDLER, None, departments[code]))
    have = set(Grant.objects.filter(user_id__in=list(users.values()))
               .values_list("user_id", "role", "region_id", "department_id"))
    new = [Grant(user_id=u, role=r, region_id=g, department_id=d) for u, r, g, d in sorted(
        wanted_grants - have, key=lambda t: (t[0], t[1], t[2] or 0, t[3] or 0))]
    Grant.objects.bulk_create(new, batch_size=500)
    result.grants_created = len(new)
    if result.users_created:
        record(actor=None, action=verbs.Access.USER_CREATED, target_type="access.user",
               target_repr=f"演示账号 {result.users_created} 个", data={"demo_accounts": result.users_created})
    if new:
        record(actor=None, action=verbs.Access.GRANT_ADDED, target_type="access.user",
               target_repr=f"演示授权 {len(new)} 条", data={"demo_grants": len(new)})
    return result


def change_demo_password() -> int:
    """Give every demo account the password `settings.CIVICGRID_DEMO_PASSWORD` when the superuser `admin`
    does not have it already (one check; all demo accounts share one password); returns how many changed.
    API tokens of those accounts end, and their sessions with the old password hash; audited as one entry."""
    admin = User.objects.filter(username="admin", is_demo=True).first()
    if admin is None or admin.check_password(settings.CIVICGRID_DEMO_PASSWORD):
        return 0
    now = timezone.now()
    demo = User.objects.filter(is_demo=True)
    changed = demo.update(password=make_password(settings.CIVICGRID_DEMO_PASSWORD), password_changed_at=now)
    ApiToken.objects.filter(user__is_demo=True, revoked_at__isnull=True).update(revoked_at=now)
    record(actor=None, action=verbs.Auth.PASSWORD_CHANGED, target_type="access.user",
           target_repr=f"演示账号 {changed} 个", data={"demo_accounts": changed, "reason": "CIVICGRID_DEMO_PASSWORD"})
    return changed


def account_rows() -> list[tuple[str, str, str]]:
    """(username, role, scope) of the curated demo accounts that exist, for the table `make run` prints."""
    users = {u.username: u for u in User.objects.filter(username__in=[a.username for a in DEMO_ACCOUNTS], is_demo=True)}
    names = dict(Region.objects.filter(code__in={c for a in DEMO_ACCOUNTS for c in a.regions})
                 .values_list("code", "name"))
    orgs = dict(Organisation.objects.filter(code__in={a.department for a in DEMO_ACCOUNTS if a.department})
                .values_list("code", "short_name"))
    rows = []
    for a in DEMO_ACCOUNTS:
        if a.username not in users:
            continue
        if a.role == "superuser":
            rows.append((a.username, "超级管理员 superuser", "全部 / everything"))
            continue
        label = f"{Role(a.role).label} {a.role}"
        if a.department:
            scope = orgs.get(a.department, a.department)
        elif a.regions:
            scope = "、".join(names.get(c, c) for c in a.regions[:1]) + (f" 等 {len(a.regions)} 个网格"
                                                                          if len(a.regions) > 1 else "")
        else:
            scope = "（系统管理，无业务数据）"
        rows.append((a.username, label, scope))
    return rows
