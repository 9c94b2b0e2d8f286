"""The admin: staff only and, with ADMIN_REQUIRE_OTP (the default, and production's), a TOTP
code from the staff member's enrolled device (django-otp)."""

import re
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import make_user

ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def otp_on(settings):
    settings.ADMIN_REQUIRE_OTP = True


@pytest.fixture
def staff(db):
    return make_user("boss", staff=True)


def code(device, offset=0):
    return f"{totp(device.bin_key, t0=device.t0, step=device.step, drift=offset):06d}"


def admin_sign_in(client, username, password, token=""):
    return client.post(
        ADMIN_LOGIN,
        {"username": username, "password": password, "otp_token": token, "next": "/admin/"},
    )


def test_staff_without_a_device_cannot_reach_the_admin(otp_on, staff):
    client = Client()
    response = admin_sign_in(client, "boss", "pw-boss", "123456")
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_staff_with_a_valid_code_reach_it_and_a_wrong_code_does_not(otp_on, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()

    missing = admin_sign_in(client, "boss", "pw-boss")
    assert "errornote" in missing.content.decode()
    wrong = admin_sign_in(client, "boss", "pw-boss", f"{(int(code(device)) + 1) % 10**6:06d}")
    assert "errornote" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302
    # django-otp makes each wrong code wait longer (1 s, 2 s, 4 s...): guessing is slow.
    throttled = admin_sign_in(client, "boss", "pw-boss", code(device))
    assert "errornote" in throttled.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    device.throttle_reset()

    signed_in = admin_sign_in(client, "boss", "pw-boss", code(device))
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/apitoken/").status_code == 200


def test_a_password_session_from_the_site_is_not_enough(otp_on, staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": "pw-boss"})
    assert client.get("/").status_code == 200  # signed into the dashboard

    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith(ADMIN_LOGIN)


def test_a_user_who_is_not_staff_cannot_reach_it_even_with_a_code(otp_on, user):
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    response = admin_sign_in(client, "trader", "pw-trader", code(device))
    assert "staff account" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_without_the_requirement_staff_sign_in_with_a_password_and_others_still_cannot(
    settings, staff, user
):
    settings.ADMIN_REQUIRE_OTP = False
    client = Client()
    assert admin_sign_in(client, "boss", "pw-boss").status_code == 302
    assert client.get("/admin/").status_code == 200

    other = Client()
    assert "staff account" in admin_sign_in(other, "trader", "pw-trader").content.decode()
    assert other.get("/admin/").status_code == 302


def test_enrolling_prints_a_uri_whose_codes_open_the_admin(otp_on, staff, user):
    out = StringIO()
    call_command("totp_enrol", "boss", stdout=out)
    printed = out.getvalue()
    uri = re.search(r"otpauth://totp/\S+", printed).group(0)
    assert "secret=" in uri and "boss" in uri and "issuer=Trading%20platform" in uri
    assert "█" in printed  # the QR code to scan
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed

    client = Client()
    assert admin_sign_in(client, "boss", "pw-boss", code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200

    call_command("totp_enrol", "boss", stdout=StringIO())  # re-enrolling replaces the device
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    with pytest.raises(CommandError, match="not staff"):
        call_command("totp_enrol", "trader", stdout=StringIO())


def test_the_current_code_command_is_for_development_only(settings, staff):
    call_command("totp_enrol", "boss", stdout=StringIO())
    device = TOTPDevice.objects.get(user=staff)
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("totp_code", "boss", stdout=StringIO())
    settings.DEBUG = True
    out = StringIO()
    call_command("totp_code", "boss", stdout=out)
    assert out.getvalue().strip() in {code(device, offset) for offset in (-1, 0, 1)}


def test_deploy_checks_fail_when_the_admin_needs_no_second_factor(settings):
    settings.ADMIN_REQUIRE_OTP = False
    ids = {m.id for m in run_checks(include_deployment_checks=True)}
    assert "accounts.E001" in ids
    settings.ADMIN_REQUIRE_OTP = True
    assert "accounts.E001" not in {m.id for m in run_checks(include_deployment_checks=True)}
