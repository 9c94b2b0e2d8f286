"""API tokens as the API shows them: never the key, except once in the answer that made it."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.models import ApiToken

MAX_LIFETIME_DAYS = 3650


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    expired = serializers.SerializerMethodField(help_text="Past its expiry: refused if sent.")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "source",
            "created_at",
            "last_used_at",
            "expires_at",
            "expired",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "prefix": {"help_text": "The key's first characters, to tell tokens apart."},
            "last_used_at": {"help_text": "To the minute; null if never used."},
            "expires_at": {"help_text": "Null: never expires."},
            "source": {"help_text": "Where it was made."},
        }

    def get_expired(self, token: ApiToken) -> bool:
        return token.expires_at is not None and token.expires_at <= timezone.now()


class TextField(serializers.CharField):
    """A string, and only a string: DRF's CharField would store the number 0 as "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class ApiTokenCreateSerializer(serializers.Serializer[None]):
    name = TextField(max_length=100, help_text="What uses it, to tell it apart.")
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LIFETIME_DAYS,
        required=False,
        allow_null=True,
        help_text="Days until it stops working; leave out (or null) for a token that never "
        "expires.",
    )


class ApiTokenIssuedSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        help_text="Send as `Authorization: Token <key>`. Shown this once: only a hash is kept."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class PasswordTokenSerializer(ApiTokenIssuedSerializer):
    token = serializers.CharField(help_text="The key (the same as `key`), for older clients.")

    class Meta(ApiTokenIssuedSerializer.Meta):
        fields = ["token", *ApiTokenIssuedSerializer.Meta.fields]
        read_only_fields = fields
