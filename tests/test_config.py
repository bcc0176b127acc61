import pytest

from app.config import ConfigError, Settings

BASE = {
    "COGNITO_USER_POOL_ID": "eu-west-1_AbCdEf123",
    "COGNITO_CLIENT_ID": "clientid123",
    "COGNITO_CLIENT_SECRET": "s3cr3t-value",
}


def test_without_any_cognito_setting_the_app_has_no_pool():
    assert Settings.from_env({}).cognito is None


@pytest.mark.parametrize(
    "missing", ["COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"]
)
def test_a_partly_configured_pool_fails_naming_the_missing_setting(missing):
    env = {key: value for key, value in BASE.items() if key != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COGNITO_USER_POOL_ID", "no-underscore"),
        ("COGNITO_CLIENT_ID", "has space"),
        ("COGNITO_TIMEOUT_SECONDS", "soon"),
        ("COGNITO_TIMEOUT_SECONDS", "0"),
        ("TRUSTED_PROXY_COUNT", "-1"),
        ("SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES", "plan"),
    ],
)
def test_a_malformed_setting_fails_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})


def test_region_comes_from_the_pool_id_when_not_set():
    assert Settings.from_env(BASE).cognito.region == "eu-west-1"
    assert Settings.from_env({**BASE, "AWS_REGION": "us-east-2"}).cognito.region == "us-east-2"


def test_client_secret_can_come_from_a_mounted_file(tmp_path):
    secret_file = tmp_path / "client-secret"
    secret_file.write_text("from-a-file\n")
    env = {key: value for key, value in BASE.items() if key != "COGNITO_CLIENT_SECRET"}
    settings = Settings.from_env({**env, "COGNITO_CLIENT_SECRET_FILE": str(secret_file)})
    assert settings.cognito.client_secret.reveal() == "from-a-file"


def test_an_unreadable_secret_file_fails_without_printing_a_secret(tmp_path):
    with pytest.raises(ConfigError, match="COGNITO_CLIENT_SECRET_FILE"):
        Settings.from_env({**BASE, "COGNITO_CLIENT_SECRET_FILE": str(tmp_path / "absent")})


def test_the_client_secret_never_shows_in_the_settings_repr():
    settings = Settings.from_env(BASE)
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.cognito.client_secret)
