"""The soak: mixed traffic through gunicorn for a while, with dependencies failing on a schedule,
ending with the records matching what Cognito (the strict double) holds. tests/serving/test_soak.py
runs it: a short one in `make test`, the long one in `make soak`.

The stand is the service as `make run` serves it (two gunicorn workers) on a fresh PostgreSQL
database and a private Redis, talking to the strict Cognito double; PostgreSQL and Cognito sit
behind TCP proxies of ours so they can be cut. The traffic: new sign-ups (JSON and forms, some
with an Idempotency-Key), duplicates, retries under the same key, hostile bodies, confirmations
with right and wrong codes, resends. The faults, each for a slice of the run: Cognito stalling
past COGNITO_TIMEOUT_SECONDS, answering 5xx and throttling, Redis killed and restarted,
PostgreSQL cut then stalled, Cognito refusing connections. The last stretch is quiet.

Afterwards `flask signups reconcile` runs as an operator would (from the log, then asking
Cognito), and :func:`run` reports as broken: a user in Cognito without exactly one record, created
or confirmed as Cognito says; a record naming a user Cognito lacks; anything left pending; an
answer that was a 500, or a 5xx other than the documented upstream ones, or outside the error
shape; any 5xx in the quiet stretch; and any call the double refused as the real Cognito would.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from app.identity import canonical_identity
from app.services.keyed_hash import derive_key, keyed_hash
from tests.support import databases
from tests.support.cognito_double import CognitoDouble
from tests.support.faults import RedisServer, TcpProxy
from tests.support.servers import ROOT, Gunicorn, clean_environment

# Seeded per run, and the seed logged: SOAK_SEED gives a failure worth chasing the same choices
# again (the client threads' interleaving aside).
RNG = random.Random()
HIGH = "1000000/second"
TIMEOUT_SECONDS = 1.0
# 5xx answers a failing dependency may cause; anything else (a 500 above all) is a bug.
FAULT_ANSWERS = frozenset(
    {
        (502, "upstream_error"),
        (503, "upstream_unavailable"),
        (503, "upstream_throttled"),
        (503, "temporarily_unavailable"),
        (503, "storage_unavailable"),
        (504, "upstream_timeout"),
    }
)
ERROR_SHAPE = {"status", "code", "message", "fields"}
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "made-up"}
HOSTILE_BODIES = [
    (b'{"email": "a@b.co", "password": "Correct-h0rse"', "application/json"),
    (b'{"email": "x@example.com", "password": "a\\ud800b"}', "application/json"),
    ('{"email": "x@example.com"}'.encode("utf-16"), "application/json"),
    (b'{"email": "x@example.com", "password": "Correct-h0rse", "given_name": "a\\u202eb"}', ""),
    (b'{"email": ["x@example.com"], "password": {"p": 1}}', "application/json"),
    (b"email=x%40example.com&password=Correct-h0rse%zz", "application/x-www-form-urlencoded"),
    (b"email=x%40example.com&email=y%40example.com&password=P4ssword", ""),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (json.dumps({f"f{i}": "x" for i in range(300)}).encode(), "application/json"),
]


@dataclass
class Stand:
    """The service and what it depends on, each of which the soak can make fail."""

    base: str
    env: dict[str, str]
    database: str  # direct, not through the proxy
    cognito: CognitoDouble
    cognito_proxy: TcpProxy
    postgres_proxy: TcpProxy
    redis: RedisServer
    server: Gunicorn


@contextmanager
def stand(database: str, folder: Path) -> Iterator[Stand]:
    """Everything started for a soak on ``database`` (fresh, migrated on start)."""
    with ExitStack() as stack:
        cognito = stack.enter_context(CognitoDouble())
        cognito_port = int(cognito.endpoint_url.rsplit(":", 1)[1])
        cognito_proxy = stack.enter_context(TcpProxy(cognito_port))
        postgres_proxy = stack.enter_context(TcpProxy(make_url(database).port or 5432))
        redis = stack.enter_context(RedisServer())
        proxied = make_url(database).set(port=postgres_proxy.port)
        settings = {
            **cognito.settings(),
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": f"http://{cognito_proxy.url_host}",
        }
        env = clean_environment(
            **settings,
            COGNITO_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            DATABASE_URL=proxied.render_as_string(hide_password=False),
            RATELIMIT_STORAGE_URI=redis.url,
            SIGNUP_RATE_LIMIT_PER_IP=HIGH,
            SIGNUP_RATE_LIMIT_PER_IDENTITY=HIGH,
            SIGNUP_RATE_LIMIT_GLOBAL=HIGH,
            SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME=HIGH,
            WEB_CONCURRENCY="2",
            LOG_LEVEL="WARNING",
        )
        server = stack.enter_context(Gunicorn(env, folder))
        yield Stand(
            server.base,
            env,
            database,
            cognito,
            cognito_proxy,
            postgres_proxy,
            redis,
            server,
        )


# Traffic


@dataclass
class Answer:
    kind: str
    status: int
    code: str | None
    shaped: bool
    at: float  # when the request was sent, in seconds from the start


@dataclass
class Traffic:
    """What the clients sent and got back; shared by the client threads."""

    stand: Stand
    started: float
    answers: list[Answer] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    keyed: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def new_email(self) -> str:
        with self.lock:
            email = f"soak{next(self._numbers)}-{RNG.randrange(10**6)}@example.com"
            self.emails.append(email)
            return email

    def known_email(self) -> str | None:
        with self.lock:
            return RNG.choice(self.emails) if self.emails else None

    def send(self, kind: str, path: str, data: bytes, content_type: str, **headers: str) -> None:
        sent = time.monotonic() - self.started
        request = urllib.request.Request(
            f"{self.stand.base}{path}",
            data,
            {"Content-Type": content_type, "Accept": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            status, raw = 0, repr(error).encode()
        code, shaped = None, status < 400
        if status >= 400:
            try:
                body = json.loads(raw)
                code, shaped = body.get("code"), set(body) == ERROR_SHAPE
            except ValueError:
                pass
        with self.lock:
            self.answers.append(Answer(kind, status, code, shaped, sent))

    def post(self, kind: str, path: str, body: dict, *, form: bool = False, **headers: str) -> None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            self.send(kind, path, data, "application/x-www-form-urlencoded", **headers)
        else:
            self.send(kind, path, json.dumps(body).encode(), "application/json", **headers)


def sign_up(traffic: Traffic) -> None:
    body = {"email": traffic.new_email(), "password": "Correct-h0rse", "given_name": "Soak"}
    if RNG.random() < 0.3:
        key = f"soak-{RNG.getrandbits(64):x}"
        with traffic.lock:
            traffic.keyed.append((key, body))
        traffic.post("signup", "/register", body, **{"Idempotency-Key": key})
    else:
        traffic.post("signup", "/register", body, form=RNG.random() < 0.3)


def duplicate(traffic: Traffic) -> None:
    if email := traffic.known_email():
        traffic.post("duplicate", "/register", {"email": email, "password": "Correct-h0rse"})


def retry(traffic: Traffic) -> None:
    with traffic.lock:
        chosen = RNG.choice(traffic.keyed) if traffic.keyed else None
    if chosen:
        key, body = chosen
        traffic.post("retry", "/register", body, **{"Idempotency-Key": key})


def hostile(traffic: Traffic) -> None:
    data, content_type = RNG.choice(HOSTILE_BODIES)
    traffic.send("hostile", "/register", data, content_type or "application/json")


def confirm(traffic: Traffic) -> None:
    email = traffic.known_email()
    if email is None:
        return
    try:
        code = traffic.stand.cognito.code_for(email)
    except KeyError:
        code = "000000"  # not created (refused, or not yet): the service must say so cleanly
    if RNG.random() < 0.2:
        code = "999999"
    traffic.post("confirm", "/register/confirm", {"username": email, "code": code})


def resend(traffic: Traffic) -> None:
    if email := traffic.known_email():
        traffic.post("resend", "/register/resend", {"username": email})


MIX: list[tuple[Callable[[Traffic], None], int]] = [
    (sign_up, 40),
    (duplicate, 8),
    (retry, 8),
    (hostile, 14),
    (confirm, 22),
    (resend, 8),
]


def client(traffic: Traffic, deadline: float) -> None:
    actions, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        RNG.choice(RNG.choices(actions, weights, k=1))(traffic)


# Faults, each over a slice of the run; the last stretch is quiet.


@dataclass(frozen=True)
class Fault:
    start: float  # fractions of the run
    end: float
    name: str
    begin: Callable[[], None]
    finish: Callable[[], None]
    # At least one answer with one of these codes, or the fault never really happened.
    shows_as: tuple[str, ...]


def schedule(stand: Stand) -> list[Fault]:
    cognito, postgres = stand.cognito, stand.postgres_proxy

    def stall() -> None:
        cognito.delay_seconds = TIMEOUT_SECONDS * 2

    def unstall() -> None:
        cognito.delay_seconds = 0

    def errors() -> None:
        cognito.fail_next("SignUp", "InternalErrorException", status=500, times=3)
        cognito.fail_next("SignUp", "TooManyRequestsException", times=3)
        cognito.respond_raw_next("SignUp", 502, b"<html>Bad Gateway</html>")

    def restart_redis() -> None:
        stand.redis.start()

    def nothing() -> None:
        """The scripted answers are used up by the calls that meet them."""

    refuse, restore = stand.cognito_proxy.cut, stand.cognito_proxy.restore
    timeout, failed, throttled = ("upstream_timeout",), "upstream_error", "upstream_throttled"
    return [
        Fault(0.10, 0.18, "Cognito stalls past the timeout", stall, unstall, timeout),
        Fault(0.22, 0.26, "Cognito answers 5xx, throttles", errors, nothing, (failed, throttled)),
        Fault(0.30, 0.38, "Redis killed, then restarted", stand.redis.kill, restart_redis, REDIS),
        Fault(0.42, 0.50, "PostgreSQL cut, then back", postgres.cut, postgres.restore, DATABASE),
        Fault(
            0.54, 0.60, "Cognito refuses connections", refuse, restore, ("upstream_unavailable",)
        ),
        # Last: requests meeting it wait out the connect timeout (3 s).
        Fault(
            0.64, 0.70, "PostgreSQL stalls, then back", postgres.stall, postgres.restore, DATABASE
        ),
    ]


REDIS, DATABASE = ("temporarily_unavailable",), ("storage_unavailable",)
QUIET_FROM = 0.85  # requests started after this fraction of the run meet no fault at all


def injector(stand: Stand, seconds: float, started: float, log: Callable[[str], None]) -> None:
    for fault in schedule(stand):
        time.sleep(max(0.0, started + fault.start * seconds - time.monotonic()))
        log(f"{time.monotonic() - started:6.1f}s  {fault.name}")
        fault.begin()
        time.sleep(max(0.0, started + fault.end * seconds - time.monotonic()))
        fault.finish()


# The run and its verdict


def run(
    stand: Stand,
    seconds: float,
    concurrency: int,
    faults: bool,
    log: Callable[[str], None] = print,
    seed: int | None = None,
) -> list[str]:
    """Drive the stand, reconcile, and return every broken invariant (empty: the soak passed)."""
    seed = random.randrange(2**32) if seed is None else seed
    RNG.seed(seed)
    log(f"seed {seed}")
    started = time.monotonic()
    traffic = Traffic(stand, started)
    threads = [
        threading.Thread(target=client, args=(traffic, started + seconds), daemon=True)
        for _ in range(concurrency)
    ]
    if faults:
        threads.append(
            threading.Thread(target=injector, args=(stand, seconds, started, log), daemon=True)
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A request still in flight could create its user after reconciliation read the pool: stop
    # the service first (gracefully: every request in flight finishes), as sleeping for a while
    # did not, on a machine busy enough to stretch a request past any fixed wait.
    stand.server.stop()
    # And a call the service gave up on (a timeout) may still be in the double, about to create
    # its user: reconciliation must see the pool as it will stay.
    if not stand.cognito.wait_idle(timeout=30):
        log("the Cognito double was still answering a call 30 s after the service stopped")
    reconciling_from = time.time()
    log(summary(traffic))
    for args in (["--from-log", str(stand.server.stdout)], ["--older-than", "0"]):
        log(reconcile(stand, *args))
    return problems(stand, traffic, seconds, schedule(stand) if faults else [], reconciling_from)


def reconcile(stand: Stand, *args: str) -> str:
    finished = subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        [sys.executable, "-m", "flask", "--app", "wsgi", "signups", "reconcile", *args],
        cwd=ROOT,
        env={**stand.env, **FAKE_CREDENTIALS},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"reconcile {' '.join(args)} failed:\n{finished.stderr}")
    return finished.stdout.strip().splitlines()[-1]


def summary(traffic: Traffic) -> str:
    by_kind = Counter((a.kind, a.status, a.code or "") for a in traffic.answers)
    lines = [f"{len(traffic.answers)} requests:"]
    for (kind, status, code), count in sorted(by_kind.items()):
        lines.append(f"  {count:6d}  {kind:<9} {status} {code}")
    return "\n".join(lines)


def problems(
    stand: Stand, traffic: Traffic, seconds: float, faults: list[Fault], reconciling_from: float
) -> list[str]:
    found = [problem for a in traffic.answers if (problem := _wrong_answer(a, seconds))]
    for fault in faults:
        if not any(a.code in fault.shows_as for a in traffic.answers):
            found.append(f"{fault.name}: no answer showed it ({', '.join(fault.shows_as)})")
    users = stand.cognito.users()
    rows = databases.rows(stand.database, "signup_records")
    by_sub: dict[str, list[dict]] = {}
    for row in rows:
        if row["user_sub"]:
            by_sub.setdefault(row["user_sub"], []).append(row)
    for username, user in users.items():
        outcomes = [row["outcome"] for row in by_sub.get(user.sub, [])]
        expected = "confirmed" if user.confirmed else "created"
        if outcomes != [expected]:
            found.append(
                f"user {username}: {expected} in Cognito "
                f"{reconciling_from - user.created_at:.1f} s before reconciling, records say "
                f"{outcomes}; its attempts: {_attempts(stand, rows, username)}"
            )
    subs = {user.sub for user in users.values()}
    for row in rows:
        if row["user_sub"] and row["user_sub"] not in subs:
            found.append(f"record {row['id']} names a user Cognito does not have")
        if row["outcome"] == "pending":
            found.append(f"record {row['id']} is still pending")
    found += [f"reached Cognito: {violation}" for violation in stand.cognito.violations]
    return found


def _attempts(stand: Stand, rows: list[dict], username: str) -> list[str]:
    """Every record of one person, as the service keys them, for a problem worth chasing."""
    key = derive_key(stand.cognito.client_secret, "identity")
    identity = keyed_hash(key, canonical_identity(username))
    return [
        f"{row['id']} {row['created_at']:%H:%M:%S.%f} {row['outcome']} {row['error_code']}"
        for row in rows
        if row["identity_hash"] == identity
    ]


def _wrong_answer(answer: Answer, seconds: float) -> str | None:
    where = f"{answer.kind} at {answer.at:.1f}s"
    if answer.status == 0:
        return f"{where}: no answer"
    if answer.status >= 500 and (answer.status, answer.code) not in FAULT_ANSWERS:
        return f"{where}: {answer.status} {answer.code}"
    if answer.status >= 500 and answer.at > QUIET_FROM * seconds:
        return f"{where}: {answer.status} {answer.code} after the faults ended"
    if not answer.shaped:
        return f"{where}: {answer.status} not in the error shape"
    return None
