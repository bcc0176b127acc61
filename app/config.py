"""Every setting, read from the environment in one place.

``Settings.from_env`` fails fast with a message naming the variable when a required setting is
missing or a value cannot be parsed, so a misconfigured instance never starts serving.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T", int, float)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


class Secret:
    """A value that must not be printed: its repr and str are masked."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


# A user pool id is "<region>_<id>", so the region can be taken from it when AWS_REGION is unset.
_POOL_ID = re.compile(r"^(?P<region>[\w-]+)_[0-9a-zA-Z]+$")
_CLIENT_ID = re.compile(r"^[\w+]{1,128}$")


@dataclass(frozen=True)
class CognitoSettings:
    """The user pool and the app client (with its secret) the service signs users up to."""

    user_pool_id: str
    client_id: str
    client_secret: Secret
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CognitoSettings | None:
        """None when no COGNITO_* setting is given at all (CLI use); all or nothing otherwise."""
        if not any(env.get(name, "").strip() for name in COGNITO_REQUIRED):
            return None
        pool_id = _required(env, "COGNITO_USER_POOL_ID")
        match = _POOL_ID.match(pool_id)
        if not match:
            raise ConfigError("COGNITO_USER_POOL_ID must look like '<region>_<id>'")
        client_id = _required(env, "COGNITO_CLIENT_ID")
        if not _CLIENT_ID.match(client_id):
            raise ConfigError("COGNITO_CLIENT_ID must be 1-128 word characters")
        return cls(
            user_pool_id=pool_id,
            client_id=client_id,
            client_secret=Secret(_client_secret(env)),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or match["region"],
        )


COGNITO_REQUIRED = (
    "COGNITO_USER_POOL_ID",
    "COGNITO_CLIENT_ID",
    "COGNITO_CLIENT_SECRET",
    "COGNITO_CLIENT_SECRET_FILE",
)


@dataclass(frozen=True)
class Settings:
    cognito: CognitoSettings | None
    cognito_timeout_seconds: float = 5.0
    cognito_max_connections: int = 50
    trusted_proxy_count: int = 0
    allowed_custom_attributes: frozenset[str] = frozenset()
    client_metadata_keys: frozenset[str] = frozenset()
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    cors_origins: frozenset[str] = frozenset()
    readyz_check_cognito: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            cognito=CognitoSettings.from_env(env),
            cognito_timeout_seconds=_number(env, "COGNITO_TIMEOUT_SECONDS", 5.0, float, 0.1, 60),
            cognito_max_connections=_number(env, "COGNITO_MAX_CONNECTIONS", 50, int, 1, 1000),
            trusted_proxy_count=_number(env, "TRUSTED_PROXY_COUNT", 0, int, 0, 20),
            allowed_custom_attributes=_names(env, "SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES", "custom:"),
            client_metadata_keys=_names(env, "SIGNUP_CLIENT_METADATA_KEYS"),
            max_body_bytes=_number(env, "SIGNUP_MAX_BODY_BYTES", 64 * 1024, int, 1024, 1 << 20),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            cors_origins=_origins(env, "SIGNUP_CORS_ORIGINS"),
            readyz_check_cognito=_flag(env, "READYZ_CHECK_COGNITO", True),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required")
    return value


def _client_secret(env: Mapping[str, str]) -> str:
    path = env.get("COGNITO_CLIENT_SECRET_FILE", "").strip()
    if path:
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"COGNITO_CLIENT_SECRET_FILE cannot be read: {error.strerror}"
            ) from None
    else:
        secret = env.get("COGNITO_CLIENT_SECRET", "").strip()
    if not secret:
        raise ConfigError("COGNITO_CLIENT_SECRET or COGNITO_CLIENT_SECRET_FILE is required")
    return secret


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T], low: T, high: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _names(env: Mapping[str, str], name: str, prefix: str = "") -> frozenset[str]:
    names = frozenset(item.strip() for item in env.get(name, "").split(",") if item.strip())
    wrong = sorted(item for item in names if not item.startswith(prefix))
    if wrong:
        raise ConfigError(f"{name} entries must start with {prefix!r}: {', '.join(wrong)}")
    return names


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` as a browser sends it in ``Origin``; None for anything else.

    Lower-cased, without the default port, so ``https://Example.com:443/x`` gives
    ``https://example.com``. A URL with credentials in it has no origin we would trust.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _origins(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated origins; a path, query or wildcard is refused, never guessed at."""
    origins = set()
    for item in (part.strip() for part in env.get(name, "").split(",")):
        if not item:
            continue
        origin = origin_of(item)
        if origin is None or urlsplit(item).path not in ("", "/") or "?" in item or "#" in item:
            raise ConfigError(f"{name} entries must look like https://host[:port], got {item!r}")
        origins.add(origin)
    return frozenset(origins)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE | _FALSE:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE
