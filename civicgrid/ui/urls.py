"""Page URLs. Apps add theirs under their own prefix in `extra_patterns`."""

from django.urls import include, path

from . import views

app_name = "ui"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/password/", views.password_change, name="password_change"),
    path("accounts/tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("accounts/tokens/revoke-all/", views.api_tokens_revoke_all, name="api_tokens_revoke_all"),
]


def _extra() -> list:
    patterns = []
    for module, prefix in (
        ("civicgrid.ui.pages.boundaries", "boundaries/"),
        ("civicgrid.ui.pages.regions", "regions/"),
        ("civicgrid.ui.pages.people", "people/"),
        ("civicgrid.ui.pages.orgs", "orgs/"),
        ("civicgrid.ui.pages.audit", "audit/"),
        ("civicgrid.ui.pages.imports", "imports/"),
        ("civicgrid.ui.pages.accounts", "manage/"),
        ("civicgrid.ui.pages.open311", "manage/open311/"),
        ("civicgrid.ui.pages.security", "security/"),
        ("civicgrid.ui.pages.operations", "ops/"),
        ("civicgrid.ui.pages.working_calendar", "calendar/"),
        ("civicgrid.ui.pages.categories", "categories/"),
        ("civicgrid.ui.pages.board", "board/"),
        ("civicgrid.ui.pages.evaluation", "evaluation/"),
        ("civicgrid.apps.cases_documents.pages", "documents/"),
        ("civicgrid.ui.pages.cases", "cases/"),
        ("civicgrid.ui.pages.inbox", "inbox/"),
        ("civicgrid.ui.pages.follow", "follow/"),
        ("civicgrid.ui.pages.hazards", "hazards/"),
        ("civicgrid.ui.pages.hazard_campaigns", "campaigns/"),
        ("civicgrid.ui.pages.flood", "flood/"),
        ("civicgrid.ui.pages.materials", "materials/"),
        ("civicgrid.ui.pages.rescue", "rescue/"),
        ("civicgrid.ui.pages.router", "router/"),
    ):
        try:
            mod = __import__(module, fromlist=["urlpatterns"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        patterns.append(path(prefix, include(mod.urlpatterns)))
    return patterns


urlpatterns += _extra()
