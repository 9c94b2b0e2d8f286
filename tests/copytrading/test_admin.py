"""The admin's actions go through the services; copy trades are read-only."""

from decimal import Decimal as D

from django.test import Client

from copytrading.models import CopySubscription
from copytrading.services.subscriptions import subscription_create
from tests.factories import make_account, make_user


def test_admin_pauses_and_stops_through_the_services(leader):
    account = make_account(make_user("f"), deposit=D(10_000))
    subscription = subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk
    )
    client = Client()
    client.force_login(make_user("admin", staff=True))
    url = "/admin/copytrading/copysubscription/"
    assert client.get(url).status_code == 200
    for action, status in (("pause", "paused"), ("stop_keep", "stopped")):
        client.post(url, {"action": action, "_selected_action": [subscription.pk]})
        assert CopySubscription.objects.get(pk=subscription.pk).status == status
    response = client.post(url, {"action": "resume", "_selected_action": [subscription.pk]},
                           follow=True)  # fmt: skip
    assert "cannot resume" in response.content.decode()
    assert client.get("/admin/copytrading/copytrade/").status_code == 200
    assert client.get("/admin/copytrading/copytrade/add/").status_code == 403
    assert client.get("/admin/copytrading/subscriptionequitysnapshot/").status_code == 200
