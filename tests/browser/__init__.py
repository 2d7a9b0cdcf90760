"""End-to-end tests in Chromium (marker: browser)."""
