"""Browser fixtures (Chromium through Playwright against the live server)."""

from civicgrid.testing.browser import browser, live_server, page, phone_page  # noqa: F401
