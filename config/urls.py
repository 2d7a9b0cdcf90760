"""URL map: pages, API, Open311, health."""

from django.urls import include, path

from civicgrid.foundation.core.views import healthz

from .api import api

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("open311/v2/", include("civicgrid.integrations.open311.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("civicgrid.ui.urls")),
]

# Error pages in the user's language (JSON under /api/ and /open311/): civicgrid.ui.errors.
handler400 = "civicgrid.ui.errors.bad_request"
handler403 = "civicgrid.ui.errors.permission_denied"
handler404 = "civicgrid.ui.errors.page_not_found"
handler500 = "civicgrid.ui.errors.server_error"
