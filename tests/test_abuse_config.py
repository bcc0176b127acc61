"""Abuse-protection settings: defaults, and malformed values stop the app naming the variable."""

import pytest

from app.config import ConfigError, Settings

CAPTCHA = {"SIGNUP_CAPTCHA_PROVIDER": "turnstile", "SIGNUP_CAPTCHA_SECRET": "captcha-s3cret"}


def test_the_defaults_protect_a_single_process():
    abuse = Settings.from_env({}).abuse

    assert (abuse.per_ip, abuse.per_identity) == ("10/minute;100/hour", "5/hour;10/day")
    assert (abuse.global_, abuse.confirm_per_username) == ("40/second", "10/hour")
    assert abuse.storage_uri == "memory://"
    assert abuse.storage_is_shared is False
    assert abuse.hide_existing_users is True
    assert abuse.captcha is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNUP_RATE_LIMIT_PER_IP", "lots"),
        ("SIGNUP_RATE_LIMIT_PER_IDENTITY", "3 an hour"),
        ("SIGNUP_RATE_LIMIT_GLOBAL", "40/fortnight"),
        ("SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME", "-1/hour"),
        ("RATELIMIT_STORAGE_URI", "memcached://127.0.0.1:11211"),
        ("RATELIMIT_STORAGE_URI", "127.0.0.1:6379"),
        ("RATELIMIT_KEY_PREFIX", "has space"),
        ("SIGNUP_HIDE_EXISTING_USERS", "maybe"),
        ("SIGNUP_CAPTCHA_PROVIDER", "acme"),
    ],
)
def test_a_malformed_setting_fails_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNUP_CAPTCHA_ON_OUTAGE", "sometimes"),
        ("SIGNUP_CAPTCHA_VERIFY_URL", "ftp://captcha.example/siteverify"),
        ("SIGNUP_CAPTCHA_TIMEOUT_SECONDS", "0"),
        ("SIGNUP_CAPTCHA_SECRET", ""),
    ],
)
def test_a_malformed_captcha_setting_fails_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**CAPTCHA, name: value})


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("turnstile", "https://challenges.cloudflare.com/turnstile/v0/siteverify"),
        ("hcaptcha", "https://api.hcaptcha.com/siteverify"),
        ("recaptcha", "https://www.google.com/recaptcha/api/siteverify"),
    ],
)
def test_each_provider_has_its_siteverify_url_and_fails_closed(provider, url):
    captcha = Settings.from_env({**CAPTCHA, "SIGNUP_CAPTCHA_PROVIDER": provider}).abuse.captcha

    assert (captcha.verify_url, captcha.fail_open) == (url, False)


def test_the_captcha_secret_can_come_from_a_mounted_file(tmp_path):
    secret_file = tmp_path / "captcha-secret"
    secret_file.write_text("from-a-file\n")
    env = {"SIGNUP_CAPTCHA_PROVIDER": "hcaptcha", "SIGNUP_CAPTCHA_SECRET_FILE": str(secret_file)}

    assert Settings.from_env(env).abuse.captcha.secret.reveal() == "from-a-file"


@pytest.mark.parametrize("value", ["false", "0", "no", "off", "FALSE"])
def test_hiding_existing_users_can_be_turned_off(value):
    assert (
        Settings.from_env({"SIGNUP_HIDE_EXISTING_USERS": value}).abuse.hide_existing_users is False
    )


def test_secrets_in_the_storage_uri_and_captcha_never_show_in_the_settings_repr():
    settings = Settings.from_env(
        {**CAPTCHA, "RATELIMIT_STORAGE_URI": "redis://:redis-pa55word@cache.internal:6379/0"}
    )

    assert settings.abuse.storage_is_shared is True
    assert "redis-pa55word" not in repr(settings)
    assert "captcha-s3cret" not in repr(settings)


def test_a_bad_storage_uri_is_reported_without_its_password():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"RATELIMIT_STORAGE_URI": "mongodb://user:mongo-pa55word@db/limits"})

    assert "mongo-pa55word" not in str(raised.value)
