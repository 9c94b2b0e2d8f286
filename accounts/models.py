"""API tokens and failed sign-ins. Persistence only: the rules live in services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class TokenSource(models.TextChoices):
    PAGE = "page", "the API tokens page"
    API = "api", "the API"
    COMMAND = "command", "manage.py api_token_create"
    PASSWORD = "password", "a password sign-in"  # POST /api/v1/auth/token/


class ApiToken(models.Model):
    """A named key for `Authorization: Token <key>`. Only a SHA-256 of the key is stored: the
    key is shown once, when it is made, and a database dump cannot be used to sign in."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The key's first characters: enough to tell tokens apart, far too few to use one.
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Where it was made: password sign-ins keep only their newest few (services).
    source = models.CharField(max_length=16, choices=TokenSource.choices, default=TokenSource.API)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                name="api_token_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SignInFailures(models.Model):
    """Failed sign-ins for one username from one address, and the cool-off they earned."""

    username = models.CharField(max_length=150)  # as typed, case-folded
    ip_address = models.GenericIPAddressField()
    failures = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "sign-in failures"
        # Each failure deletes the rows whose window has passed: found by this index.
        indexes = [models.Index(fields=["first_failed_at"], name="sign_in_failures_window")]
        constraints = [
            models.UniqueConstraint(
                fields=["username", "ip_address"], name="sign_in_failures_per_username_and_ip"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address}: {self.failures}"
