"""Every setting, read from the environment in one place.

``Settings.from_env`` fails fast with a message naming the variable when a required setting is
missing or a value cannot be parsed, so a misconfigured instance never starts serving.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from limits import parse_many

from app.identity import ascii_domain

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


def cognito_environment(
    *, user_pool_id: str, client_id: str, client_secret: str, region: str, endpoint_url: str
) -> dict[str, str]:
    """The environment that points the service at a Cognito-compatible endpoint (local ones)."""
    return {
        "COGNITO_USER_POOL_ID": user_pool_id,
        "COGNITO_CLIENT_ID": client_id,
        "COGNITO_CLIENT_SECRET": client_secret,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": endpoint_url,
    }


# How much of a client's IP a signup record keeps: the /24 (IPv4) or /48 (IPv6) network it is
# in, the whole address, or nothing.
IP_RETENTION_CHOICES = ("truncated", "full", "none")


@dataclass(frozen=True)
class RecordSettings:
    """The service's own database: signup records and idempotency keys."""

    # Relative SQLite paths live in the app's instance folder (created on demand).
    database_url: Secret = field(default_factory=lambda: Secret("sqlite:///signups.db"))
    # Keys the HMACs of identities and request bodies; None derives one from the client secret.
    hmac_key: Secret | None = None
    ip_retention: str = "truncated"
    retention: timedelta = timedelta(days=90)
    idempotency_ttl: timedelta = timedelta(hours=24)
    idempotency_wait_seconds: float = 5.0
    pool_size: int = 20  # database connections per worker (see repository.engine_options)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RecordSettings:
        ip_retention = env.get("SIGNUP_RECORD_IP", "").strip().lower() or "truncated"
        if ip_retention not in IP_RETENTION_CHOICES:
            raise ConfigError(f"SIGNUP_RECORD_IP must be one of {', '.join(IP_RETENTION_CHOICES)}")
        return cls(
            database_url=Secret(_database_url(env)),
            hmac_key=_record_key(env),
            ip_retention=ip_retention,
            retention=_duration(env, "SIGNUP_RECORD_RETENTION", timedelta(days=90)),
            idempotency_ttl=_duration(env, "SIGNUP_IDEMPOTENCY_TTL", timedelta(hours=24)),
            idempotency_wait_seconds=_number(
                env, "SIGNUP_IDEMPOTENCY_WAIT_SECONDS", 5.0, float, 0.0, 60
            ),
            pool_size=_number(env, "DATABASE_POOL_SIZE", 20, int, 1, 200),
        )


# botocore's connection pool per process: app/serving/gunicorn_conf.py sizes it to a
# worker's concurrency.
MAX_COGNITO_CONNECTIONS = 1000

TRACES_EXPORTERS = ("otlp", "console", "none")
TRACES_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
DEFAULT_OTLP_ENDPOINT = "http://localhost:4318"


@dataclass(frozen=True)
class TracingSettings:
    """OpenTelemetry's standard OTEL_* settings, as far as the service reads them.

    Tracing is on when OTEL_TRACES_EXPORTER names an exporter (otlp or console) or an OTLP
    endpoint is set, and OTEL_SDK_DISABLED is not true; off otherwise, at no cost.
    """

    exporter: str = "none"
    endpoint: str = DEFAULT_OTLP_ENDPOINT + "/v1/traces"
    service_name: str = "signup-service"
    sampler: str = "parentbased_always_on"
    sampler_ratio: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.exporter != "none"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TracingSettings:
        if _flag(env, "OTEL_SDK_DISABLED", False):
            return cls()
        traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        exporter = named or ("otlp" if traces_endpoint or base_endpoint else "none")
        if exporter not in TRACES_EXPORTERS:
            raise ConfigError(f"OTEL_TRACES_EXPORTER must be one of {', '.join(TRACES_EXPORTERS)}")
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
            or "http/protobuf"
        )
        if exporter == "otlp" and protocol != "http/protobuf":
            raise ConfigError("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported")
        sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
        if sampler not in TRACES_SAMPLERS:
            raise ConfigError(f"OTEL_TRACES_SAMPLER must be one of {', '.join(TRACES_SAMPLERS)}")
        ratio = _number(env, "OTEL_TRACES_SAMPLER_ARG", 1.0, float, 0.0, 1.0)
        return cls(
            exporter=exporter,
            # The signal's own endpoint is used as given; the base one gets the traces path.
            endpoint=traces_endpoint
            or (base_endpoint or DEFAULT_OTLP_ENDPOINT).rstrip("/") + "/v1/traces",
            service_name=env.get("OTEL_SERVICE_NAME", "").strip() or "signup-service",
            sampler=sampler,
            sampler_ratio=ratio,
        )


# A cookie's name and path as RFC 6265 allows them; a domain as a host name.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$")
_COOKIE_PATH = re.compile(r"^/[\x21-\x3a\x3c-\x7e]{0,255}$")  # printable ASCII but ";"
_COOKIE_DOMAIN = re.compile(r"^\.?([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$")
SAME_SITE_CHOICES = ("Strict", "Lax", "None")
# Cognito's AuthSessionValidity is 3-15 minutes: a Session kept longer is refused anyway.
SIGN_IN_WINDOW_MAX = timedelta(minutes=15)


@dataclass(frozen=True)
class TokenCookies:
    """How a browser receives its tokens: HttpOnly, Secure cookies, never a body it can read."""

    access_name: str = "access_token"
    id_name: str = "id_token"
    refresh_name: str = "refresh_token"
    domain: str | None = None  # None: only this host
    path: str = "/"
    # The refresh token goes only where the app exchanges it, never with every request.
    refresh_path: str = "/auth/refresh"
    refresh_max_age: timedelta = timedelta(days=30)  # Cognito's default refresh token validity
    same_site: str = "Lax"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenCookies:
        same_site = env.get("SIGNUP_TOKEN_COOKIE_SAMESITE", "").strip().capitalize() or "Lax"
        if same_site not in SAME_SITE_CHOICES:
            choices = ", ".join(SAME_SITE_CHOICES)
            raise ConfigError(f"SIGNUP_TOKEN_COOKIE_SAMESITE must be one of {choices}")
        domain = env.get("SIGNUP_TOKEN_COOKIE_DOMAIN", "").strip().lower() or None
        if domain is not None and not _COOKIE_DOMAIN.match(domain):
            raise ConfigError("SIGNUP_TOKEN_COOKIE_DOMAIN must be a host name, e.g. example.com")
        return cls(
            access_name=_cookie_part(env, "SIGNUP_ACCESS_TOKEN_COOKIE", "access_token"),
            id_name=_cookie_part(env, "SIGNUP_ID_TOKEN_COOKIE", "id_token"),
            refresh_name=_cookie_part(env, "SIGNUP_REFRESH_TOKEN_COOKIE", "refresh_token"),
            domain=domain,
            path=_cookie_part(env, "SIGNUP_TOKEN_COOKIE_PATH", "/", _COOKIE_PATH),
            refresh_path=_cookie_part(
                env, "SIGNUP_REFRESH_TOKEN_COOKIE_PATH", "/auth/refresh", _COOKIE_PATH
            ),
            refresh_max_age=_duration(
                env, "SIGNUP_REFRESH_TOKEN_COOKIE_MAX_AGE", timedelta(days=30)
            ),
            same_site=same_site,
        )


@dataclass(frozen=True)
class SignInSettings:
    """Signing a person in after they confirm, and signing up without a password."""

    enabled: bool = True
    # How long a sign-up's Session is kept: the app client's AuthSessionValidity.
    window: timedelta = timedelta(minutes=3)
    sign_in_url: str | None = None  # where a person not signed in is sent to sign in
    signed_in_url: str | None = None  # where a browser goes once signed in, without redirect_to
    passwordless: bool = False
    cookies: TokenCookies = field(default_factory=TokenCookies)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SignInSettings:
        window = _duration(env, "SIGNUP_SIGN_IN_WINDOW", timedelta(minutes=3))
        if window > SIGN_IN_WINDOW_MAX:
            raise ConfigError("SIGNUP_SIGN_IN_WINDOW must be at most 15m, Cognito's longest")
        return cls(
            enabled=_flag(env, "SIGNUP_SIGN_IN", True),
            window=window,
            sign_in_url=_url(env, "SIGNUP_SIGN_IN_URL"),
            signed_in_url=_url(env, "SIGNUP_SIGNED_IN_URL"),
            passwordless=_flag(env, "SIGNUP_PASSWORDLESS", False),
            cookies=TokenCookies.from_env(env),
        )


def _cookie_part(
    env: Mapping[str, str], name: str, default: str, rule: re.Pattern[str] = _COOKIE_NAME
) -> str:
    value = env.get(name, "").strip() or default
    if not rule.match(value):
        raise ConfigError(
            f"{name} is not a valid cookie {'path' if rule is _COOKIE_PATH else 'name'}"
        )
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL, or a path on this service; None when unset."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if value.startswith("/") and not value.startswith("//"):
        return value
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ConfigError(f"{name} must be an http(s) URL or a path starting with /")
    return value


REPORT_TOKEN_MIN_LENGTH = 32


@dataclass(frozen=True)
class ReportSettings:
    """The conversion report: its control group, its thresholds, and the admin page's token."""

    control: str | None = None  # None: the first group, in name order
    min_sample: int = 100  # registered people per group before a winner may be called
    min_group: int = 10  # people per group below which the report shows "too few"
    token: Secret | None = None  # set: the report is served at /admin/report to its bearer

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReportSettings:
        token = _optional_secret(env, "SIGNUP_REPORT_TOKEN")
        if token and len(token) < REPORT_TOKEN_MIN_LENGTH:
            raise ConfigError(
                f"SIGNUP_REPORT_TOKEN must be at least {REPORT_TOKEN_MIN_LENGTH} characters"
            )
        return cls(
            control=env.get("SIGNUP_REPORT_CONTROL", "").strip() or None,
            min_sample=_number(env, "SIGNUP_REPORT_MIN_SAMPLE", 100, int, 1, 10_000_000),
            min_group=_number(env, "SIGNUP_REPORT_MIN_GROUP", 10, int, 1, 1_000_000),
            token=Secret(token) if token else None,
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
    abuse: AbuseSettings = field(default_factory=lambda: AbuseSettings())
    cors_origins: frozenset[str] = frozenset()
    readyz_check_cognito: bool = True
    behind_tls: bool = False
    records: RecordSettings = field(default_factory=RecordSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    sign_in: SignInSettings = field(default_factory=SignInSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            cognito=CognitoSettings.from_env(env),
            cognito_timeout_seconds=_number(env, "COGNITO_TIMEOUT_SECONDS", 5.0, float, 0.1, 60),
            cognito_max_connections=_number(
                env, "COGNITO_MAX_CONNECTIONS", 50, int, 1, MAX_COGNITO_CONNECTIONS
            ),
            trusted_proxy_count=_number(env, "TRUSTED_PROXY_COUNT", 0, int, 0, 20),
            allowed_custom_attributes=_names(env, "SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES", "custom:"),
            client_metadata_keys=_names(env, "SIGNUP_CLIENT_METADATA_KEYS"),
            max_body_bytes=_number(env, "SIGNUP_MAX_BODY_BYTES", 64 * 1024, int, 1024, 1 << 20),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            abuse=AbuseSettings.from_env(env),
            cors_origins=_origins(env, "SIGNUP_CORS_ORIGINS"),
            readyz_check_cognito=_flag(env, "READYZ_CHECK_COGNITO", True),
            behind_tls=_flag(env, "SIGNUP_BEHIND_TLS", False),
            records=RecordSettings.from_env(env),
            tracing=TracingSettings.from_env(env),
            sign_in=SignInSettings.from_env(env),
            report=ReportSettings.from_env(env),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required")
    return value


def _client_secret(env: Mapping[str, str]) -> str:
    return _secret(env, "COGNITO_CLIENT_SECRET")


def _secret(env: Mapping[str, str], name: str) -> str:
    """``name`` or the contents of the file ``name_FILE`` names (mounted secrets win)."""
    secret = _optional_secret(env, name)
    if not secret:
        raise ConfigError(f"{name} or {name}_FILE is required")
    return secret


def _optional_secret(env: Mapping[str, str], name: str) -> str:
    """Like ``_secret``, but empty when neither is set."""
    path = env.get(f"{name}_FILE", "").strip()
    if not path:
        return env.get(name, "").strip()
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"{name}_FILE cannot be read: {error.strerror}") from None


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


# Abuse protection: rate limits, captcha, and whether existing accounts are hidden.

CAPTCHA_VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
# Storages that every worker and host can share, plus the per-process one; all support the moving
# window the limits use.
SHARED_STORAGE_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
PROCESS_STORAGE_SCHEME = "memory"


@dataclass(frozen=True)
class CaptchaSettings:
    """Server-side verification of the widget's token with the provider's siteverify endpoint."""

    provider: str
    secret: Secret
    verify_url: str
    timeout_seconds: float = 3.0
    fail_open: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaptchaSettings | None:
        provider = env.get("SIGNUP_CAPTCHA_PROVIDER", "").strip().lower()
        if provider in ("", "none"):
            return None
        if provider not in CAPTCHA_VERIFY_URLS:
            raise ConfigError(
                f"SIGNUP_CAPTCHA_PROVIDER must be one of {', '.join(CAPTCHA_VERIFY_URLS)} "
                f"or empty, got {provider!r}"
            )
        verify_url = env.get("SIGNUP_CAPTCHA_VERIFY_URL", "").strip()
        if verify_url and urlsplit(verify_url).scheme not in ("http", "https"):
            raise ConfigError("SIGNUP_CAPTCHA_VERIFY_URL must be an http(s) URL")
        on_outage = env.get("SIGNUP_CAPTCHA_ON_OUTAGE", "closed").strip().lower()
        if on_outage not in ("open", "closed"):
            raise ConfigError(f"SIGNUP_CAPTCHA_ON_OUTAGE must be open or closed, got {on_outage!r}")
        return cls(
            provider=provider,
            secret=Secret(_secret(env, "SIGNUP_CAPTCHA_SECRET")),
            verify_url=verify_url or CAPTCHA_VERIFY_URLS[provider],
            timeout_seconds=_number(env, "SIGNUP_CAPTCHA_TIMEOUT_SECONDS", 3.0, float, 0.1, 30),
            fail_open=on_outage == "open",
        )


# Each rule a sign-up can trip, and its environment variable (SIGNUP_RULE_<NAME>): enforce refuses,
# shadow lets the request go on and counts what the rule would have done, off skips it.
RULE_MODES = ("enforce", "shadow", "off")
RULE_DEFAULTS = {
    "honeypot": "enforce",
    "captcha": "enforce",  # only once SIGNUP_CAPTCHA_PROVIDER is set
    "email_denylist": "enforce",  # only once SIGNUP_EMAIL_DOMAINS_DENIED is set
    "email_allowlist": "enforce",  # only once SIGNUP_EMAIL_DOMAINS_ALLOWED is set
    # Counted, not refused: an operator sees what it would refuse before it bites.
    "disposable_email": "shadow",
    "email_subaddress": "off",  # plus-addressing is how careful people sign up
    "breached_password": "enforce",
    "identity_budget": "enforce",
}
RULES = tuple(RULE_DEFAULTS)
PWNED_PASSWORDS_RANGE_URL = "https://api.pwnedpasswords.com/range/"


@dataclass(frozen=True)
class RuleModes:
    """The mode of every rule; ``of(rule)`` is one of RULE_MODES."""

    modes: Mapping[str, str] = field(default_factory=lambda: dict(RULE_DEFAULTS))

    def of(self, rule: str) -> str:
        return self.modes[rule]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RuleModes:
        modes = {}
        for rule, default in RULE_DEFAULTS.items():
            name = f"SIGNUP_RULE_{rule.upper()}"
            mode = env.get(name, "").strip().lower() or default
            if mode not in RULE_MODES:
                raise ConfigError(f"{name} must be one of {', '.join(RULE_MODES)}, got {mode!r}")
            modes[rule] = mode
        return cls(modes)


@dataclass(frozen=True)
class BreachedPasswordSettings:
    """The Pwned Passwords range API (or a mirror): only a 5-character SHA-1 prefix is sent."""

    range_url: str = PWNED_PASSWORDS_RANGE_URL
    timeout_seconds: float = 2.0
    # A password seen this many times or more in breaches is refused.
    min_count: int = 1
    fail_open: bool = True  # go on without a verdict while the range API is unavailable
    cache_size: int = 4096  # prefixes kept per process
    cache_ttl: timedelta = timedelta(hours=1)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BreachedPasswordSettings:
        url = env.get("SIGNUP_BREACHED_PASSWORD_URL", "").strip() or PWNED_PASSWORDS_RANGE_URL
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ConfigError("SIGNUP_BREACHED_PASSWORD_URL must be an http(s) URL")
        on_outage = env.get("SIGNUP_BREACHED_PASSWORD_ON_OUTAGE", "open").strip().lower()
        if on_outage not in ("open", "closed"):
            raise ConfigError(
                f"SIGNUP_BREACHED_PASSWORD_ON_OUTAGE must be open or closed, got {on_outage!r}"
            )
        return cls(
            range_url=url if url.endswith("/") else url + "/",
            timeout_seconds=_number(
                env, "SIGNUP_BREACHED_PASSWORD_TIMEOUT_SECONDS", 2.0, float, 0.1, 30
            ),
            min_count=_number(env, "SIGNUP_BREACHED_PASSWORD_MIN_COUNT", 1, int, 1, 1_000_000),
            fail_open=on_outage == "open",
            cache_size=_number(env, "SIGNUP_BREACHED_PASSWORD_CACHE_SIZE", 4096, int, 0, 1 << 20),
            cache_ttl=_duration(env, "SIGNUP_BREACHED_PASSWORD_CACHE_TTL", timedelta(hours=1)),
        )


@dataclass(frozen=True)
class EmailDomainSettings:
    """Domains refused or, when an allow list is given, the only ones accepted; each entry also
    covers its subdomains. Kept in ASCII (IDNA), so either spelling of an IDN matches."""

    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmailDomainSettings:
        return cls(
            allowed=_domains(env, "SIGNUP_EMAIL_DOMAINS_ALLOWED"),
            denied=_domains(env, "SIGNUP_EMAIL_DOMAINS_DENIED"),
        )


def _domains(env: Mapping[str, str], name: str) -> frozenset[str]:
    domains = set()
    for item in (part.strip() for part in env.get(name, "").split(",")):
        if not item:
            continue
        try:
            domains.add(ascii_domain(item.removeprefix("*.").removeprefix("@")))
        except ValueError:
            raise ConfigError(
                f"{name} entries must be domains like example.com, got {item!r}"
            ) from None
    return frozenset(domains)


@dataclass(frozen=True)
class AbuseSettings:
    """Rate limits (flask-limiter notation, e.g. ``10/minute;100/hour``), bot defences and the
    sign-up hygiene rules, each with its mode."""

    per_ip: str = "10/minute;100/hour"
    per_identity: str = "5/hour;10/day"
    # Below Cognito's 50 requests/second UserCreation quota, which the whole AWS account shares.
    global_: str = "40/second"
    confirm_per_username: str = "10/hour"
    storage_uri: str = field(default="memory://", repr=False)  # may hold a Redis password
    key_prefix: str = "signup"
    hide_existing_users: bool = True
    captcha: CaptchaSettings | None = None
    rules: RuleModes = field(default_factory=RuleModes)
    breached_password: BreachedPasswordSettings = field(default_factory=BreachedPasswordSettings)
    email_domains: EmailDomainSettings = field(default_factory=EmailDomainSettings)

    @property
    def storage_is_shared(self) -> bool:
        """False for memory://, whose counters live in one process only."""
        return storage_is_shared(self.storage_uri)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AbuseSettings:
        defaults = cls()
        return cls(
            per_ip=_limit(env, "SIGNUP_RATE_LIMIT_PER_IP", defaults.per_ip),
            per_identity=_limit(env, "SIGNUP_RATE_LIMIT_PER_IDENTITY", defaults.per_identity),
            global_=_limit(env, "SIGNUP_RATE_LIMIT_GLOBAL", defaults.global_),
            confirm_per_username=_limit(
                env, "SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME", defaults.confirm_per_username
            ),
            storage_uri=_storage_uri(env),
            key_prefix=_key_prefix(env),
            hide_existing_users=_flag(env, "SIGNUP_HIDE_EXISTING_USERS", True),
            captcha=CaptchaSettings.from_env(env),
            rules=RuleModes.from_env(env),
            breached_password=BreachedPasswordSettings.from_env(env),
            email_domains=EmailDomainSettings.from_env(env),
        )


def storage_is_shared(uri: str) -> bool:
    return urlsplit(uri).scheme != PROCESS_STORAGE_SCHEME


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be limits like '10/minute;100/hour', got {raw!r}") from None
    return raw


def _storage_uri(env: Mapping[str, str]) -> str:
    uri = env.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://"
    scheme = urlsplit(uri).scheme
    if scheme != PROCESS_STORAGE_SCHEME and scheme not in SHARED_STORAGE_SCHEMES:
        # Only the scheme: the URI may carry a Redis password.
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI must be memory:// or a {'/'.join(SHARED_STORAGE_SCHEMES)} "
            f"URI, got scheme {scheme!r}"
        )
    return uri


_KEY_PREFIX = re.compile(r"^[\w.:-]{1,64}$")


def _key_prefix(env: Mapping[str, str]) -> str:
    prefix = env.get("RATELIMIT_KEY_PREFIX", "").strip() or "signup"
    if not _KEY_PREFIX.match(prefix):
        raise ConfigError("RATELIMIT_KEY_PREFIX must be 1-64 letters, digits, '_', '.', ':', '-'")
    return prefix


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


_DURATION = re.compile(r"^(?P<amount>\d+)\s*(?P<unit>[smhd]?)$")
_DURATION_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``24h``, ``15m``, ``30s`` or plain seconds; ValueError for anything else."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match["amount"]) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90d, 24h, 15m or 30s")
    return timedelta(**{_DURATION_UNITS[match["unit"]]: int(match["amount"])})


def _duration(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


# psycopg 3 is the PostgreSQL driver installed; SQLAlchemy's bare "postgresql://" means psycopg2.
_POSTGRES_SCHEME = re.compile(r"^postgres(?:ql)?://")


def _database_url(env: Mapping[str, str]) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = env.get("DATABASE_URL", "").strip() or "sqlite:///signups.db"
    raw = _POSTGRES_SCHEME.sub("postgresql+psycopg://", raw)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("DATABASE_URL must be an sqlite:// or postgresql:// URL")
    return raw


RECORD_KEY_MIN_LENGTH = 32


def _record_key(env: Mapping[str, str]) -> Secret | None:
    key = _optional_secret(env, "SIGNUP_RECORD_KEY")
    if not key:
        return None
    if len(key) < RECORD_KEY_MIN_LENGTH:
        raise ConfigError(f"SIGNUP_RECORD_KEY must be at least {RECORD_KEY_MIN_LENGTH} characters")
    return Secret(key)
