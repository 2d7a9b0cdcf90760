"""Demo history of the grid-event loop: the last weeks of Pingcheng's cases, made by the real services.

A fresh demo would otherwise open on an empty command board, empty rankings and empty work lists. This stage
plays the loop forward through the same calls the pages make (`submit_case`, `act`, `rate`): grid workers
report from their grids and fix small things on the spot, the command centre takes 12345 hotline tickets,
checks, accepts, refuses, merges duplicates, dispatches and closes; department handlers start, report back,
ask for more time and now and then send a case back; grid workers verify on site with a photo and sometimes
send the work back (返工); leaders approve extensions and supervise; hotline callers rate the result. Most
cases finish on time, some late, some are still open today at every stage, and some are overdue now.

How: each case's course is a generator of waiting times; a heap runs all courses in time order, and Django's
clock (`django.utils.timezone.now`) is set to each moment in turn (`simulated_clock`), so every row the
services write (steps, clocks, audit, outbox, inbox) carries the moment it would have had. Between moments the
SLA sweep and the event delivery run as the worker would, so warnings, breaches and 超期自动督办 happen when
they fall due. The clock is set only inside this loader, which runs alone in its command; nothing else in
the product moves Django's clock.

The text of every report is written for this demo (no real message is used); people and phone numbers are
invented. Runs once: a database that already holds cases is left as it is.
"""

from __future__ import annotations

import heapq
import io
import logging
import random
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicgrid.apps.cases import clocks
from civicgrid.apps.cases.models import OPEN_STATUSES, Case, CaseReporter, Source, Status
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.access.models import User
from civicgrid.foundation.core.errors import CivicgridError, ValidationFailed
from civicgrid.foundation.notify.senders import Sender
from civicgrid.foundation.regions.models import Level, Region

from .orgs import DEPARTMENTS

log = logging.getLogger(__name__)
UNCHANGED = "已存在，未改动"
DEFAULT_DAYS = 30
MAX_DAYS = 366
GB = "gbt47678_5_2026"
PILOT_STREET = "140213066"

# (taxonomy, category code, weight, titles, details). Written for the demo.
SCENES: tuple[tuple[str, str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    (GB, "06010", 12, ("小区门口垃圾堆放", "绿化带内有暴露垃圾", "背街小巷垃圾无人清理"),
     ("堆放已有两天，气味较大，影响居民出入。", "塑料袋和建筑垃圾混在一起，约两平方米。")),
    (GB, "06042", 9, ("垃圾箱满溢", "垃圾桶满了没人清运"),
     ("垃圾溢出到地面，周边有异味。", "早上还没有清运，桶盖已经盖不上。")),
    (GB, "09006", 8, ("早市摊点占道经营", "水果摊占用人行道"),
     ("摊位摆到了车行道边，行人只能绕行。", "占用人行道约十米，影响通行。")),
    (GB, "09005", 6, ("餐馆店外摆桌经营", "商铺门前堆放商品"),
     ("晚上在门前人行道摆了六张桌子。", "货物堆到了盲道上。")),
    (GB, "07001", 6, ("楼道和电杆上贴满小广告", "墙面喷涂小广告"),
     ("单元门和电杆上有十多张开锁、办证广告。", "新刷的墙面又被喷了电话号码。")),
    (GB, "01003", 5, ("雨水井盖破损", "人行道井盖松动"),
     ("井盖一角碎裂，夜间行人容易踩空。", "踩上去有响声，盖板晃动。")),
    (GB, "01037", 5, ("路灯夜间不亮", "一排路灯不亮"),
     ("连续三晚不亮，路段较暗。", "从路口往东五盏路灯都不亮。")),
    (GB, "06013", 5, ("路面坑洼", "人行道地砖松动破损"),
     ("坑深约十厘米，下雨积水。", "地砖翘起，老人走路容易绊倒。")),
    (GB, "09010", 5, ("共享单车堵塞盲道", "电动车乱停放"),
     ("公交站旁单车堆放，占了盲道。", "几十辆电动车停在小区出入口。")),
    (GB, "09009", 4, ("车辆占用消防通道", "机动车长期占道停放"),
     ("消防通道被私家车堵住，已停放多日。", "一辆无牌车停在路边半个月没动。")),
    (GB, "06028", 3, ("夜间施工噪声扰民", "商铺外放音响扰民"),
     ("晚上十一点后仍在施工。", "门口音箱声音很大，从早放到晚。")),
    (GB, "06027", 2, ("烧烤店油烟直排", "餐馆油烟扰民"),
     ("油烟直接排向居民楼。", "楼上住户反映窗户不敢开。")),
    (GB, "04002", 3, ("行道树枯枝有坠落风险", "行道树倾斜"),
     ("大风后枯枝挂在树上，下方是人行道。", "树干向车道倾斜。")),
    (GB, "06017", 2, ("绿地脏乱", "游园内垃圾较多"),
     ("草坪里有较多塑料瓶和纸屑。", "游园长椅周边垃圾散落。")),
    (GB, "10001", 4, ("人行道积雪结冰未清理", "路口结冰路滑"),
     ("雪后人行道结冰，已有老人滑倒。", "公交站台前一片冰面。")),
    (GB, "08002", 2, ("施工占道未设围挡", "施工占道范围过大"),
     ("管线施工占了半幅道路，没有警示标志。", "围挡外扩，车辆通行困难。")),
    ("social", "0101", 3, ("楼上漏水引发邻里纠纷", "邻里之间因停车位发生争执"),
     ("双方多次协商未果，请社区调解。", "双方情绪激动，需要尽快介入。")),
    ("social", "0103", 2, ("业主与物业因收费发生纠纷",), ("多名业主对公摊费用有异议。",)),
    ("social", "0301", 3, ("楼道堆放杂物堵塞消防通道", "电动车在楼道内充电"),
     ("楼道里堆放纸箱和旧家具。", "有住户从窗户拉线给电动车充电。")),
    ("social", "0303", 2, ("老旧小区燃气管道锈蚀",), ("外墙燃气立管锈蚀明显，请尽快排查。",)),
    ("social", "0401", 4, ("小区暖气不热", "单元楼供暖温度偏低"),
     ("室内温度不到十六度，家中有老人。", "整个单元都反映不热。")),
    ("social", "0402", 1, ("独居老人需要上门照料",), ("老人行动不便，子女在外地。",)),
)
REFUSE_REASONS = ("经核实不属于本平台受理范围，已告知报告人", "现场无此问题", "与已办结案卷重复")
SEND_BACK_REASONS = ("不属于本部门职责，请重新派遣", "该位置由其他部门管养")
REWORK_REASONS = ("现场仍有残留，请返工", "整改不到位")
PROGRESS_NOTES = ("已安排人员到场", "已联系责任单位，正在处理", "材料已订购，待到货后处置")
HANDLED_NOTES = ("已处置完毕", "已清理完毕，恢复原状", "已修复", "已劝离并加强巡查", "已约谈当事人，问题已解决")
SUSPEND_REASONS = ("需纳入明年老旧小区改造计划统一解决",)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许"


@contextmanager
def simulated_clock(start: datetime) -> Iterator[list]:
    """Django's clock set to `moment[0]` for the block (the caller moves it forward); restored afterwards.

    `django.utils.timezone.now` is replaced, and so is every model field default that holds the original
    function (`default=timezone.now` captured it when the model was defined; Django also caches it per field)."""
    real = timezone.now
    moment = [start]

    def fake() -> datetime:
        return moment[0]

    fields = [f for model in apps.get_models() for f in model._meta.concrete_fields if f.default is real]
    timezone.now = fake
    for f in fields:
        f.default = fake
        f.__dict__.pop("_get_default", None)
    try:
        yield moment
    finally:
        timezone.now = real
        for f in fields:
            f.default = real
            f.__dict__.pop("_get_default", None)


class HistorySender(Sender):
    """The history's text messages go to invented callers: recorded as sent by this sender, sent nowhere."""

    name = "demo-history"

    def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        return None


@contextmanager
def _quiet_senders() -> Iterator[None]:
    path = f"{__name__}.HistorySender"
    saved = {name: getattr(settings, name, None) for name in ("CIVICGRID_SMS_SENDER", "CIVICGRID_EMAIL_SENDER")}
    for name in saved:
        setattr(settings, name, path)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The product's INFO lines (one per routed case, …) are noise for a history of hundreds of cases: only
    warnings are shown while it plays; the summary says what happened."""
    logger = logging.getLogger("civicgrid")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _photo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (160, 120), (72, 140, 90))
    ImageDraw.Draw(image).rectangle((20, 70, 140, 110), fill=(190, 190, 180))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=70)
    return buf.getvalue()


@dataclass
class Cast:
    """Who plays each part."""

    command: User
    street_dispatcher: User | None
    leader: User
    gridworker: User | None
    pilot_grids: set[str]
    handlers: dict[int, User]  # department id → a handler
    fallback_department: int


@dataclass
class Sim:
    rng: random.Random
    cast: Cast
    grids: list[tuple[str, float, float]]  # code, lng, lat (a point that locates to the grid)
    pilot: list[tuple[str, float, float]]
    scenes: list[tuple[Category, tuple, tuple]]
    weights: list[int]
    workers: dict[str, User]
    photo: bytes
    end: datetime  # the real now: the history stops there
    open_recent: deque = field(default_factory=lambda: deque(maxlen=40))  # accepted lately, newest last
    made: int = 0
    failed: int = 0

    # ---- helpers -------------------------------------------------------------------------------------
    def minutes(self, lo: float, hi: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(lo, hi))

    def waits(self, case: Case) -> bool:
        """In the last day and a half some steps are still to be taken: the demo's people find work waiting
        (待受理, 待派遣, 待核查, 待结案) as they would on any morning; more of it in the pilot street, where the
        curated accounts work."""
        if timezone.now() < self.end - timedelta(hours=36):
            return False
        return self.rng.random() < (0.7 if case.region_code.startswith(PILOT_STREET) else 0.3)

    def pilot_share(self) -> float:
        """How many reports come from the curated grid worker's grids: a few over the month, half of them in
        its last three days, so the accounts a visitor signs in with find cases of their own waiting (with a
        thousand grids, an even spread leaves most grids, theirs included, without a recent case)."""
        return 0.5 if timezone.now() >= self.end - timedelta(hours=72) else 0.15

    def dispatcher_for(self, case: Case) -> User:
        if self.cast.street_dispatcher and case.region_code.startswith(PILOT_STREET):
            return self.cast.street_dispatcher
        return self.cast.command

    def worker_for(self, grid_code: str) -> User | None:
        if grid_code in self.cast.pilot_grids and self.cast.gridworker and self.rng.random() < 0.6:
            return self.cast.gridworker
        return self.workers.get(grid_code)


def _staff_time(at: datetime, rng: random.Random, start: int = 8, end: int = 18) -> datetime:
    """`at`, or the next morning's start of work when it falls outside staff hours (district time)."""
    local = timezone.localtime(at)
    if start <= local.hour < end:
        return at
    day = local.date() + (timedelta(days=1) if local.hour >= end else timedelta())
    begin = datetime.combine(day, time(start), tzinfo=local.tzinfo)
    return begin + timedelta(minutes=rng.uniform(0, 50))


def _act(actor, case: Case, action: str, **inputs) -> Case:
    from civicgrid.apps.cases.services import act

    return act(actor=actor, case=case, action=action, **inputs)


def _intake(sim: Sim, case: Case, *, worker, hotline: bool) -> Iterator[timedelta]:
    """受理: a duplicate is merged, a few are refused, some are checked on site first; the rest are accepted and
    dispatched to the suggested department. Returns that department's id (None: the course ends here)."""
    rng, cast = sim.rng, sim.cast
    dispatcher = sim.dispatcher_for(case)
    parent = next((p for p in sim.open_recent if p.category_id == case.category_id and p.pk != case.pk
                   and p.grid_id == case.grid_id), None)
    if parent is not None and _still_open(parent):
        _act(cast.command, case, "merge", parent=parent.number)
        return None
    if rng.random() < 0.04:
        _act(dispatcher, case, "refuse", reason=rng.choice(REFUSE_REASONS))
        return None
    if not hotline and rng.random() < 0.08:
        _act(dispatcher, case, "check_request")
        yield _staff_time(timezone.now() + sim.minutes(30, 200), rng) - timezone.now()
        _act(worker, case, "check_result", result="confirmed", note="现场核实属实")
        yield sim.minutes(5, 40)
    if sim.waits(case):
        return None
    case = _act(dispatcher, case, "accept")
    sim.open_recent.append(case)
    yield sim.minutes(5, 50)
    if sim.waits(case):
        return None
    department = case.suggested_department_id or case.category.default_department_id
    if department not in cast.handlers:
        department = cast.fallback_department
    _act(dispatcher, case, "dispatch", department=department)
    return department


def _still_open(case: Case) -> bool:
    """Read again: still in hand and not merged into another, so the demo adds a duplicate to it (a case on hold,
    挂账, could take one too: the demo leaves those alone)."""
    case.refresh_from_db(fields=["status", "parent"])
    return case.status in OPEN_STATUSES and case.status != Status.SUSPENDED and case.parent_id is None


def _open_case_nearby(sim: Sim) -> Case | None:
    """A case accepted in the last day and still open, for a second report of the same thing."""
    since = timezone.now() - timedelta(days=1)
    return next((case for case in reversed(sim.open_recent)
                 if case.accepted_at and case.accepted_at >= since and _still_open(case)), None)


def _course(sim: Sim) -> Iterator[timedelta]:
    """One case's course: acts at the current (simulated) moment, yields how long until its next step."""
    from civicgrid.apps.cases.services import rate, submit_case

    rng, cast = sim.rng, sim.cast
    scene = rng.choices(sim.scenes, weights=sim.weights)[0]
    category, titles, details = scene
    code, lng, lat = rng.choice(sim.pilot) if sim.pilot and rng.random() < sim.pilot_share() else rng.choice(sim.grids)
    worker = sim.worker_for(code)
    if worker is None:
        return
    title, detail = rng.choice(titles), rng.choice(details)
    roll = rng.random()
    hotline = roll < 0.15
    jitter = (rng.uniform(-1, 1) * 0.0002, rng.uniform(-1, 1) * 0.0002)
    duplicate = _open_case_nearby(sim) if hotline and rng.random() < 0.3 else None
    if duplicate is not None:  # a resident calls about something a grid worker has already reported
        category, title, detail = duplicate.category, duplicate.title, f"市民来电反映：{duplicate.title}，希望尽快处理。"
        lng, lat, jitter = duplicate.lng, duplicate.lat, (0.0001, -0.0001)
        worker = sim.workers.get(duplicate.grid.code) or worker
    common = {"title": title, "description": detail, "lng": lng + jitter[0], "lat": lat + jitter[1],
              "category": category.pk}
    if not hotline and roll > 0.92 and category.taxonomy.code == GB:  # found and fixed on the spot
        # At the grid's own point: 自行处置 is recorded only inside the worker's grid, which the jitter may leave.
        submit_case(actor=worker, source=Source.SELF_HANDLED, self_handled=True, photos=[("after", sim.photo)],
                    **{**common, "lng": lng, "lat": lat})
        sim.made += 1
        return
    if hotline:
        name = rng.choice(SURNAMES) + rng.choice(("先生", "女士"))
        day = timezone.localdate()
        case, _ = submit_case(actor=cast.command, source=Source.HOTLINE, caller_name=name,
                              callback_phone=f"13{rng.randint(100000000, 999999999)}",
                              hotline_ticket=f"12345-{day:%Y%m%d}-{sim.made + 1:04d}", **common)  # one per call
    else:
        case, _ = submit_case(actor=worker, source=Source.GRID_WORKER, **common)
    sim.made += 1

    # intake: a duplicate is merged, a few are refused, some are checked on site first
    yield sim.minutes(8, 70)
    case.refresh_from_db()
    if case.status == Status.REPORTED:
        department = yield from _intake(sim, case, worker=worker, hotline=hotline)
        if department is None:
            return
        case.refresh_from_db()
    elif case.status == Status.DISPATCHED and case.department_id in cast.handlers:  # the router dispatched it
        department = case.department_id
        sim.open_recent.append(case)
    else:
        return
    if rng.random() < 0.05 and len(cast.handlers) > 1 and department != cast.fallback_department:
        # the wrong department sends it back; the command centre sends it to the city-management bureau
        yield _staff_time(timezone.now() + sim.minutes(30, 240), rng) - timezone.now()
        _act(cast.handlers[department], case, "send_back", reason=rng.choice(SEND_BACK_REASONS))
        yield sim.minutes(10, 60)
        case = _act(sim.dispatcher_for(case), case, "dispatch", department=cast.fallback_department)
        department = cast.fallback_department
    handler = cast.handlers[department]
    if rng.random() < 0.03:  # long-term: 挂账 by the command centre
        yield sim.minutes(60, 600)
        _act(cast.command, case, "suspend", reason=rng.choice(SUSPEND_REASONS))
        return

    rework = rng.random() < 0.08
    for attempt in range(2 if rework else 1):
        dispatched = timezone.now()
        yield _staff_time(dispatched + sim.minutes(10, 150), rng) - dispatched
        case = _act(handler, case, "start")
        if attempt == 0 and rng.random() < 0.04:  # stuck: still being handled today, long overdue
            yield sim.minutes(60, 600)
            _act(handler, case, "progress", note="涉及多个产权单位，正在协调")
            return
        span = (case.deadline - dispatched) if case.deadline else timedelta(days=1)
        late = rng.random() < 0.2
        share = rng.uniform(1.05, 2.2) if late else rng.uniform(0.15, 0.85)
        finish = dispatched + span * share
        if rng.random() < 0.25:
            yield max(timedelta(minutes=5), (finish - timezone.now()) / 2)
            case = _act(handler, case, "progress", note=rng.choice(PROGRESS_NOTES))
        # 延期 is asked for within the time limit only (the workflow refuses it once the deadline has passed)
        if late and attempt == 0 and rng.random() < 0.3 and case.deadline and timezone.now() < case.deadline:
            # a day's delay, or less where the category's limit allows less (at most twice its limit)
            hours = min(24.0, clocks.extension_max_hours(case))
            _act(handler, case, "request_extension", reason="需协调产权单位，申请延期", hours=hours)
            yield sim.minutes(30, 180)
            case = _act(cast.leader, case, "decide_extension", decision="approve")
        elif late and case.deadline and rng.random() < 0.4:
            wait = case.deadline + sim.minutes(60, 300) - timezone.now()
            if wait > timedelta():
                yield wait
                case = _act(cast.leader, case, "supervise", note="请责任部门加快办理，尽快办结")
        yield max(timedelta(minutes=5), _staff_time(finish, rng) - timezone.now())
        case = _act(handler, case, "report_back", note=rng.choice(HANDLED_NOTES))
        verifier = sim.worker_for(case.grid.code if case.grid_id else code) or worker
        yield _staff_time(timezone.now() + sim.minutes(40, 360), rng) - timezone.now()
        if sim.waits(case):
            return
        if rework and attempt == 0:
            case = _act(verifier, case, "rework", reason=rng.choice(REWORK_REASONS))
            continue
        case = _act(verifier, case, "verify", photos=[sim.photo], note="现场核查，已整改到位")
    yield sim.minutes(10, 90)
    if sim.waits(case):
        return
    case = _act(sim.dispatcher_for(case), case, "close")
    if hotline and rng.random() < 0.7:
        yield sim.minutes(60, 60 * 20)
        token = CaseReporter.objects.filter(case=case).values_list("follow_token", flat=True).first()
        if token:
            rate(follow_token=token, score=rng.choices((5, 4, 3, 2), weights=(70, 20, 7, 3))[0])


def _cast() -> Cast | None:
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.access.roles import Role
    from civicgrid.foundation.orgs.models import Organisation

    users = {u.username: u for u in User.objects.filter(
        username__in=["command", "dispatcher", "leader", "gridworker"], is_demo=True)}
    if "command" not in users or "leader" not in users:
        return None
    handlers: dict[int, User] = {}
    for grant in (Grant.objects.filter(role=Role.DEPARTMENT_HANDLER, user__is_demo=True, user__is_active=True,
                                       department__isnull=False).select_related("user").order_by("user__username")):
        handlers.setdefault(grant.department_id, grant.user)
    fallback = Organisation.objects.filter(code=DEPARTMENTS["区城管局"][0]).values_list("id", flat=True).first()
    if fallback not in handlers:
        return None
    pilot = set(Grant.objects.filter(user=users.get("gridworker"), role=Role.GRID_WORKER)
                .values_list("region__code", flat=True)) if "gridworker" in users else set()
    return Cast(command=users["command"], street_dispatcher=users.get("dispatcher"), leader=users["leader"],
                gridworker=users.get("gridworker"), pilot_grids=pilot, handlers=handlers, fallback_department=fallback)


def _grid_points() -> list[tuple[str, float, float]]:
    from civicgrid.foundation.regions.selectors import locate

    points = []
    for code, lng, lat in Region.objects.filter(level=Level.GRID).order_by("code").values_list(
            "code", "centroid_lng", "centroid_lat"):
        if lng is None or lat is None:
            continue
        try:
            found = locate(lng, lat, "wgs84")
        except CivicgridError:
            continue
        if found.grid is not None and found.grid.code == code:
            points.append((code, lng, lat))
    return points


def _scenes() -> tuple[list, list[int]]:
    wanted = {(t, c): (w, titles, details) for t, c, w, titles, details in SCENES}
    found = Category.objects.filter(taxonomy__code__in={t for t, _ in wanted}, code__in={c for _, c in wanted},
                                    is_active=True).select_related("taxonomy")
    scenes, weights = [], []
    for category in found:
        w, titles, details = wanted.get((category.taxonomy.code, category.code), (0, (), ()))
        if w:
            scenes.append((category, titles, details))
            weights.append(w)
    return scenes, weights


def _report_moments(rng: random.Random, first: datetime, last: datetime) -> list[datetime]:
    """When reports come in: more on working days, mostly in the day."""
    moments = []
    day = timezone.localtime(first).date()
    while True:
        begin = datetime.combine(day, time(0), tzinfo=timezone.get_current_timezone())
        if begin > last:
            break
        count = rng.randint(10, 16) if day.weekday() < 5 else rng.randint(4, 7)
        for _ in range(count):
            hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 11, 10, 8, 9, 10, 10, 9, 8, 6, 5,
                                                  4, 3, 2, 1])[0]
            at = begin + timedelta(hours=hour, minutes=rng.uniform(0, 60))
            if first <= at <= last:
                moments.append(at)
        day += timedelta(days=1)
    return sorted(moments)


def _backdate_demo_grants(start: datetime) -> None:
    """The demo's people have held their posts since before the history begins: their grants (made a moment
    ago by the accounts stage) are made valid from then, in one audited step."""
    from civicgrid.foundation.access.models import Grant
    from civicgrid.foundation.audit import verbs
    from civicgrid.foundation.audit.service import record

    since = start - timedelta(days=1)
    n = Grant.objects.filter(user__is_demo=True, valid_from__gt=since).update(valid_from=since)
    if n:
        record(actor=None, action=verbs.Access.GRANT_BACKDATED, target_type="access.grant",
               target_repr=f"演示授权 {n} 条", data={"demo_grants": n, "valid_from": since.isoformat()})


def _read_old_messages(before: datetime) -> None:
    """People read their inboxes: what the history put there more than two days ago was read within the hour."""
    from django.db.models import F

    from civicgrid.foundation.notify.models import Notification

    Notification.objects.filter(created_at__lt=before, read_at__isnull=True).update(
        read_at=F("created_at") + timedelta(hours=1))


def _sweep() -> None:
    from civicgrid.foundation.sla.sweep import sweep

    sweep()


def _deliver() -> None:
    """Events to their handlers, then the text messages they queued (to the history's sender), as the worker
    does (inside the history's transaction, where the messages' own after-commit delivery would come late)."""
    from civicgrid.foundation.events import bus
    from civicgrid.foundation.notify.services import deliver_pending

    while bus.dispatch_pending(limit=500):
        pass
    while deliver_pending():
        pass


def check_days(days: int | None) -> int:
    """The history's length: `days`, or the setting; a clear error outside 0–366."""
    days = getattr(settings, "CIVICGRID_DEMO_HISTORY_DAYS", DEFAULT_DAYS) if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        raise ValidationFailed(f"事件历史天数须为 0–{MAX_DAYS} 的整数 / history days must be a whole number from 0 to "
                               f"{MAX_DAYS}", field="history_days")
    return days


def load_demo_cases(days: int | None = None, *, seed: int = 140213) -> str:
    """Play the last `days` days of the loop (default: the setting `CIVICGRID_DEMO_HISTORY_DAYS`); returns a
    summary. On a database that already holds cases nothing is done."""
    days = check_days(days)
    if days == 0:
        return "跳过（未要求事件历史） / skipped (no history asked for)"
    if Case.objects.exists():
        return UNCHANGED
    rng = random.Random(seed)
    cast = _cast()
    scenes, weights = _scenes()
    grids = _grid_points()
    if cast is None or not scenes or not grids:
        return "跳过：缺少演示账号、事件分类或网格"
    end = timezone.now()
    start = datetime.combine(timezone.localdate() - timedelta(days=days), time(0),
                             tzinfo=timezone.get_current_timezone())
    workers = {u.username[2:]: u for u in User.objects.filter(is_demo=True, username__startswith="wg")}
    sim = Sim(rng=rng, cast=cast, grids=grids, pilot=[g for g in grids if g[0] in cast.pilot_grids], scenes=scenes,
              weights=weights, workers=workers, photo=_photo(), end=end)
    queue: list[tuple[datetime, int, Iterator[timedelta]]] = []
    for i, at in enumerate(_report_moments(rng, start, end)):
        queue.append((at, i, _course(sim)))
    heapq.heapify(queue)
    swept = delivered = start
    # One transaction: the history is there whole or not at all (and SQLite commits once, not per step).
    with _quiet_senders(), _quiet_logs():
        with transaction.atomic(), simulated_clock(start) as moment:
            _backdate_demo_grants(start)
            while queue:
                at, i, course = heapq.heappop(queue)
                if at > end:
                    continue  # still waiting today: the case stays where it is
                moment[0] = at
                if at - swept >= timedelta(minutes=10):
                    _sweep()
                    swept = at
                try:
                    wait = next(course)
                except StopIteration:
                    wait = None
                except CivicgridError as exc:  # a course the rules refused: say so, keep the rest
                    log.warning("demo history: a case's course stopped: %s", exc.message)
                    sim.failed += 1
                    wait = None
                if at - delivered >= timedelta(minutes=2):  # the worker delivers new events soon after
                    _deliver()
                    delivered = at
                if wait is not None:
                    heapq.heappush(queue, (at + max(wait, timedelta(seconds=1)), i, course))
        _sweep()  # up to the real now: what fell due since the last simulated moment
        _deliver()
        _read_old_messages(end - timedelta(days=2))
    return _summary(sim, days)


def _summary(sim: Sim, days: int) -> str:
    from django.db.models import Count

    by_status = dict(Case.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    open_now = sum(n for s, n in by_status.items() if s in OPEN_STATUSES)
    overdue = Case.objects.filter(status__in=OPEN_STATUSES, is_overdue=True).count()
    text = (f"近 {days} 天案件 {sim.made} 件（已结案 {by_status.get(Status.CLOSED, 0)}，在办 {open_now}，"
            f"其中超期 {overdue}）")
    if sim.failed:
        text += f"；{sim.failed} 件的流程未能走完（见日志）"
    return text
