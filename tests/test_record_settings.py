"""The database and record settings: defaults, parsing, and failing fast naming the variable."""

from datetime import timedelta

import pytest

from app.config import ConfigError, Settings
from app.services.keyed_hash import derive_key
from app.services.records import RecordKeeper


def test_the_default_database_is_an_sqlite_file_in_the_instance_folder():
    assert Settings.from_env({}).records.database_url.reveal() == "sqlite:///signups.db"


@pytest.mark.parametrize(
    "url", ["postgres://u:p@db:5432/signups", "postgresql://u:p@db:5432/signups"]
)
def test_a_plain_postgresql_url_uses_the_installed_psycopg_driver(url):
    database_url = Settings.from_env({"DATABASE_URL": url}).records.database_url.reveal()

    assert database_url == "postgresql+psycopg://u:p@db:5432/signups"


def test_the_database_password_never_shows_in_the_settings_repr():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:pa55word@db/signups"})

    assert "pa55word" not in repr(settings)


def test_durations_accept_days_hours_minutes_and_seconds():
    records = Settings.from_env(
        {"SIGNUP_RECORD_RETENTION": "30d", "SIGNUP_IDEMPOTENCY_TTL": "90m"}
    ).records

    assert (records.retention, records.idempotency_ttl) == (
        timedelta(days=30),
        timedelta(minutes=90),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://db/signups"),
        ("DATABASE_URL", "not a url"),
        ("SIGNUP_RECORD_IP", "partial"),
        ("SIGNUP_RECORD_RETENTION", "forever"),
        ("SIGNUP_IDEMPOTENCY_TTL", "0h"),
        ("SIGNUP_IDEMPOTENCY_WAIT_SECONDS", "-1"),
        ("SIGNUP_RECORD_KEY", "too-short"),
    ],
)
def test_a_malformed_record_setting_fails_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_record_key_can_come_from_a_mounted_file(tmp_path):
    key_file = tmp_path / "record-key"
    key_file.write_text("k" * 40 + "\n")

    records = Settings.from_env({"SIGNUP_RECORD_KEY_FILE": str(key_file)}).records

    assert records.hmac_key.reveal() == "k" * 40


def keeper(master: str) -> RecordKeeper:
    return RecordKeeper(None, identity_key=derive_key(master, "identity"))  # type: ignore[arg-type]


def test_an_identity_hash_ignores_case_and_surrounding_space():
    hashed = keeper("k" * 40).identity_hash

    assert hashed("Ada@Example.com ") == hashed("ada@example.com")


def test_an_identity_hash_depends_on_the_key():
    assert keeper("k" * 40).identity_hash("ada@example.com") != keeper("j" * 40).identity_hash(
        "ada@example.com"
    )
