"""Desk forms that bring a case in: the 12345 hotline hand-over (转办) for dispatchers, and the web report
form for staff. Both post an ordinary form (with a hidden idempotency key, so a double click or a resent form
makes one case) and call `cases.services.submit_case`; the location comes from a click on the map, a typed
point, or the place the text names (the gazetteer's proposal, shown on the map to confirm), failing those the
GPS of a photo. As the operator types, the form shows the router's suggestion (`ui:router_suggest`, htmx).
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from civicgrid.apps.cases import selectors, services
from civicgrid.apps.cases.models import Source
from civicgrid.apps.cases.services.intake import allowed_sources, is_public_only
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.core.ratelimit import RateLimited

from .cases_report import map_context, script_messages
from .cases_shared import category_groups, error_text, report_source
from .common import capability_required
from .follow import JUST_REPORTED

CRS_CHOICES = [("wgs84", _("WGS-84（GPS）")), ("gcj02", _("GCJ-02（国内地图）")), ("bd09", _("BD-09（百度地图）"))]
# Channels a member of staff may record a desk report under (hotline cases use their own form).
WEB_SOURCES = [Source.GRID_WORKER, Source.PUBLIC, Source.VIDEO, Source.SUPERIOR, Source.DRONE]
# The service's field names where the form calls them otherwise (its errors go next to the right input).
FORM_FIELD = {"location": "lng", "lat": "lng", "reporter_phone": "callback_phone", "reporter_name": "caller_name"}


class ReportForm(forms.Form):
    """What every desk report holds; the service checks the values again."""

    title = forms.CharField(label=_("标题"), max_length=200)
    description = forms.CharField(label=_("描述"), max_length=4000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    category = forms.TypedChoiceField(label=_("分类"), coerce=int, required=False, empty_value=None)
    address = forms.CharField(label=_("地址"), max_length=200, required=False)
    lng = forms.FloatField(label=_("经度"), required=False, min_value=-180, max_value=180)
    lat = forms.FloatField(label=_("纬度"), required=False, min_value=-90, max_value=90)
    crs = forms.ChoiceField(label=_("坐标系"), choices=CRS_CHOICES, initial="wgs84")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, groups: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups
        self.fields["category"].choices = [("", "")] + [
            (o["id"], o["name"]) for g in groups for o in g["options"]]


class HotlineForm(ReportForm):
    """12345 转办: the caller, a number to call back, and the hotline's own ticket number."""

    caller_name = forms.CharField(label=_("来电人"), max_length=64, required=False)
    callback_phone = forms.CharField(label=_("回访电话"), max_length=40, required=False)
    # Required (the service refuses a hand-over without one too); its form is the service's to check, after it
    # has canonicalised what was typed (`cases.models.normalise_ticket`).
    hotline_ticket = forms.CharField(label=_("热线工单号"), max_length=40,
                                     error_messages={"required": _("12345 热线转办须填写热线工单号")},
                                     widget=forms.TextInput(attrs={"placeholder": "12345-20261130-0001"}))


class WebReportForm(ReportForm):
    """A report typed in by staff at a desk (a walk-in, a video patrol, a task from above …)."""

    source = forms.ChoiceField(label=_("来源"), choices=[(s.value, s.label) for s in WEB_SOURCES])
    is_major = forms.BooleanField(label=_("重大事件"), required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user is not None:  # only the sources this account may report through (the services check it too)
            allowed = set(allowed_sources(user))
            self.fields["source"].choices = [(s.value, s.label) for s in WEB_SOURCES if s in allowed]
            if is_public_only(user):
                del self.fields["is_major"]


def _photos(request) -> list:
    return [("photo", f) for f in request.FILES.getlist("photos")]


def _submit(request, form: ReportForm, **extra):
    data = form.cleaned_data
    return services.submit_case(
        actor=request.user, title=data["title"], description=data["description"], lng=data["lng"],
        lat=data["lat"], crs=data["crs"], category=data["category"], address=data["address"],
        photos=_photos(request), idempotency_key=data["idempotency_key"], **extra,
    )


def propose_place(data: dict) -> dict | None:
    """The place the report's address or text names (gazetteer), when no point was given: proposed on the map
    for the operator to confirm, never used unseen."""
    if data.get("lng") is not None and data.get("lat") is not None:
        return None
    from civicgrid.integrations.router.gazetteer import confident_place, find_place

    for text in (data.get("address") or "", f"{data.get('title') or ''} {data.get('description') or ''}"):
        if text.strip():
            place = confident_place(text) or next((p for p in find_place(text, limit=3) if p["grid_code"]), None)
            if place is not None:
                return place
    return None


def _with_proposal(form: ReportForm, place: dict) -> ReportForm:
    """The same form again with the proposed point filled in (WGS-84) and a request to confirm it."""
    data = form.data.copy()
    data["lng"], data["lat"], data["crs"] = f"{place['lng']:.6f}", f"{place['lat']:.6f}", "wgs84"
    again = form.__class__(data, groups=form.groups, **({"user": form.user} if getattr(form, "user", None) else {}))
    again.is_valid()
    again.add_error(None, _("报告中未给出位置：已按文中提到的「%(name)s」在地图上标出建议位置（网格 %(grid)s），"
                            "请确认或在地图上点选其他位置后再次登记") % {"name": place["name"],
                                                                  "grid": place["grid_code"] or "—"})
    return again


# What the form says when its hidden one-time key is refused: nobody can correct a hidden input, so the message
# is the form's own and says what to do.
KEY_REUSED = _("该表单已用于另一份内容不同的上报，请刷新页面后重新填写")
FORM_STALE = _("该表单已失效，请刷新页面后重新填写")


def _hidden_text(exc: CivicgridError, field: str, form: ReportForm) -> str:
    """The actionable text for a service refusal of a hidden input ("" for a visible one)."""
    if field not in form.fields or not form.fields[field].widget.is_hidden:
        return ""
    return str(KEY_REUSED if getattr(exc, "code", "") == "conflict" else FORM_STALE)


def _hidden_errors_to_form(form: ReportForm) -> None:
    """Errors on hidden inputs (the form's one-time key) shown as the form's own: a hidden input draws no message
    and cannot be corrected. Django's own refusals of one (missing, too long) read as a stale form."""
    for name in [n for n in form.errors if n in form.fields and form.fields[n].widget.is_hidden]:
        texts = form.errors.pop(name)
        shown = [t for t in texts if t in (str(KEY_REUSED), str(FORM_STALE))] or [str(FORM_STALE)]
        for text in shown:
            form.add_error(None, text)


def _existing_case(user, number: str) -> str | None:
    """The case a refused 12345 ticket already became, when the user may open it (the form links it). The
    service names the case only then too; otherwise its message says whom to ask."""
    return number if number and selectors.may_open(user, number) else None


def _after_report(request, case):
    """Where a report made through a desk form opens: the case page for whoever reads it there; for a resident or
    volunteer (the form takes their reports too, as 群众上报), who reads no case files (the case page answers them
    403), the report's follow page, which shows their link once as the phone page's success card does
    (`follow.JUST_REPORTED`), else 我的上报. Staff outside the case's scope get its follow page too."""
    if selectors.may_open(request.user, case.number):
        return redirect("ui:case_detail", case.number)
    token = getattr(case, "follow_token", "")
    if not token:
        return redirect("ui:my_reports")
    request.session[JUST_REPORTED] = case.number
    return redirect("ui:follow", token)


def _page(request, form_class, template_extra: dict, submit, initial: dict, **form_kwargs):
    """GET: an empty form with a fresh key; POST: report through `submit`, then open the new case. A report
    without a point whose text names a known place comes back with that place proposed on the map."""
    groups = category_groups(request.user)
    proposal = refused = existing = None
    if request.method == "POST":
        form = form_class(request.POST, groups=groups, **form_kwargs)
        # A photo's GPS still locates a report without a typed point (the service reads it): no proposal then.
        if (form.is_valid() and not request.FILES.getlist("photos")
                and (proposal := propose_place(form.cleaned_data)) is not None):
            form = _with_proposal(form, proposal)
        elif form.is_valid():
            try:
                case, created = submit(form)
            except CivicgridError as exc:
                field = FORM_FIELD.get(exc.field, exc.field)
                form.add_error(field if field in form.fields else None, _hidden_text(exc, field, form) or error_text(exc))
                refused = exc
                existing = _existing_case(request.user, getattr(exc, "case_number", ""))
            else:
                if created:
                    messages.success(request, _("已登记，案卷号 %(number)s") % {"number": case.number})
                else:
                    messages.info(request, _("该表单已提交过，案卷号 %(number)s") % {"number": case.number})
                return _after_report(request, case)
        status = 429 if isinstance(refused, RateLimited) else 400
        _hidden_errors_to_form(form)
        # The first input refused takes the focus (its message is tied to it: aria-describedby, by Django); a
        # hidden input takes none (its errors are the form's, above).
        focus_field = next((name for name in form.fields
                            if form.has_error(name) and not form.fields[name].widget.is_hidden), "")
        if focus_field and focus_field != "category":  # the category <select> is drawn by the template
            form.fields[focus_field].widget.attrs["autofocus"] = True
    else:
        form = form_class(initial={"idempotency_key": uuid.uuid4().hex, "crs": "wgs84", **initial}, groups=groups,
                          **form_kwargs)
        status = 200
        focus_field = ""
    # The desk forms have no address picker: their hints name the map and the coordinates only.
    context = {"form": form, "focus_field": focus_field, "groups": groups,
               "script_messages": script_messages(address_picker=False), "proposal": proposal,
               "existing_case": existing,
               # the breadcrumb's parent: the case list for staff who read it, 我的上报 for residents and volunteers
               "can_view_cases": has_capability(request.user, "cases.view"),
               **template_extra, **map_context(request.user, "cases.report")}
    response = render(request, "cases/intake_form.html", context, status=status)
    for name, value in getattr(refused, "headers", {}).items():  # a 429's Retry-After
        response[name] = value
    return response


@require_http_methods(["GET", "POST"])
@capability_required("cases.intake")
def hotline_intake(request):
    """12345 热线转办: the dispatcher records the caller's report; a caller with a mobile number is told by SMS
    at each step (received with the follow link, accepted, dispatched, handled, closed with the link to rate)."""

    def submit(form):
        d = form.cleaned_data
        return _submit(request, form, source=Source.HOTLINE, caller_name=d["caller_name"],
                       callback_phone=d["callback_phone"], hotline_ticket=d["hotline_ticket"])

    extra = {"mode": "hotline", "heading": _("12345 热线转办")}
    return _page(request, HotlineForm, extra, submit, {})


@require_http_methods(["GET", "POST"])
@capability_required("cases.report")
def web_report(request):
    """The staff's web report form (desk reports; field staff on a phone use the report page)."""

    def submit(form):
        d = form.cleaned_data
        return _submit(request, form, source=d["source"], is_major=d.get("is_major", False))

    extra = {"mode": "web", "heading": _("登记事件"), "can_hotline": has_capability(request.user, "cases.intake")}
    return _page(request, WebReportForm, extra, submit, {"source": report_source(request.user)}, user=request.user)
