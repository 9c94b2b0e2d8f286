"""Forms of the copy trading pages: follow a strategy, its settings (capital, risk level,
allocation) and the inline allocation. They check the shape of the input; the services check
the rest (the account's 100% across subscriptions, the strategy) and their refusals come back
onto the fields by name (``add_service_errors``), so every refusal shows next to its field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet, TextChoices

from copytrading.domain.sizing import subscription_capital
from copytrading.domain.terms import DEFAULT_ALLOCATION_PERCENT, HUNDRED
from copytrading.models import CopySubscription
from execution.domain.values import exact
from execution.models import Account
from strategies.models import Strategy


class RiskLevel(TextChoices):
    CONSERVATIVE = "conservative", "Conservative"
    MODERATE = "moderate", "Moderate"
    AGGRESSIVE = "aggressive", "Aggressive"
    CUSTOM = "custom", "Custom (keep the current limits)"


@dataclass(frozen=True, slots=True)
class RiskPreset:
    """The limits a risk level sets on a subscription."""

    copy_stop_loss_percent: Decimal  # stop copying this far below the subscription's peak
    daily_loss_limit_percent: Decimal  # no new copies after losing this much in a day
    max_position_share: Decimal  # the largest position, a fraction of the subscription's capital


RISK_PRESETS: dict[str, RiskPreset] = {
    RiskLevel.CONSERVATIVE: RiskPreset(Decimal(15), Decimal(3), Decimal("0.25")),
    RiskLevel.MODERATE: RiskPreset(Decimal(30), Decimal(5), Decimal("0.5")),
    RiskLevel.AGGRESSIVE: RiskPreset(Decimal(50), Decimal(10), Decimal(1)),
}

RISK_HELP = (
    "Conservative: stop copying 15% below the peak, no new copies after a 3% daily loss, no "
    "position above 25% of the capital. Moderate: 30%, 5%, 50%. Aggressive: 50%, 10%, 100%. "
    "Custom keeps the limits set before (through the API or an earlier level)."
)


def risk_terms(level: str, capital: Decimal) -> dict[str, Decimal]:
    """The terms a risk level sets for a subscription trading ``capital``; none for custom."""
    preset = RISK_PRESETS.get(level)
    if preset is None:
        return {}
    with exact():
        max_position = (capital * preset.max_position_share).quantize(Decimal("0.01"))
    terms = {
        "copy_stop_loss_percent": preset.copy_stop_loss_percent,
        "daily_loss_limit_percent": preset.daily_loss_limit_percent,
    }
    if max_position > 0:
        terms["max_position_value"] = max_position
    return terms


def risk_level_of(subscription: CopySubscription) -> str:
    """The level whose stop loss and daily loss limit the subscription has, else custom."""
    for level, preset in RISK_PRESETS.items():
        if (
            subscription.copy_stop_loss_percent == preset.copy_stop_loss_percent
            and subscription.daily_loss_limit_percent == preset.daily_loss_limit_percent
        ):
            return level
    return RiskLevel.CUSTOM


# Where a service's refusal of a term shows: the field that set it.
_SERVICE_FIELDS = {
    "allocation_percent": "allocation_percent",
    "capital_cap": "capital_cap",
    "copy_stop_loss_percent": "risk_level",
    "daily_loss_limit_percent": "risk_level",
    "max_position_value": "risk_level",
    "account": "account",
    "account_mode": "account",
    "strategy": "strategy",
}


# The services format percentages with Decimal.normalize(), which writes 80 as "8E+1".
_EXPONENT = re.compile(r"\b(\d+(?:\.\d+)?)E\+(\d+)\b")


def _plain_numbers(message: str) -> str:
    return _EXPONENT.sub(lambda m: format(Decimal(m.group(0)), "f"), message)


def add_service_errors(form: forms.Form, errors: Mapping[str, list[str]]) -> None:
    """A service's refusal (messages by term) onto the form's fields; the rest above it."""
    for key, messages in errors.items():
        name = _SERVICE_FIELDS.get(key)
        target = name if name in form.fields else None
        for message in map(_plain_numbers, messages):
            form.add_error(target, message if target else f"{key.replace('_', ' ')}: {message}")


def _percent_field(**kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=9,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=HUNDRED,
        error_messages={
            "min_value": "must be more than 0%%",
            "max_value": "must be at most 100%%",
        },
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        **kwargs,
    )


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels read as names: "Risk level", not "…:"
        super().__init__(*args, **kwargs)


class AllocationForm(_Form):
    """One subscription's allocation, edited inline in the strategies table."""

    allocation_percent = _percent_field(
        label="Allocation (%)",
        help_text="Of the account's equity; all the account's subscriptions together at most 100%.",
    )


class SettingsForm(AllocationForm):
    """A subscription's capital, risk level and allocation."""

    capital_cap = forms.DecimalField(
        label="Capital cap",
        required=False,
        max_digits=38,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={"min_value": "must be more than 0 (leave it blank for no cap)"},
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        help_text="The most capital this copy trades with, in the account's currency; blank: "
        "its allocation of the equity, uncapped.",
    )
    risk_level = forms.ChoiceField(
        label="Risk level", choices=RiskLevel.choices, help_text=RISK_HELP
    )

    def terms(self, *, equity: Decimal) -> dict[str, Any]:
        """The subscription's new terms for the services, given the account's equity now."""
        data = self.cleaned_data
        allocation: Decimal = data["allocation_percent"]
        cap: Decimal | None = data["capital_cap"]
        capital = subscription_capital(
            equity=equity, allocation_percent=allocation, capital_cap=cap
        )
        return {
            "allocation_percent": allocation,
            "capital_cap": cap,
            **risk_terms(data["risk_level"], capital),
        }


class FollowForm(SettingsForm):
    """Copy a public strategy with one of the signed-in user's accounts."""

    field_order = ["strategy", "account", "allocation_percent", "capital_cap", "risk_level"]

    strategy = forms.ModelChoiceField(
        label="Strategy",
        queryset=Strategy.objects.none(),
        empty_label="Choose a strategy",
        error_messages={"invalid_choice": "choose one of the public strategies listed"},
    )
    account = forms.ModelChoiceField(
        label="Your account",
        queryset=Account.objects.none(),
        empty_label=None,
        error_messages={
            "invalid_choice": "choose one of your accounts",
            "required": "choose one of your accounts (open one first if you have none)",
        },
        help_text="Paper accounts copy on the paper exchange.",
    )

    def __init__(
        self,
        *args: Any,
        strategies: QuerySet[Strategy],
        accounts: QuerySet[Account],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("allocation_percent", DEFAULT_ALLOCATION_PERCENT)
        kwargs["initial"].setdefault("risk_level", RiskLevel.MODERATE)
        super().__init__(*args, **kwargs)
        strategy_field = self.fields["strategy"]
        account_field = self.fields["account"]
        assert isinstance(strategy_field, forms.ModelChoiceField)
        assert isinstance(account_field, forms.ModelChoiceField)
        strategy_field.queryset = strategies
        account_field.queryset = accounts
        # Custom has nothing to keep on a new subscription.
        risk = self.fields["risk_level"]
        assert isinstance(risk, forms.ChoiceField)
        risk.choices = [c for c in RiskLevel.choices if c[0] != RiskLevel.CUSTOM]


class StopForm(_Form):
    close = forms.BooleanField(
        label="Also close the positions it copied",
        required=False,
        help_text="Reduce-only market orders; unticked, the positions stay in your account.",
    )
