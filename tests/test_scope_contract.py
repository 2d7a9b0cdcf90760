"""The scope contract over every URL of the project (see civicgrid.testing.contract for the rules).

The scope check of the web pages (`ui:`) is in test_scope_contract_ui.py: with `--dist loadfile` a file runs on
one worker, and the checks of all the URLs together took one worker for minutes at the end of the run."""

import pytest

from civicgrid.testing import contract

DATA, _ = contract.load_registry()
NAMES = sorted(DATA)
# The pages' scope checks run in test_scope_contract_ui.py; these are every other URL's (the API's).
UI_NAMES = [name for name in NAMES if name.startswith("ui:")]
OTHER_NAMES = [name for name in NAMES if not name.startswith("ui:")]


def report(problems: list[str]) -> str:
    shown = problems[:40]
    more = f"\n… and {len(problems) - 40} more" if len(problems) > 40 else ""
    return "\n".join(shown) + more


def test_every_url_is_declared():
    """An undeclared URL fails here, with the declaration to add."""
    problems = contract.registry_problems()
    assert not problems, "\n" + report(problems)


@pytest.mark.django_db
def test_contract_data_exercise_scope(world):
    problems = contract.scope_coverage_problems(world)
    assert not problems, "\n" + report(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", OTHER_NAMES)
def test_data_endpoint_stays_in_scope(world, url_name):
    problems = contract.Checker(world, DATA[url_name]).run()
    assert not problems, "\n" + report(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", NAMES)
def test_data_endpoint_refuses_anonymous(world, url_name):
    problems = contract.Checker(world, DATA[url_name]).check_anonymous()
    assert not problems, "\n" + report(problems)


# --- the contract itself catches leaks: views that forget scope in the usual ways --------------------------

from django.http import Http404, JsonResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

from civicgrid.foundation.access.endpoints import DataEndpoint  # noqa: E402
from civicgrid.foundation.access.scope import has_capability  # noqa: E402
from civicgrid.foundation.regions.models import Region  # noqa: E402


def _leaky_list(request):
    return JsonResponse({"items": [{"code": r.code} for r in Region.objects.all()]})


def _leaky_detail(request, code):
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise Http404
    return JsonResponse({"code": region.code, "name": region.name})


def _existence_oracle(request, code):
    """Scoped, but says 403 for an object that exists outside scope and 404 for one that does not."""
    if not Region.objects.filter(code=code).exists():
        raise Http404
    if not Region.objects.visible_to(request.user).filter(code=code).exists():
        return JsonResponse({"detail": "forbidden"}, status=403)
    return JsonResponse({"code": code})


def _leaky_table(request):
    if not has_capability(request.user, "regions.view"):
        return JsonResponse({}, status=403)
    rows = "".join(f'<tr data-oid="{r.pk}"><td>{r.name}</td></tr>' for r in Region.objects.all())
    from django.http import HttpResponse

    return HttpResponse(f'<table data-model="regions.region">{rows}</table>', content_type="text/html")


urlpatterns = [
    path("leaky/list", _leaky_list, name="leaky_list"),
    path("leaky/<str:code>", _leaky_detail, name="leaky_detail"),
    path("oracle/<str:code>", _existence_oracle, name="oracle_detail"),
    path("table", _leaky_table, name="leaky_table"),
    path("", include("config.urls")),
]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(
    "endpoint, expected",
    [
        (DataEndpoint("leaky_list", "regions.Region", "list"), "outside the user's scope"),
        (DataEndpoint("leaky_detail", "regions.Region", "detail", "code", "code"), "outside the user's scope"),
        (DataEndpoint("oracle_detail", "regions.Region", "detail", "code", "code"), "as a missing object does"),
        (DataEndpoint("leaky_table", "regions.Region", "list"), "outside the user's scope"),
    ],
    ids=["list", "detail", "403-oracle", "html-table"],
)
def test_the_contract_catches_a_leak(world, endpoint, expected):
    problems = contract.Checker(world, endpoint).run()
    assert problems and all(expected in p or "no in-scope" in p for p in problems), problems[:5]
    assert any(expected in p for p in problems)


@override_settings(ROOT_URLCONF=__name__)
def test_an_undeclared_url_is_reported_with_the_declaration_to_add():
    problems = contract.registry_problems()
    leaky = [p for p in problems if "'leaky_list'" in p]
    assert leaky and "data_endpoint('leaky_list'" in leaky[0] and "non_data_endpoint('leaky_list')" in leaky[0]
