"""Big ledgers go to the background worker and come back through the inbox, to the requester only and for a
limited time, audited as a ledger built in the request; the ledger's columns match the evaluation's departments
and say which step made a case 超期."""

from __future__ import annotations

import io
import stat
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.cases_documents import ledger, ledger_files
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.events import bus
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.builders import category

from .test_documents import IN_STREET, jpeg, sheet

pytestmark = pytest.mark.django_db


@pytest.fixture
def big(settings, tmp_path):
    """Any ledger of more than one line is "big"; files go to a data directory of the test's own."""
    settings.DATA_DIR = tmp_path
    settings.CIVICGRID_LEDGER_SYNC_MAX_ROWS = 1
    return tmp_path / "exports" / "ledger"


def _rows(body: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))


def test_a_big_ledger_is_built_by_the_worker_and_offered_in_the_requesters_inbox(client, loop, big, settings):
    client.force_login(loop["cd"])
    response = client.get("/documents/cases/ledger.xlsx", {"region": "140213"})
    assert response.status_code == 302 and response["Location"] == "/cases/?region=140213"
    page = client.get(response["Location"]).content.decode()
    assert "正在后台生成" in page
    message = Notification.objects.get(user=loop["cd"], kind="ledger_export")
    assert message.title.startswith("事件台账已生成：case-ledger-") and message.url.startswith("/documents/cases/ledger/")
    files = sorted(p.name for p in big.iterdir())
    assert len(files) == 2 and all(stat.S_IMODE((big / f).stat().st_mode) == 0o600 for f in files)
    # audited as the ledger built in the request is, once
    entry = AuditEntry.objects.get(action="data.exported", target_type="cases.case")
    assert entry.actor_id == loop["cd"].pk
    assert entry.data == {"filter": {"region": "140213"}, "rows": 2, "format": "xlsx"}

    download = client.get(message.url)
    assert download.status_code == 200 and download["Content-Disposition"].startswith('attachment; filename="case-')
    settings.CIVICGRID_LEDGER_SYNC_MAX_ROWS = 5000  # the same ledger built in the request: the same lines
    assert _rows(download.content) == sheet(client.get("/documents/cases/ledger.xlsx", {"region": "140213"}))
    assert len(_rows(download.content)) == 3

    # someone else (who may export too) gets nothing, nor does a made-up token; nothing is recorded
    audits = AuditEntry.objects.filter(action="data.exported").count()
    client.force_login(loop["sd"])
    assert client.get(message.url).status_code == 404
    assert client.get("/documents/cases/ledger/" + "A" * 32 + ".xlsx").status_code == 404
    assert client.get("/documents/cases/ledger/..%2F..%2Fsecret_key.xlsx").status_code == 404
    client.logout()
    assert client.get(message.url).status_code == 302
    assert AuditEntry.objects.filter(action="data.exported").count() == audits

    # past its time the file is removed and the link is gone
    client.force_login(loop["cd"])
    later = timezone.now() + timedelta(hours=settings.CIVICGRID_LEDGER_KEEP_HOURS, minutes=1)
    assert ledger_files.purge_expired(later) == 1 and not list(big.iterdir())
    assert client.get(message.url).status_code == 404


def test_a_small_ledger_stays_in_the_request_and_refusals_queue_nothing(client, loop, big):
    client.force_login(loop["sd"])  # one line in the street's ledger
    response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200 and len(sheet(response)) == 2
    client.force_login(loop["cd"])
    assert client.get("/documents/cases/ledger.xlsx", {"status": "nonsense"}).status_code == 400
    client.force_login(loop["worker"])
    assert client.get("/documents/cases/ledger.xlsx").status_code == 403
    assert not Notification.objects.filter(kind="ledger_export").exists()
    assert not big.exists() or not list(big.iterdir())
    assert AuditEntry.objects.filter(action="data.exported").count() == 1


def test_a_ledger_the_user_may_no_longer_export_is_refused_in_the_inbox(loop, big):
    """The worker reads the user's grants as they are when it builds: lost meanwhile, nothing is written."""
    from civicgrid.apps.cases.selectors import CaseFilter
    from civicgrid.foundation.access.models import Grant

    token = "B" * 32
    big.mkdir(parents=True)
    now = timezone.now()
    ledger_files._save(token, {"user": loop["cd"].pk, "filter": ledger.filter_data(CaseFilter()), "state": "queued",
                               "requested_at": now.isoformat(), "expires_at": (now + timedelta(hours=1)).isoformat()})
    Grant.objects.filter(user=loop["cd"]).delete()
    assert ledger_files.build(token) == "failed"
    assert ledger_files.build(token) == "failed"  # a redelivered task does nothing more
    message = Notification.objects.get(user=loop["cd"], kind="ledger_export")
    assert message.title == "事件台账导出失败：事件台账" and "无权" in message.body and not message.url
    assert not (big / f"{token}.xlsx").exists()
    assert not AuditEntry.objects.filter(action="data.exported").exists()


def test_the_ledger_names_the_evaluations_department_and_the_step_that_ran_late(client, loop):
    """平城区城市管理局 is ranked under its full name with its code (its short name 区城管局 for the page's dense
    table only), as the ledger names it; a case handled in time whose 核查 ran
    late is 超期 with a 处置期限 met: 超期环节 says 核查 and when it was due, 当前环节 what it waits for now."""
    Organisation.objects.filter(pk=loop["dept"].pk).update(name="平城区城市管理局", short_name="区城管局")
    case, _ = submit_case(actor=loop["worker"], title="垃圾满溢", lng=IN_STREET[0], lat=IN_STREET[1],
                          source="grid_worker", photos=[jpeg()], category=category().pk)
    for actor, action, inputs in (("cd", "accept", {}), ("cd", "dispatch", {"department": loop["dept"].pk}),
                                  ("handler", "report_back", {"note": "已清运"})):
        case = act(actor=loop[actor], case=case, action=action, **inputs)
    bus.dispatch_pending()
    verify = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.verify",
                                  state__in=("running", "paused"))
    due = timezone.now() - timedelta(minutes=1)
    SlaClock.objects.filter(pk=verify.pk).update(due_at=due, warn_at=due - timedelta(minutes=1))
    sweep(now=timezone.now())
    bus.dispatch_pending()
    case = Case.objects.get(pk=case.pk)
    assert case.is_overdue and CaseStep.objects.filter(case=case, action="auto_supervise").exists()

    client.force_login(loop["cd"])
    rows = sheet(client.get("/documents/cases/ledger.xlsx"))
    assert rows[0] == tuple(ledger.HEADERS)
    lines = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    late = lines[case.number]
    assert (late["处置部门"], late["责任部门代码"], late["责任部门简称"]) == ("平城区城市管理局", "D-CG", "区城管局")
    assert late["超期"] == "是" and late["超期环节"] == "核查"
    minute = timezone.localtime(due).replace(tzinfo=None, second=0, microsecond=0)
    assert late["超期环节期限"].replace(second=0, microsecond=0) == minute
    assert late["处置期限"] > late["处置时间"]  # the handling met its deadline
    assert late["当前环节"] == "核查" and late["当前环节期限"].replace(second=0, microsecond=0) == minute
    closed = lines[loop["case"].number]  # closed in time: nothing waits, nothing ran late
    assert closed["超期"] == "否" and closed["超期环节"] is None and closed["当前环节"] is None
    assert closed["责任部门代码"] == "D-CG"
    waiting = lines[loop["other"].number]  # reported, not accepted: waits for 受理 (no department yet)
    assert waiting["当前环节"] == "受理" and waiting["当前环节期限"] is not None and waiting["责任部门代码"] is None

    # the evaluation's department row carries the same name and code (the short name only for the page's table)
    from django.db.models import Q

    from civicgrid.apps.evaluation.selectors import SUBJECTS, _named

    named = _named(SUBJECTS["department"], {str(loop["dept"].pk): {}}, Q(pk__in=[]), [])
    assert (named[0].name, named[0].code, named[0].brief) == ("平城区城市管理局", "D-CG", "区城管局")


def test_the_worker_removes_ledgers_past_their_hours_though_nobody_asks_for_one_again(big, settings, monkeypatch):
    """Files were purged only by the next ledger request: a ledger nobody asked for again stayed on disk. The
    worker's registered job (`cases.ledger_purge`) removes them; a missing folder is left missing."""
    import json
    import os

    from django.core.management import call_command

    from civicgrid.foundation.core import jobs

    assert jobs.registered()["cases.ledger_purge"] is ledger_files.purge_job
    monkeypatch.setattr(ledger_files, "_next_purge", 0.0)
    # no ledger was ever queued: nothing to do, and no folder made
    call_command("worker", "--once", "--no-tasks", stdout=io.StringIO())
    assert not big.exists()

    big.mkdir(parents=True)
    now = timezone.now()
    for token, expires in (("old" + "A" * 29, now - timedelta(minutes=1)), ("new" + "B" * 29, now + timedelta(hours=1))):
        (big / f"{token}.json").write_text(json.dumps({"user": 1, "state": "ready", "expires_at": expires.isoformat()}))
        (big / f"{token}.xlsx").write_bytes(b"PK")
    # a ledger whose request a crash lost, older than its hours; and one just written
    stale = now.timestamp() - (settings.CIVICGRID_LEDGER_KEEP_HOURS * 3600 + 60)
    (big / ("lost" + "C" * 28 + ".xlsx")).write_bytes(b"PK")
    os.utime(big / ("lost" + "C" * 28 + ".xlsx"), (stale, stale))
    (big / ("busy" + "D" * 28 + ".xlsx")).write_bytes(b"PK")

    monkeypatch.setattr(ledger_files, "_next_purge", 0.0)  # (the first pass looked a moment ago)
    out = io.StringIO()
    call_command("worker", "--once", "--no-tasks", stdout=out)
    assert sorted(p.name for p in big.iterdir()) == ["busy" + "D" * 28 + ".xlsx", "new" + "B" * 29 + ".json",
                                                     "new" + "B" * 29 + ".xlsx"]
    assert out.getvalue().rstrip().endswith("2 job items")
    # within the minute the job does not look again; after it, it does
    (big / ("old" + "A" * 29 + ".json")).write_text(json.dumps({"expires_at": now.isoformat()}))
    assert ledger_files.purge_job() == 0 and len(list(big.iterdir())) == 4
    monkeypatch.setattr(ledger_files, "_next_purge", 0.0)
    assert ledger_files.purge_job() == 1 and len(list(big.iterdir())) == 3


def test_once_its_file_is_removed_the_ledgers_message_says_so_and_no_longer_links_to_it(client, loop, big, settings):
    """The message kept its 查看 after the file's hours, and it opened a 404: once the file is removed, the
    message says 已过期 and has no link; other messages keep theirs."""
    client.force_login(loop["cd"])
    assert client.get("/documents/cases/ledger.xlsx", {"region": "140213"}).status_code == 302
    message = Notification.objects.get(user=loop["cd"], kind="ledger_export")
    link = message.url
    other = Notification.objects.create(user=loop["cd"], kind="ledger_export", title="事件台账已生成：别的台账",
                                        url="/documents/cases/ledger/" + "B" * 32 + ".xlsx")
    assert f'value="{link}"' in client.get("/inbox/").content.decode()

    later = timezone.now() + timedelta(hours=settings.CIVICGRID_LEDGER_KEEP_HOURS, minutes=1)
    assert ledger_files.purge_expired(later) == 1

    message.refresh_from_db()
    assert message.url == "" and message.resolution == "已过期" and message.read_at is not None
    html = client.get("/inbox/").content.decode()
    assert link not in html and f'data-resolved="{message.pk}">已过期</span>' in html
    assert f'data-open="{message.pk}"' not in html and f'data-open="{other.pk}"' in html
    other.refresh_from_db()
    assert other.resolved_at is None and other.read_at is None
