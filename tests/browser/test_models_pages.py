"""The models pages in a real browser: the versions list with a training run followed by its
progress bar until it has made a version, and a version's page with its importance chart and
drift bands, at both widths."""

from __future__ import annotations

import re
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import expect

from mlmodels.models import TrainingRun, TrainingStatus
from mlmodels.services import training_run_start
from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_user
from tests.mlmodels.registry.factories import register

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quant():
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
    return make_user("quinn")


def test_a_training_is_followed_until_it_has_made_a_version(browser_page, quant):
    """A real training (no worker here: the task runs in a thread of this process, writing
    its progress on the row) followed by the page the server renders in another process."""
    register()
    failures: list[BaseException] = []

    def train() -> None:
        try:
            training_run_start(
                name="eurusd-direction", symbol="EURUSD", interval="1h",
                training_config={}, feature_config={}, requested_by_id=quant.pk,
            )  # fmt: skip
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            connection.close()

    page = browser_page
    sign_in(page, quant)
    worker = threading.Thread(target=train)
    worker.start()
    deadline = time.monotonic() + 30
    while not TrainingRun.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    run = TrainingRun.objects.get()
    page.goto("/models/")
    followed = page.locator(f'tr[data-progress-url*="{run.pk}"]').count() == 1
    if followed:
        screenshot(page, "models-training")

    worker.join(timeout=120)
    assert not failures, failures
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED and run.model_version is not None
    runs = page.get_by_role("region", name="Training runs")
    row = runs.get_by_role("row", name=re.compile("eurusd-direction v2"))
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=15_000)  # reloaded itself
    expect(row.locator("progress")).to_have_js_property("value", 1)
    screenshot(page, "models")


def test_a_version_shows_its_importance_chart_and_drift(browser_page, quant):
    version = register()
    page = browser_page
    sign_in(page, quant)
    page.goto(f"/models/{version.pk}/")

    expect(page.get_by_role("heading", name=re.compile("eurusd-direction v1"))).to_be_visible()
    expect(page.locator("#importance-chart")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#importance-chart .main-svg").first).to_be_visible()
    expect(page.get_by_role("heading", name="Walk-forward folds")).to_be_visible()
    expect(
        page.get_by_role("region", name="Drift per feature").locator(".badge").first
    ).to_be_visible()
    screenshot(page, "model-version")
