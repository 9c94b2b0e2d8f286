"""Forms of the site-wide pages."""

from __future__ import annotations

from django import forms


class KillSwitchForm(forms.Form):
    """Turn an account's kill switch on (no new orders) or off, with a reason and a confirmation."""

    action = forms.ChoiceField(
        choices=[("on", "Turn on"), ("off", "Turn off")], widget=forms.HiddenInput
    )
    reason = forms.CharField(
        max_length=200,
        strip=True,
        error_messages={"required": "Say why: the reason goes into the audit trail."},
    )
    confirm = forms.BooleanField(
        error_messages={"required": "Tick the box to confirm."},
    )

    @property
    def turn_on(self) -> bool:
        return bool(self.cleaned_data["action"] == "on")
