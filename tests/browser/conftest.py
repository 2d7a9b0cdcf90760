"""Browser fixtures (Chromium through Playwright against the live server)."""

import pytest

from civicgrid.testing.browser import (  # noqa: F401
    PHONE,
    _page,
    browser,
    live_server,
    page,
    phone_page,
    purge_test_audit_rows,
)
from tests.browser.test_case_loop import GPS


@pytest.fixture
def phone(browser, live_server):  # noqa: F811
    """A phone with its GPS in the grid (the report pages' tests), allowed the clipboard; the page's script
    errors are collected in `phone.errors`."""
    context, pg = _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, geolocation=GPS,
                        permissions=["geolocation", "clipboard-read", "clipboard-write"])
    pg.base_url = live_server.url
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()
    purge_test_audit_rows()
