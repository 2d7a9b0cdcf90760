"""Fixtures of the router's product tests: the example model (trained once), a models directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicgrid.apps.cases.tests.conftest import loop  # noqa: F401  (the case loop's small district)

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "messages.csv"


@pytest.fixture(scope="session")
def example_model(tmp_path_factory) -> Path:
    from civicgrid.integrations.router.cli import cmd_train

    out = tmp_path_factory.mktemp("router") / "example"
    cmd_train(EXAMPLE, "text", "label", out)
    return out


@pytest.fixture(autouse=True)
def models_dir(settings, tmp_path):
    from civicgrid.integrations.router import gazetteer, service

    settings.CIVICGRID_ROUTER_MODELS_DIR = str(tmp_path / "models")
    service.clear_cache()
    gazetteer.clear_cache()
    yield tmp_path / "models"
    service.clear_cache()
    gazetteer.clear_cache()
