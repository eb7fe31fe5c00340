"""Settings of intake from the non-phone channels (``[intake]``, ``[[intake.channels]]``).

Each channel (web form, WeChat mini-program, app, 市长信箱, leaders' message board, the
provincial platform) has its own credential — an HMAC signing secret or an API key, never a
desk user's password — an optional push-back webhook (回传) with its own signing secret, and
the first-reply time the standard sets for it (GB/T 33358: 3 minutes for SMS and other media,
24 hours for the mailbox). Pure data and validation.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

MIN_CHANNEL_SECRET = 24
_WEAK = {"changeme", "secret", "password", "admin", "hotline"}


class ChannelKind(enum.StrEnum):
    WEB = "web"  # the public web form (网上表单)
    WECHAT = "wechat"  # 微信小程序 / 公众号
    APP = "app"
    MAILBOX = "mailbox"  # 市长信箱
    BOARD = "board"  # 领导留言板
    PROVINCE = "province"  # 省级平台 (also its batch import)


# GB/T 33358: other media answered within 3 minutes; the mailbox within 24 hours.
DEFAULT_FIRST_REPLY_MINUTES: dict[ChannelKind, int] = {
    ChannelKind.WEB: 3,
    ChannelKind.WECHAT: 3,
    ChannelKind.APP: 3,
    ChannelKind.MAILBOX: 24 * 60,
    ChannelKind.BOARD: 24 * 60,
    ChannelKind.PROVINCE: 24 * 60,
}


def _secret(value: SecretStr | None, field: str) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value()
    if raw.lower() in _WEAK or len(raw) < MIN_CHANNEL_SECRET:
        raise ValueError(
            f"{field} must be a generated secret of at least {MIN_CHANNEL_SECRET} characters"
        )
    return value


class ChannelSettings(BaseModel):
    """One intake channel."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    kind: ChannelKind
    # hmac: X-Hotline-Timestamp + X-Hotline-Signature (HMAC-SHA256 over "<ts>.<body>");
    # api_key: X-Api-Key. No default secret.
    auth: Literal["hmac", "api_key"] = "hmac"
    secret: SecretStr
    # Push-back (回传): POSTed, signed with webhook_secret, on every state change.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)
    webhook_secret: SecretStr | None = None
    # Minutes to the first reply (None: the standard's value for the kind).
    first_reply_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        checked = _secret(value, "intake.channels.secret")
        assert checked is not None
        return checked

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _secret(value, "intake.channels.webhook_secret")

    @model_validator(mode="after")
    def _webhook(self) -> ChannelSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(f"channel {self.name}: webhook_url needs a webhook_secret")
        return self

    @property
    def first_reply(self) -> int:
        """Minutes to the first reply."""
        return self.first_reply_minutes or DEFAULT_FIRST_REPLY_MINUTES[self.kind]


class Limit(BaseModel):
    """At most ``count`` in any ``seconds``."""

    count: int = Field(ge=1, le=100_000)
    seconds: float = Field(gt=0, le=86_400)


class IntakeSettings(BaseModel):
    channels: list[ChannelSettings] = Field(default_factory=list)
    # The channel the public web form files into (a channel of kind web); absent: form off.
    form_channel: str = "web"
    # A signed request's timestamp must be within this many seconds of the node's clock.
    signature_window_seconds: int = Field(default=300, ge=10, le=3600)
    max_attachments: int = Field(default=5, ge=0, le=20)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    max_import_rows: int = Field(default=5000, ge=1, le=100_000)
    # The public pages' limits (per client address, per phone number).
    form_per_address: Limit = Field(default_factory=lambda: Limit(count=5, seconds=3600))
    form_per_phone: Limit = Field(default_factory=lambda: Limit(count=3, seconds=3600))
    track_failures_per_address: Limit = Field(default_factory=lambda: Limit(count=10, seconds=600))
    # The push-back outbox: how often it looks, how many tries, the backoff.
    outbox_tick_seconds: float = Field(default=2.0, ge=0.1, le=600)
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_backoff_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    outbox_backoff_max_seconds: float = Field(default=3600.0, ge=1, le=86_400)
    outbox_timeout_seconds: float = Field(default=10.0, ge=0.5, le=120)

    @model_validator(mode="after")
    def _unique(self) -> IntakeSettings:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"intake.channels: duplicated name(s) {dupes}")
        form = self.channel(self.form_channel)
        if form is not None and form.kind is not ChannelKind.WEB:
            raise ValueError(f"intake.form_channel {self.form_channel!r} is not of kind web")
        return self

    def channel(self, name: str) -> ChannelSettings | None:
        return next((c for c in self.channels if c.name == name), None)
