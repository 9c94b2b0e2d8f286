"""The copy trading page through Django's test client against the real database: what it shows,
its forms (field errors shown, nothing saved on a refusal), the services behind its buttons,
and another user's subscription ids answering 404 with nothing changed."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.test import Client

from copytrading.forms import RISK_PRESETS
from copytrading.models import CopySubscription
from copytrading.services.subscriptions import subscription_create
from tests.copytrading.conftest import leader_trade, make_strategy
from tests.factories import make_account, make_user

HOME = "/copy/"


@pytest.fixture
def follower(db):
    return make_user("follower")


@pytest.fixture
def follower_account(follower, market):
    return make_account(follower, deposit=D(10_000))


@pytest.fixture
def web(follower) -> Client:
    client = Client()
    client.force_login(follower)
    return client


@pytest.fixture
def second(leader):
    owner = make_user("leader2")
    return make_strategy(owner, make_account(owner, deposit=D(50_000)), name="second leader")


def subscribe(follower, account, strategy, allocation: str = "35") -> CopySubscription:
    return subscription_create(
        follower_id=follower.pk, account_id=account.pk, strategy_id=strategy.pk,
        terms={"allocation_percent": allocation},
    )  # fmt: skip


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("copytrading").get_models()
    return {model.__name__: model._default_manager.count() for model in models}


def field_error(html: str, field_id: str) -> str:
    """The error list shown for a field, checking the input points at it (aria-describedby)."""
    found = re.search(rf'<ul class="field-errors" id="{field_id}_error">(.*?)</ul>', html, re.S)
    assert found, f"no errors shown for {field_id}"
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html)
    assert tag and f"{field_id}_error" in tag.group(0) and 'aria-invalid="true"' in tag.group(0)
    return re.sub(r"<[^>]+>", " ", found.group(1))


def test_signing_in_is_required(db):
    response = Client().get(HOME)
    assert response.status_code == 302 and "login" in response["Location"]
    assert Client().post(HOME + "follow/").status_code == 302


def test_the_page_shows_summary_leaderboard_subscriptions_and_drift(
    web, follower, follower_account, leader, django_capture_on_commit_callbacks
):
    subscription = subscribe(follower, follower_account, leader)
    with django_capture_on_commit_callbacks(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")
    response = web.get(HOME)
    assert response.status_code == 200
    html = response.content.decode()
    headings = (
        "P&amp;L", "Trades", "Strategies followed", "Return", "Settings",
        "Strategies you follow", "Leaderboard", "Follow a strategy", "Drift ledger",
    )  # fmt: skip
    for heading in headings:
        assert heading in html, heading
    assert f'data-subscription="{subscription.pk}"' in html
    assert 'class="badge status-active"' in html
    assert f'data-strategy="{leader.pk}"' in html  # on the leaderboard
    assert 'id="pnl-data"' in html and "/vendor/plotly.min.js" in html
    assert "csrfmiddlewaretoken" in html
    # The drift ledger has the subscription's row with every part.
    drift = html[html.index('id="drift"') :]
    assert f'data-subscription="{subscription.pk}"' in drift
    for part in ("Slippage", "Rounding", "Unfilled", "Skipped", "Fees", "Closes", "Latency"):
        assert part in drift


def test_following_a_strategy_applies_the_risk_level(web, follower, follower_account, leader):
    response = web.post(
        HOME + "follow/",
        {"follow-strategy": leader.pk, "follow-account": follower_account.pk,
         "follow-allocation_percent": "20", "follow-capital_cap": "",
         "follow-risk_level": "conservative"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == HOME
    subscription = CopySubscription.objects.get(follower=follower)
    preset = RISK_PRESETS["conservative"]
    assert subscription.allocation_percent == 20
    assert subscription.copy_stop_loss_percent == preset.copy_stop_loss_percent
    assert subscription.daily_loss_limit_percent == preset.daily_loss_limit_percent
    # 20% of 10,000 equity is 2,000 of capital; conservative allows a quarter in one position.
    assert subscription.max_position_value == D(500)
    assert "You now copy leader" in web.get(HOME).content.decode()


@pytest.mark.parametrize(
    ("allocation", "message"),
    [("-5", "more than 0%"), ("0", "more than 0%"), ("150", "at most 100%")],
)
def test_a_bad_allocation_to_follow_shows_by_the_field_and_saves_nothing(
    web, follower_account, leader, allocation, message
):
    before = row_counts()
    response = web.post(
        HOME + "follow/",
        {"follow-strategy": leader.pk, "follow-account": follower_account.pk,
         "follow-allocation_percent": allocation, "follow-risk_level": "moderate"},
    )  # fmt: skip
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), "id_follow-allocation_percent")
    assert row_counts() == before


def test_following_with_someone_elses_account_is_refused(web, leader, market):
    other = make_account(make_user("other"), name="Theirs", deposit=D(5000))
    response = web.post(
        HOME + "follow/",
        {"follow-strategy": leader.pk, "follow-account": other.pk,
         "follow-allocation_percent": "10", "follow-risk_level": "moderate"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "choose one of your accounts" in response.content.decode()
    assert not CopySubscription.objects.exists()


def test_changing_an_allocation_inline_saves_it(web, follower, follower_account, leader):
    subscription = subscribe(follower, follower_account, leader)
    response = web.post(
        f"{HOME}subscriptions/{subscription.pk}/allocation/",
        {f"sub{subscription.pk}-allocation_percent": "42.5"},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.allocation_percent == D("42.5")
    html = web.get(HOME).content.decode()
    assert 'value="42.5"' in html and "Allocation of leader saved: 42.5%" in html
    assert "42.5% of Main allocated" in html
    web.post(
        f"{HOME}subscriptions/{subscription.pk}/allocation/",
        {f"sub{subscription.pk}-allocation_percent": "100"},
    )
    html = web.get(HOME).content.decode()
    assert 'value="100"' in html and "saved: 100%." in html and "100% of Main allocated" in html


def test_allocations_over_100_percent_in_total_are_refused_by_the_field(
    web, follower, follower_account, leader, second
):
    first = subscribe(follower, follower_account, leader, "60")
    other = subscribe(follower, follower_account, second, "30")
    before = row_counts()
    field = f"sub{other.pk}-allocation_percent"
    response = web.post(f"{HOME}subscriptions/{other.pk}/allocation/", {field: "50"})
    assert response.status_code == 400
    message = field_error(response.content.decode(), f"id_{field}")
    assert "50% with the 60% your other subscriptions on this account use is more than 100%" in (
        " ".join(message.split())
    )
    assert row_counts() == before
    other.refresh_from_db()
    first.refresh_from_db()
    assert (first.allocation_percent, other.allocation_percent) == (60, 30)


@pytest.mark.parametrize("allocation", ["-1", "abc", ""])
def test_a_bad_inline_allocation_is_refused(web, follower, follower_account, leader, allocation):
    subscription = subscribe(follower, follower_account, leader)
    field = f"sub{subscription.pk}-allocation_percent"
    response = web.post(f"{HOME}subscriptions/{subscription.pk}/allocation/", {field: allocation})
    assert response.status_code == 400
    assert field_error(response.content.decode(), f"id_{field}").strip()
    subscription.refresh_from_db()
    assert subscription.allocation_percent == 35


def test_settings_change_capital_risk_and_allocation(web, follower, follower_account, leader):
    subscription = subscribe(follower, follower_account, leader)
    response = web.post(
        f"{HOME}subscriptions/{subscription.pk}/settings/",
        {"settings-allocation_percent": "50", "settings-capital_cap": "1000",
         "settings-risk_level": "aggressive"},
    )  # fmt: skip
    assert response.status_code == 302
    subscription.refresh_from_db()
    preset = RISK_PRESETS["aggressive"]
    assert subscription.allocation_percent == 50 and subscription.capital_cap == 1000
    assert subscription.copy_stop_loss_percent == preset.copy_stop_loss_percent
    assert subscription.daily_loss_limit_percent == preset.daily_loss_limit_percent
    assert subscription.max_position_value == 1000  # the whole (capped) capital
    html = web.get(f"{HOME}?settings={subscription.pk}").content.decode()
    assert '<option value="aggressive" selected>' in html
    # Custom keeps the limits as they are.
    web.post(
        f"{HOME}subscriptions/{subscription.pk}/settings/",
        {"settings-allocation_percent": "40", "settings-capital_cap": "",
         "settings-risk_level": "custom"},
    )  # fmt: skip
    subscription.refresh_from_db()
    assert subscription.allocation_percent == 40 and subscription.capital_cap is None
    assert subscription.copy_stop_loss_percent == preset.copy_stop_loss_percent


def test_bad_settings_show_by_their_fields_and_save_nothing(
    web, follower, follower_account, leader
):
    subscription = subscribe(follower, follower_account, leader)
    before = row_counts()
    response = web.post(
        f"{HOME}subscriptions/{subscription.pk}/settings/",
        {"settings-allocation_percent": "101", "settings-capital_cap": "-3",
         "settings-risk_level": "reckless"},
    )  # fmt: skip
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 100%" in field_error(html, "id_settings-allocation_percent")
    assert "more than 0" in field_error(html, "id_settings-capital_cap")
    assert "reckless" in html and 'id="id_settings-risk_level_error"' in html
    assert row_counts() == before
    subscription.refresh_from_db()
    assert subscription.allocation_percent == 35 and subscription.capital_cap is None


def test_pause_resume_and_stop(web, follower, follower_account, leader):
    subscription = subscribe(follower, follower_account, leader)
    base = f"{HOME}subscriptions/{subscription.pk}/"
    assert web.post(base + "pause/").status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    assert 'class="badge status-paused"' in web.get(HOME).content.decode()
    # Pausing again is refused with a message, nothing changed.
    web.post(base + "pause/")
    assert "cannot pause" in web.get(HOME).content.decode()
    web.post(base + "resume/")
    subscription.refresh_from_db()
    assert subscription.status == "active"
    web.post(base + "stop/", {f"stop{subscription.pk}-close": "on"})
    subscription.refresh_from_db()
    assert subscription.status == "stopped"
    assert "stopped, its positions closed" in web.get(HOME).content.decode()


def test_another_users_subscription_ids_answer_404_and_change_nothing(
    follower, follower_account, leader
):
    subscription = subscribe(follower, follower_account, leader)
    intruder = make_user("intruder")
    make_account(intruder, name="Theirs", deposit=D(1000))
    web = Client()
    web.force_login(intruder)
    before = row_counts()
    base = f"{HOME}subscriptions/{subscription.pk}/"
    for path, data in [
        ("allocation/", {f"sub{subscription.pk}-allocation_percent": "1"}),
        ("settings/", {"settings-allocation_percent": "1", "settings-risk_level": "aggressive"}),
        ("pause/", {}), ("resume/", {}), ("stop/", {f"stop{subscription.pk}-close": "on"}),
    ]:  # fmt: skip
        assert web.post(base + path, data).status_code == 404, path
    assert web.post(f"{HOME}subscriptions/999999/pause/").status_code == 404
    assert row_counts() == before
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.allocation_percent == 35
    # Their page shows nothing of the follower's.
    html = web.get(f"{HOME}?settings={subscription.pk}").content.decode()
    assert f'data-subscription="{subscription.pk}"' not in html


def test_forms_need_the_csrf_token(follower, follower_account, leader):
    subscription = subscribe(follower, follower_account, leader)
    web = Client(enforce_csrf_checks=True)
    web.force_login(follower)
    response = web.post(
        f"{HOME}subscriptions/{subscription.pk}/allocation/",
        {f"sub{subscription.pk}-allocation_percent": "10"},
    )
    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.allocation_percent == 35


def test_get_only_and_post_only(web, follower, follower_account, leader):
    subscription = subscribe(follower, follower_account, leader)
    assert web.post(HOME).status_code == 405
    assert web.get(f"{HOME}subscriptions/{subscription.pk}/pause/").status_code == 405


def test_a_new_user_sees_empty_states_and_can_follow_nothing_without_an_account(leader):
    newcomer = make_user("newcomer")
    web = Client()
    web.force_login(newcomer)
    html = web.get(HOME).content.decode()
    assert "You follow no strategy yet" in html
    assert "Follow a strategy to set its capital" in html
    assert "No daily snapshots yet" in html
    assert f'data-strategy="{leader.pk}"' in html  # the leaderboard is there all the same
    response = web.post(
        HOME + "follow/",
        {"follow-strategy": leader.pk, "follow-allocation_percent": "10",
         "follow-risk_level": "moderate"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "open one first" in field_error_select(response.content.decode())
    assert not CopySubscription.objects.exists()


def field_error_select(html: str) -> str:
    found = re.search(
        r'<ul class="field-errors" id="id_follow-account_error">(.*?)</ul>', html, re.S
    )
    assert found and 'aria-describedby="id_follow-account_helptext id_follow-account_error"' in html
    return found.group(1)


def test_every_described_by_reference_exists(web, follower, follower_account, leader):
    subscribe(follower, follower_account, leader)
    html = web.get(HOME).content.decode()
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    references = {
        ref for refs in re.findall(r'aria-describedby="([^"]+)"', html) for ref in refs.split()
    }
    assert references and references <= ids, references - ids
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    inputs = set(re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*id="([^"]+)"', html))
    # The rest are the stop forms' checkboxes, each inside its label.
    assert all(name.endswith("-close") for name in inputs - labelled), inputs - labelled
