"""/open311/v2/: GeoReport v2 with the formats as URL suffixes (`services.json`, `services.xml`).

Every URL is declared to the scope contract here. The GET endpoints are public by design (GeoReport v2 needs no
sign-in to read): they show only cases in categories open to public reports and published to the feed, and of
those only the spec's public fields, never a reporter's name or contacts (see `selectors`). The POST endpoints
need an API key and write only through the services. So none of them is a scoped data endpoint.
"""

import os

from django.urls import re_path

from civicgrid.foundation.access.endpoints import non_data_endpoint

from . import views

app_name = "open311"
FMT = r"\.(?P<fmt>[A-Za-z]{1,8})$"

urlpatterns = [
    re_path(r"^discovery" + FMT, views.discovery, name="discovery"),
    re_path(r"^services" + FMT, views.service_list, name="services"),
    re_path(r"^services/(?P<code>[^/]+?)" + FMT, views.service_definition, name="service_definition"),
    # Some clients ask for the singular `service/{code}`; answer them the same.
    re_path(r"^service/(?P<code>[^/]+?)" + FMT, views.service_definition, name="service_definition_singular"),
    re_path(r"^requests" + FMT, views.requests_, name="requests"),
    re_path(r"^requests/(?P<number>[^/]+?)" + FMT, views.request_detail, name="request"),
    re_path(r"^request/(?P<number>[^/]+?)" + FMT, views.request_detail, name="request_singular"),
    re_path(r"^tokens/(?P<token>[^/]+?)" + FMT, views.token, name="token"),
    re_path(r"^servicerequestupdates" + FMT, views.updates, name="updates"),
]

if os.environ.get("CIVICGRID_BENCH_ENDPOINTS") == "1":
    # The intake benchmark's baseline (one INSERT on the same stack); never mounted otherwise.
    from .bench import bench_insert

    urlpatterns.append(re_path(r"^_bench/insert$", bench_insert, name="bench_insert"))

# Last: any other path here answers in the spec's error format rather than with an HTML page.
urlpatterns.append(re_path(r"^(?P<path>.*)$", views.not_found, name="not_found"))

non_data_endpoint(*(f"open311:{p.name}" for p in urlpatterns))
