"""deploy/: the compose file and the Kubernetes manifests parse and point at what really exists.

No Docker engine or cluster runs here, so these read the files: probes name real paths, ports
match, settings are ones the service reads, and the client secret arrives as a mounted file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app import create_app
from app.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
GUNICORN_CONF = DEPLOY.parent / "app" / "serving" / "gunicorn_conf.py"

# PostgreSQL's default max_connections; some are kept for migrations, psql and the superuser.
POSTGRES_MAX_CONNECTIONS = 100
POSTGRES_RESERVED = 10
# Enough of a user pool for create_app to build an app that serves.
POOL = {
    "COGNITO_USER_POOL_ID": "eu-west-1_Abc",
    "COGNITO_CLIENT_ID": "abc",
    "COGNITO_CLIENT_SECRET": "x",
}


class Recording(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def settings_read() -> set[str]:
    """Every environment variable the service reads: Settings, gunicorn's config, botocore."""
    env = Recording(POOL)
    Settings.from_env(env)
    gunicorn = re.findall(r"os\.environ(?:\.get\(|\.setdefault\(|\[)\s*[\"']([A-Z_]+)", _conf())
    return env.read | set(gunicorn)


def _conf() -> str:
    return GUNICORN_CONF.read_text()


def documents(path: Path) -> list[dict]:
    with path.open() as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    """Every Kubernetes object kustomization.yaml applies, by kind."""
    kustomization = documents(K8S / "kustomization.yaml")[0]
    objects = [doc for name in kustomization["resources"] for doc in documents(K8S / name)]
    return {document["kind"]: document for document in objects}


@pytest.fixture(scope="module")
def container(manifests) -> dict:
    (only,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


@pytest.fixture(scope="module")
def compose() -> dict:
    return documents(DEPLOY / "docker-compose.yml")[0]


@pytest.fixture(scope="module")
def routes() -> set[str]:
    app = create_app(POOL)
    return {rule.rule for rule in app.url_map.iter_rules()}


def test_every_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.y*ml"))

    assert len(files) >= 7
    for path in files:
        assert documents(path), path


# Kubernetes


@pytest.mark.parametrize(
    ("probe", "path"),
    [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")],
)
def test_probes_ask_the_real_endpoints_on_the_served_port(container, routes, probe, path):
    check = container[probe]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert check["path"] == path
    assert path in routes
    assert check["port"] in ports


def test_the_container_port_is_the_port_gunicorn_binds(container, manifests):
    config = manifests["ConfigMap"]["data"]

    assert [port["containerPort"] for port in container["ports"]] == [int(config["PORT"])]


def test_every_setting_given_is_one_the_service_reads(container, manifests):
    given = set(manifests["ConfigMap"]["data"]) | {item["name"] for item in container["env"]}

    assert given - settings_read() == set()


def test_the_client_secret_is_a_file_mounted_from_a_secret(container, manifests):
    env = {item["name"]: item for item in container["env"]}
    secret_file = Path(env["COGNITO_CLIENT_SECRET_FILE"]["value"])
    volumes = {
        volume["name"]: volume
        for volume in manifests["Deployment"]["spec"]["template"]["spec"]["volumes"]
    }
    mount = next(
        mount
        for mount in container["volumeMounts"]
        if secret_file.parent == Path(mount["mountPath"])
    )
    secret = volumes[mount["name"]]["secret"]

    assert [item["path"] for item in secret["items"]] == [secret_file.name]
    assert "COGNITO_CLIENT_SECRET" not in env
    assert "COGNITO_CLIENT_SECRET" not in manifests["ConfigMap"]["data"]


def test_the_metrics_directory_is_writable(container, manifests):
    metrics_dir = Path(manifests["ConfigMap"]["data"]["PROMETHEUS_MULTIPROC_DIR"])
    mounts = [Path(mount["mountPath"]) for mount in container["volumeMounts"]]

    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(mount in metrics_dir.parents for mount in mounts)


def test_shutdown_waits_longer_than_gunicorn_lets_requests_finish(manifests):
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    graceful = int(re.search(r"^graceful_timeout = (\d+)", _conf(), re.M).group(1))

    assert pod["terminationGracePeriodSeconds"] > graceful


def test_the_service_and_the_autoscaler_reach_the_deployment(manifests, container):
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = manifests["Service"]["spec"]
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]

    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] in {port["name"] for port in container["ports"]}
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert container["resources"]["requests"]["cpu"]  # what CPU utilisation is measured against


def test_every_replica_s_database_connections_fit_postgres_default_limit(manifests):
    settings = manifests["ConfigMap"]["data"]
    most = (
        manifests["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
        * int(settings["WEB_CONCURRENCY"])
        * int(settings["DATABASE_POOL_SIZE"])
    )

    assert most <= POSTGRES_MAX_CONNECTIONS - POSTGRES_RESERVED


# docker compose


def test_compose_runs_several_replicas_with_redis_and_postgres(compose):
    services = compose["services"]
    signup = services["signup"]

    assert signup["deploy"]["replicas"] >= 2
    assert {"redis", "postgres"} <= set(signup["depends_on"])
    for name in ("DATABASE_URL", "RATELIMIT_STORAGE_URI"):
        host = urlsplit(signup["environment"][name]).hostname
        assert host in services, f"{name} points at {host}, not a compose service"


def test_compose_database_connections_fit_postgres_default_limit(compose):
    signup = compose["services"]["signup"]
    settings = signup["environment"]
    most = signup["deploy"]["replicas"] * _default(settings["WEB_CONCURRENCY"])
    most *= _default(settings["DATABASE_POOL_SIZE"])

    assert most <= POSTGRES_MAX_CONNECTIONS - POSTGRES_RESERVED


def _default(value: str) -> int:
    """The default of a compose ``${NAME:-default}`` value, or the value itself."""
    match = re.fullmatch(r"\$\{\w+:-(\d+)\}", str(value))
    return int(match.group(1) if match else value)


def test_compose_settings_are_ones_the_service_reads(compose):
    given = set(compose["services"]["signup"]["environment"])

    assert given - settings_read() == set()


def test_compose_mounts_the_client_secret_as_a_file(compose):
    signup = compose["services"]["signup"]
    path = Path(signup["environment"]["COGNITO_CLIENT_SECRET_FILE"])

    assert path.parent == Path("/run/secrets")
    assert path.name in signup["secrets"]
    assert path.name in compose["secrets"]
    assert "COGNITO_CLIENT_SECRET" not in signup["environment"]


def test_compose_health_check_asks_a_real_endpoint_on_the_served_port(compose, routes):
    signup = compose["services"]["signup"]
    url = re.search(r"http://[^'\"]+", " ".join(signup["healthcheck"]["test"])).group(0)

    assert urlsplit(url).path in routes
    assert urlsplit(url).port == int(signup["environment"]["PORT"])


def test_nginx_forwards_to_the_service_port_and_is_the_one_trusted_proxy(compose):
    nginx = (DEPLOY / "nginx.conf").read_text()
    signup = compose["services"]["signup"]["environment"]

    assert f"server signup:{signup['PORT']};" in nginx
    assert "$proxy_add_x_forwarded_for" in nginx
    assert signup["TRUSTED_PROXY_COUNT"] == "1"


def test_the_image_health_check_asks_a_real_endpoint(routes):
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    paths = re.findall(r"http://127\.0\.0\.1:%s(/\w+)", dockerfile)

    assert paths
    assert set(paths) <= routes
