"""manage.py totp_enrol <username>: a TOTP device for a staff member; prints a QR code of the
otpauth:// URI to scan with an authenticator app, the URI, and the secret to type in by hand."""

from __future__ import annotations

import base64
import io
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode import QRCode

DEVICE_NAME = "authenticator"


class Command(BaseCommand):
    help = (
        "Enrol a staff member's authenticator app for the admin's second factor: prints the "
        "otpauth:// URI and the secret. Replaces the user's earlier device of that name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default=DEVICE_NAME, help="the device's name")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"there is no user {options['username']!r}")
        if not user.is_staff:
            raise CommandError(f"{user.get_username()} is not staff: the admin would refuse them")
        TOTPDevice.objects.filter(user=user, name=options["name"]).delete()
        device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)
        secret = base64.b32encode(device.bin_key).decode()
        self.stdout.write(_qr_text(device.config_url))
        self.stdout.write(f"otpauth URI: {device.config_url}")
        self.stdout.write(f"secret (base32, 6 digits every 30 s): {secret}")
        self.stdout.write(
            "Add it to an authenticator app, then sign into the admin with the code it shows."
        )


def _qr_text(data: str) -> str:
    """The QR code in block characters, dark on light whatever the terminal's colours."""
    code = QRCode(border=2)
    code.add_data(data)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
