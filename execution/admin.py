"""Admin for the trading core. Trading records (orders, fills, positions, events) are read-only
here: they change only through services, so every change has its audit event."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.models import (
    Account,
    AccountBreakers,
    AccountDay,
    AccountMode,
    Balance,
    ExchangeCredential,
    ExecutionEvent,
    Fill,
    Instrument,
    InstrumentBreaker,
    Order,
    OutboxMessage,
    ParentOrder,
    Position,
)
from execution.selectors import account_valuation, instrument_halted, stored_candle_history
from execution.services.algos import parent_order_cancel
from execution.services.breakers import account_kill_switch_set
from execution.services.live import (
    exchange_credentials_check,
    exchange_credentials_remove,
    exchange_credentials_set,
)
from execution.services.orders import order_cancel


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "symbol",
        "base_currency",
        "quote_currency",
        "tick_size",
        "lot_size",
        "min_quantity",
        "min_notional",
        "mark_price",
        "marked_at",
        "is_active",
    )
    list_filter = ("is_active", "quote_currency")
    search_fields = ("symbol", "base_currency", "quote_currency")
    readonly_fields = ("mark_price", "marked_at", "candle_history")

    @admin.display(description="stored candles")
    def candle_history(self, instrument: Instrument) -> str:
        # Candles have a composite key, which the admin cannot list: a summary stands in.
        stored = [h for h in stored_candle_history() if h.symbol == instrument.symbol]
        if not stored:
            return "none (manage.py marketdata_import)"
        return "; ".join(
            f"{h.interval}: {h.candles:,} from {h.first:%Y-%m-%d %H:%M} to {h.last:%Y-%m-%d %H:%M}"
            for h in stored
        )


class BalanceInline(ReadOnlyInline):
    model = Balance
    fields = ("currency", "deposited", "updated_at")
    readonly_fields = fields


class PositionInline(ReadOnlyInline):
    model = Position
    fields = (
        "instrument",
        "quantity",
        "average_entry_price",
        "realized_pnl",
        "unrealized_pnl",
        "mark_price",
        "stop_loss_price",
        "take_profit_price",
    )
    readonly_fields = fields


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "owner", "mode", "base_currency", "equity", "created_at")
    list_filter = ("mode", "base_currency")
    search_fields = ("name", "owner__username", "owner__email")
    list_select_related = ("owner",)
    readonly_fields = ("created_at", "equity")
    inlines = (BalanceInline, PositionInline)
    fieldsets = (
        (None, {"fields": ("owner", "name", "mode", "base_currency", "created_at", "equity")}),
        (
            "Pre-trade risk limits",
            {
                "fields": (
                    "min_order_quantity",
                    "max_order_quantity",
                    "max_order_value",
                    "max_price_deviation",
                    "daily_loss_limit",
                    "max_position_value",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Mode and currency fix how existing orders and positions were booked.
        if obj is not None:
            return (*self.readonly_fields, "mode", "base_currency")
        return self.readonly_fields

    actions = ("kill_switch_on", "kill_switch_off")

    @admin.display(description="equity")
    def equity(self, account: Account) -> str:
        return f"{account_valuation(account).equity:,.2f} {account.base_currency}"

    def has_kill_switch_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("execution.change_account"))

    @admin.action(
        description="Kill switch ON: refuse new risk on the selected accounts",
        permissions=["kill_switch"],
    )
    def kill_switch_on(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        self._kill_switch(request, queryset, on=True)

    @admin.action(
        description="Kill switch off for the selected accounts", permissions=["kill_switch"]
    )
    def kill_switch_off(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        self._kill_switch(request, queryset, on=False)

    def _kill_switch(self, request: HttpRequest, queryset: QuerySet[Account], *, on: bool) -> None:
        who = request.user.get_username()
        for account in queryset:
            account_kill_switch_set(
                account_id=account.pk, on=on, reason=f"turned {'on' if on else 'off'} in the "
                f"admin by {who}", actor=f"admin:{request.user.pk}",
            )  # fmt: skip
            self.message_user(request, f"kill switch {'on' if on else 'off'}: {account.name}")


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    """Cash deposited per account and currency; realized P&L is on the positions."""

    list_display = ("account", "currency", "deposited", "updated_at")
    list_filter = ("currency", "account__mode")
    search_fields = ("account__name", "account__owner__username")
    list_select_related = ("account",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "client_order_id",
        "account",
        "instrument",
        "side",
        "order_type",
        "quantity",
        "price",
        "filled_quantity",
        "average_fill_price",
        "status",
        "created_at",
    )
    list_filter = ("status", "side", "order_type", "time_in_force", "account__mode", "instrument")
    search_fields = (
        "client_order_id",
        "venue_order_id",
        "account__name",
        "account__owner__username",
    )
    list_select_related = ("account", "instrument")
    date_hierarchy = "created_at"
    actions = ("cancel_orders",)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("execution.change_order"))

    @admin.action(description="Cancel selected open orders", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            try:
                order_cancel(order_id=order.pk, actor=f"admin:{request.user.pk}")
            except DomainError as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(request, f"cancelled {order.client_order_id}")


class ChildOrderInline(ReadOnlyInline):
    model = Order
    fk_name = "parent"
    fields = ("client_order_id", "order_type", "quantity", "price", "filled_quantity",
              "average_fill_price", "status", "created_at")  # fmt: skip
    readonly_fields = fields


@admin.register(ParentOrder)
class ParentOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "instrument", "algorithm", "side", "quantity",
                    "filled_quantity", "average_fill_price", "status", "next_due_at",
                    "created_at")  # fmt: skip
    list_filter = ("status", "algorithm", "side", "instrument")
    search_fields = ("id", "account__name", "account__owner__username")
    list_select_related = ("account", "instrument")
    inlines = (ChildOrderInline,)
    actions = ("cancel_parent_orders",)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("execution.change_parentorder"))

    @admin.action(description="Cancel selected parent orders", permissions=["cancel"])
    def cancel_parent_orders(self, request: HttpRequest, queryset: QuerySet[ParentOrder]) -> None:
        for parent in queryset:
            try:
                parent_order_cancel(parent_id=parent.pk, actor=f"admin:{request.user.pk}")
            except DomainError as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(request, f"cancelled parent order {parent.pk}")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = (
        "venue_trade_id",
        "order",
        "quantity",
        "price",
        "fee",
        "fee_currency",
        "liquidity",
        "filled_at",
    )
    list_filter = ("liquidity", "order__instrument")
    search_fields = ("venue_trade_id", "order__client_order_id")
    list_select_related = ("order", "order__instrument")
    date_hierarchy = "filled_at"


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "instrument",
        "quantity",
        "average_entry_price",
        "realized_pnl",
        "unrealized_pnl",
        "fees_paid",
        "mark_price",
        "stop_loss_price",
        "take_profit_price",
        "updated_at",
    )
    list_filter = ("instrument", "account__mode")
    search_fields = ("account__name", "account__owner__username", "instrument__symbol")
    list_select_related = ("account", "instrument")


@admin.register(AccountDay)
class AccountDayAdmin(ReadOnlyAdmin):
    list_display = ("account", "day", "start_equity", "loss_limit_breached_at")
    list_filter = ("day",)
    search_fields = ("account__name",)


@admin.register(InstrumentBreaker)
class InstrumentBreakerAdmin(ReadOnlyAdmin):
    """The market-wide halt of each instrument, kept current by market data."""

    list_display = (
        "instrument", "halted", "halted_since", "unstable_since", "stability", "observed_at",
    )  # fmt: skip
    list_select_related = ("instrument",)
    readonly_fields = list_display

    @admin.display(boolean=True, description="halted now")
    def halted(self, row: InstrumentBreaker) -> bool:
        return instrument_halted(row.instrument, timezone.now())


@admin.register(AccountBreakers)
class AccountBreakersAdmin(ReadOnlyAdmin):
    """Circuit breaker state per account; transitions are in the execution events."""

    list_display = ("account", "updated_at")
    search_fields = ("account__name", "account__owner__username")
    readonly_fields = ("account", "state", "updated_at")


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "actor", "account", "order", "message")
    list_filter = ("kind", "actor")
    search_fields = ("message", "actor", "order__client_order_id", "account__name")
    list_select_related = ("account", "order", "order__instrument")
    date_hierarchy = "created_at"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """The fill news still to publish (execution.outbox): an unsent message with attempts and
    an error is a broker that refuses it or a receiver that keeps failing."""

    list_display = ("id", "topic", "object_id", "created_at", "attempts", "sent_at", "last_error")
    list_filter = ("topic", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("last_error",)
    date_hierarchy = "created_at"


class ExchangeCredentialForm(forms.ModelForm):  # type: ignore[type-arg]
    """Write-only: the key, secret and passphrase are typed in, handed to the service that
    encrypts them, and never shown again (not even the stored tokens)."""

    new_api_key = forms.CharField(
        label="API key", strip=True, widget=forms.PasswordInput(render_value=False)
    )
    new_secret = forms.CharField(
        label="secret", strip=True, widget=forms.PasswordInput(render_value=False)
    )
    new_password = forms.CharField(
        label="passphrase",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="OKX asks for the API key's passphrase; leave empty if the exchange has none",
    )

    class Meta:
        model = ExchangeCredential
        fields = ("account", "exchange_id", "sandbox")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "account" in self.fields:
            field = self.fields["account"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = Account.objects.filter(mode=AccountMode.LIVE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        account = data.get("account") or getattr(self.instance, "account", None)
        if account is not None and not self.errors:
            try:
                exchange_credentials_check(
                    account_id=account.pk,
                    exchange_id=(data.get("exchange_id") or "").strip().lower(),
                    api_key=data.get("new_api_key") or "",
                    secret=data.get("new_secret") or "",
                    password=data.get("new_password") or None,
                    sandbox=bool(data.get("sandbox")),
                )
            except DomainError as error:
                raise forms.ValidationError(str(error)) from None
        return data


@admin.register(ExchangeCredential)
class ExchangeCredentialAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Live accounts' exchange credentials: the key's last four characters are all that is
    ever shown. Saving re-enters the whole credential through exchange_credentials_set."""

    form = ExchangeCredentialForm
    list_display = ("account", "exchange_id", "sandbox", "key_hint", "created_at", "rotated_at")
    list_filter = ("exchange_id", "sandbox")
    search_fields = ("account__name", "account__owner__username")
    list_select_related = ("account",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ("exchange_id", "sandbox", "new_api_key", "new_secret", "new_password")
        if obj is None:
            return ("account", *fields)
        return ("account", *fields, "key_hint", "created_at", "rotated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else ("account", "key_hint", "created_at", "rotated_at")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        stored = exchange_credentials_set(
            account_id=obj.account_id,
            exchange_id=data["exchange_id"],
            api_key=data["new_api_key"],
            secret=data["new_secret"],
            password=data["new_password"] or None,
            sandbox=data["sandbox"],
            actor=f"admin:{request.user.pk}",
        )
        # The admin logs and links the object it saved: let it be the stored row.
        obj.__dict__.update({f.attname: getattr(stored, f.attname) for f in obj._meta.fields})
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        exchange_credentials_remove(account_id=obj.account_id, actor=f"admin:{request.user.pk}")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ExchangeCredential]) -> None:
        for account_id in queryset.values_list("account_id", flat=True):
            exchange_credentials_remove(account_id=account_id, actor=f"admin:{request.user.pk}")
