"""Generated requests (schemathesis) against every operation of /api/v1/copytrading/, with a
subscription that copied a trade: none may answer a server error."""

from __future__ import annotations

from decimal import Decimal

from accounts.services import api_token_create
from copytrading.services.snapshots import equity_snapshots_take
from copytrading.services.subscriptions import subscription_create
from tests.copytrading.api.conftest import BASE
from tests.copytrading.conftest import leader_trade
from tests.execution.api.test_schema import settings_, wsgi_app  # noqa: F401 (fixtures)
from tests.factories import make_account, make_user
from tests.schema_fuzz import api_operations, server_errors


def test_no_generated_request_gets_a_server_error(
    wsgi_app,  # noqa: F811
    leader,
    settings_,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    user = make_user("follower")
    account = make_account(user, deposit=Decimal(10_000))
    subscription_create(follower_id=user.pk, account_id=account.pk, strategy_id=leader.pk)
    with django_capture_on_commit_callbacks(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")
    equity_snapshots_take()
    headers = {"Authorization": f"Token {api_token_create(user_id=user.pk, name='tests').key}"}
    operations = api_operations(wsgi_app, keep=lambda path: path.startswith(BASE))
    assert len(operations) == 14
    failures = server_errors(operations, headers=headers)
    assert not failures, "\n\n".join(failures)
