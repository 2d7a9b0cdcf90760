"""Organisation use cases: create organisations and posts, one at a time (audited each) or in bulk (one
summary audit record per batch, for loaders).

Changing the organisation directory is the system administrator's work (`orgs.change`); `actor=None` is the
system itself (loaders, management commands).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction

from ..access.scope import has_capability
from ..audit import verbs
from ..audit.service import record, snapshot
from ..core.errors import PermissionDenied, ValidationFailed
from ..events.bus import publish
from ..regions.models import Region
from .models import Organisation, OrgKind, Post

TOPIC_ORGS_LOADED = "orgs.loaded"


def _require(actor) -> None:
    if actor is not None and not has_capability(actor, "orgs.change"):
        raise PermissionDenied("只有系统管理员可以维护组织机构 / only the system administrator changes organisations")


@dataclass(frozen=True)
class OrgSpec:
    """An organisation to ensure: unique code, name, kind, the region code it serves, optional parent code."""

    code: str
    name: str
    kind: str
    region_code: str
    parent_code: str = ""
    short_name: str = ""
    duties: str = ""
    address: str = ""


@dataclass(frozen=True)
class PostSpec:
    """A post to ensure in an organisation (by code), optionally held by an account (by username)."""

    org_code: str
    title: str
    username: str = ""
    is_lead: bool = False


def _check_spec(spec: OrgSpec) -> None:
    if not spec.code or len(spec.code) > 32:
        raise ValidationFailed(f"机构代码须为 1–32 个字符：{spec.code!r}", field="code")
    if not spec.name or len(spec.name) > 100:
        raise ValidationFailed(f"机构名称须为 1–100 个字符：{spec.name!r}", field="name")
    if spec.kind not in OrgKind.values:
        raise ValidationFailed(f"未知的机构类型：{spec.kind!r}", field="kind")


@transaction.atomic
def create_organisation(*, actor, spec: OrgSpec) -> Organisation:
    """Create one organisation (audited, event `orgs.created`)."""
    _require(actor)
    _check_spec(spec)
    if Organisation.objects.filter(code=spec.code).exists():
        raise ValidationFailed(f"机构代码 {spec.code} 已存在 / code already exists", field="code")
    region = Region.objects.filter(code=spec.region_code).only("id", "code").first()
    if region is None:
        raise ValidationFailed(f"区域 {spec.region_code} 不存在 / unknown region", field="region")
    parent = None
    if spec.parent_code:
        parent = Organisation.objects.filter(code=spec.parent_code).first()
        if parent is None:
            raise ValidationFailed(f"上级机构 {spec.parent_code} 不存在 / unknown parent", field="parent")
    org = Organisation.objects.create(
        code=spec.code, name=spec.name, kind=spec.kind, region=region, region_code=region.code, parent=parent,
        short_name=spec.short_name, duties=spec.duties, address=spec.address,
    )
    record(actor=actor, action=verbs.Data.CREATED, target=org, after=snapshot(org))
    publish("orgs.created", aggregate=org, payload={"code": org.code, "kind": org.kind})
    return org


@transaction.atomic
def add_post(*, actor, organisation: Organisation, title: str, user=None, is_lead: bool = False) -> Post:
    """Add a post to an organisation, optionally held by an account (audited)."""
    _require(actor)
    title = (title or "").strip()
    if not title or len(title) > 64:
        raise ValidationFailed("岗位名称须为 1–64 个字符 / a post title is 1-64 characters", field="title")
    post = Post.objects.create(organisation=organisation, title=title, user=user, is_lead=is_lead)
    record(actor=actor, action=verbs.Data.CREATED, target=post, region_code=organisation.region_code,
           after=snapshot(post))
    return post


@transaction.atomic
def ensure_organisations(*, actor, specs: Sequence[OrgSpec]) -> list[str]:
    """Create the organisations whose codes do not exist yet (parents before children); returns new codes.

    Existing organisations are left as they are, so running a loader twice changes nothing.
    """
    _require(actor)
    for spec in specs:
        _check_spec(spec)
    existing = {o.code: o for o in Organisation.objects.filter(code__in=[s.code for s in specs]).only("id", "code")}
    regions = {r.code: r for r in Region.objects.filter(code__in={s.region_code for s in specs}).only("id", "code")}
    missing_regions = sorted({s.region_code for s in specs} - set(regions))
    if missing_regions:
        raise ValidationFailed(f"区域不存在：{'、'.join(missing_regions[:10])} / unknown regions", field="region")
    created: list[str] = []
    pending = [s for s in specs if s.code not in existing]
    # Parents first: a spec waits until its parent exists (at most as many rounds as the hierarchy is deep).
    while pending:
        ready = [s for s in pending if not s.parent_code or s.parent_code in existing]
        if not ready:
            raise ValidationFailed(f"上级机构不存在：{pending[0].parent_code} / unknown parent", field="parent")
        rows = Organisation.objects.bulk_create([
            Organisation(code=s.code, name=s.name, kind=s.kind, region=regions[s.region_code],
                         region_code=s.region_code, parent=existing.get(s.parent_code) if s.parent_code else None,
                         short_name=s.short_name, duties=s.duties, address=s.address)
            for s in ready
        ], batch_size=500)
        for org in rows:
            existing[org.code] = org
            created.append(org.code)
        done = {s.code for s in ready}
        pending = [s for s in pending if s.code not in done]
    if created:
        new_codes = set(created)
        kinds = {k: sum(1 for s in specs if s.kind == k and s.code in new_codes) for k in OrgKind.values}
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="orgs.organisation",
               target_repr=f"组织机构 {len(created)} 个", data={"created": len(created),
                                                            "kinds": {k: n for k, n in kinds.items() if n}})
        publish(TOPIC_ORGS_LOADED, payload={"created": len(created)})
    return created


@transaction.atomic
def ensure_posts(*, actor, specs: Iterable[PostSpec]) -> int:
    """Create the posts not present yet (same organisation, title and holder); returns how many were added."""
    from ..access.models import User

    _require(actor)
    specs = list(specs)
    orgs = {o.code: o for o in Organisation.objects.filter(code__in={s.org_code for s in specs}).only("id", "code")}
    users = {u.username: u for u in User.objects.filter(username__in={s.username for s in specs if s.username})
             .only("id", "username")}
    have = set(Post.objects.filter(organisation__in=list(orgs.values()))
               .values_list("organisation_id", "title", "user_id"))
    new = []
    for s in specs:
        org = orgs.get(s.org_code)
        if org is None:
            raise ValidationFailed(f"机构 {s.org_code} 不存在 / unknown organisation", field="organisation")
        user = users.get(s.username) if s.username else None
        key = (org.pk, s.title, user.pk if user else None)
        if key not in have:
            have.add(key)
            new.append(Post(organisation=org, title=s.title[:64], user=user, is_lead=s.is_lead))
    Post.objects.bulk_create(new, batch_size=500)
    if new:
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="orgs.post", target_repr=f"岗位 {len(new)} 个",
               data={"created": len(new)})
    return len(new)
