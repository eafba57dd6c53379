"""Offline checks of the production manifests: Dockerfile, docker-compose.yml, deploy/.

No network, no Docker, no kubectl. Three kinds of check:

- Schemas. Every built-in Kubernetes object that the kustomize base and the
  production overlay render (rendered here in Python: see ``render_kustomization``)
  is validated against the Kubernetes JSON schemas shipped by the
  ``kubernetes-validate`` package, strictly (unknown fields are errors).
  docker-compose.yml is validated against the Compose Specification schema
  vendored in the ``check-jsonschema`` package.
- Custom resources (Strimzi KafkaTopic, Altinity ClickHouse[Keeper]Installation)
  have no schema offline: the fields the system relies on are asserted.
- Consistency: each service gets the same variable names in Compose and on
  Kubernetes, the same topics exist in both, every Deployment has its Service,
  HPA and PDB, secrets are required (``${VAR:?…}``), and so on.

A missing validator package is an error, never a skip.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from learnstream.runtime.bus import all_topics
from learnstream.runtime.settings import SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S_DIR = ROOT / "deploy" / "k8s"
K8S_BASE = K8S_DIR / "base"
K8S_PRODUCTION = K8S_DIR / "overlays" / "production"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# ---------------------------------------------------------------------------
# The contract: services, ports, topics, variables (issue 2, ARCHITECTURE.md).
# ---------------------------------------------------------------------------

SERVICES: dict[str, int] = SERVICE_PORTS  # the ports the services listen on by default
TOPICS = set(all_topics())
PARTITIONS = 12

COMMON_ENV = {
    "LEARNSTREAM_ENV",
    "LEARNSTREAM_SERVICE_NAME",
    "LEARNSTREAM_HTTP_HOST",
    "LEARNSTREAM_HTTP_PORT",
    "LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS",
    "LEARNSTREAM_KAFKA_IDEMPOTENT_PRODUCER",
    "LEARNSTREAM_DATABASE_URL",
    "LEARNSTREAM_VAULT_URL",
    "LEARNSTREAM_SERVICE_TOKEN",
    "LEARNSTREAM_LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
}
SERVICE_URL_ENV = {f"LEARNSTREAM_{s.upper()}_URL" for s in SERVICES if s != "gateway"}
EXTRA_ENV: dict[str, set[str]] = {
    "gateway": {"LEARNSTREAM_REDIS_URL", "LEARNSTREAM_JWT_SECRET", *SERVICE_URL_ENV},
    "progress": set(),
    "chat": {
        "LEARNSTREAM_OPENAI_BASE_URL",
        "LEARNSTREAM_OPENAI_API_KEY",
        "LEARNSTREAM_OPENAI_MODEL",
    },
    "achievements": {"LEARNSTREAM_REDIS_URL"},
    "analytics": {"LEARNSTREAM_CLICKHOUSE_URL", "LEARNSTREAM_CLICKHOUSE_CLUSTER"},
    "exports": {
        "LEARNSTREAM_ANALYTICS_URL",
        "LEARNSTREAM_GATEWAY_URL",
        "LEARNSTREAM_PUBLIC_BASE_URL",
        "LEARNSTREAM_EXPORT_SIGNING_KEY",
        "LEARNSTREAM_EXPORT_S3_BUCKET",
    },
}
# Variables whose values are credentials (or URLs that carry one): on
# Kubernetes they must come from a Secret, never a ConfigMap or a literal.
SECRET_ENV = {
    "LEARNSTREAM_DATABASE_URL",
    "LEARNSTREAM_VAULT_URL",
    "LEARNSTREAM_SERVICE_TOKEN",
    "LEARNSTREAM_JWT_SECRET",
    "LEARNSTREAM_REDIS_URL",
    "LEARNSTREAM_CLICKHOUSE_URL",
    "LEARNSTREAM_OPENAI_API_KEY",
    "LEARNSTREAM_EXPORT_SIGNING_KEY",
    "LEARNSTREAM_EXPORT_S3_ACCESS_KEY",
    "LEARNSTREAM_EXPORT_S3_SECRET_KEY",
}
# What the operator's .env must provide; Compose must refuse to start without.
COMPOSE_REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "CLICKHOUSE_PASSWORD",
    "LEARNSTREAM_SERVICE_TOKEN",
    "LEARNSTREAM_JWT_SECRET",
    "LEARNSTREAM_EXPORT_SIGNING_KEY",
)
DATABASES = {f"learnstream_{s}" for s in SERVICES} | {"learnstream_vault"}
"""A database per service, and the key vault they share."""

# Kubernetes versions the built-in objects are validated against: the oldest
# we support and the newest kubernetes-validate ships.
K8S_OLDEST_SUPPORTED = "1.31.0"

STRIMZI_API = "kafka.strimzi.io/v1beta2"
CHI_API = "clickhouse.altinity.com/v1"
CHK_API = "clickhouse-keeper.altinity.com/v1"
CUSTOM_RESOURCES = {
    (STRIMZI_API, "KafkaTopic"),
    (CHI_API, "ClickHouseInstallation"),
    (CHK_API, "ClickHouseKeeperInstallation"),
}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        assert isinstance(d, dict), f"{path}: a document is not a mapping"
        assert {"apiVersion", "kind", "metadata"} <= d.keys(), (
            f"{path}: {d.get('kind')} lacks apiVersion/kind/metadata"
        )
    return docs


@functools.cache
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def compose_env(service: str) -> dict[str, Any]:
    env = compose_services()[service].get("environment", {})
    assert isinstance(env, dict), f"compose {service}: use the mapping form of `environment`"
    return env


# ---------------------------------------------------------------------------
# Compose variable interpolation (the subset of the Compose spec we use).
# ---------------------------------------------------------------------------


class MissingRequiredVariable(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


_INTERPOLATION = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<colon>:?)(?P<op>[-?+])(?P<arg>.*))?", re.S)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise ValueError(f"invalid interpolation ${{{match['braced']}}}")
        name, colon, op, arg = braced["name"], braced["colon"], braced["op"], braced["arg"]
        current = env.get(name)
        unset = current is None or (colon == ":" and current == "")
        if op is None:
            return current or ""
        if op == "-":
            return arg if unset else current  # type: ignore[return-value]
        if op == "?":
            if unset:
                raise MissingRequiredVariable(name, arg)
            return current  # type: ignore[return-value]
        return "" if unset else arg  # "+"

    return _INTERPOLATION.sub(substitute, value)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(n, env) for n in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


SAMPLE_DOTENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "CLICKHOUSE_PASSWORD": "ch-secret",
    "LEARNSTREAM_SERVICE_TOKEN": "service-token",
    "LEARNSTREAM_JWT_SECRET": "jwt-secret",
    "LEARNSTREAM_EXPORT_SIGNING_KEY": "export-signing-key",
}


# ---------------------------------------------------------------------------
# A kustomize renderer in Python (no kustomize/kubectl binary offline). It
# supports exactly the kustomization fields below and fails on any other, so a
# manifest can never use a feature these tests silently ignore.
# ---------------------------------------------------------------------------

KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "images",
    "patches",
}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    kfile = directory / "kustomization.yaml"
    assert kfile.is_file(), f"{directory}: no kustomization.yaml"
    k = load_yaml(kfile)
    unknown = set(k) - KUSTOMIZATION_FIELDS
    assert not unknown, (
        f"{kfile}: fields {sorted(unknown)} are not understood by this test's kustomize "
        "renderer; teach render_kustomization() about them"
    )
    assert k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1", kfile
    assert k.get("kind") == "Kustomization", kfile

    docs: list[dict[str, Any]] = []
    for entry in k.get("resources", []):
        assert "://" not in entry, f"{kfile}: remote resource {entry} cannot be checked offline"
        path = directory / entry
        if path.is_dir():
            docs.extend(render_kustomization(path))
        elif path.is_file():
            docs.extend(load_yaml_documents(path))
        else:
            raise AssertionError(f"{kfile}: resource {entry} does not exist")
    docs = copy.deepcopy(docs)

    for patch in k.get("patches", []):
        _apply_patch(docs, patch, kfile)
    if namespace := k.get("namespace"):
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED_KINDS:
                d["metadata"]["namespace"] = namespace
    for label in k.get("labels", []):
        _apply_labels(docs, label, kfile)
    for image in k.get("images", []):
        _apply_image(docs, image, kfile)

    seen: set[tuple[str, str, str, str | None]] = set()
    for d in docs:
        key = (
            d["apiVersion"].split("/")[0],
            d["kind"],
            d["metadata"]["name"],
            d["metadata"].get("namespace"),
        )
        assert key not in seen, f"{kfile}: duplicate resource {key}"
        seen.add(key)
    return docs


def _apply_labels(docs: list[dict[str, Any]], label: dict[str, Any], kfile: Path) -> None:
    assert set(label) <= {"pairs", "includeSelectors", "includeTemplates"}, f"{kfile}: labels {label}"
    assert not label.get("includeSelectors"), f"{kfile}: includeSelectors is not supported here"
    pairs = label["pairs"]
    for d in docs:
        d["metadata"].setdefault("labels", {}).update(pairs)
        if label.get("includeTemplates") and d["kind"] in POD_TEMPLATE_KINDS:
            d["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container anywhere in an object (as kustomize's images transformer does)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _image_name(image: str) -> str:
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last)] + last.split(":", 1)[0]


def _apply_image(docs: list[dict[str, Any]], image: dict[str, Any], kfile: Path) -> None:
    assert set(image) <= {"name", "newName", "newTag", "digest"}, f"{kfile}: images {image}"
    matched = 0
    for d in docs:
        for container in _containers(d):
            if "image" in container and _image_name(container["image"]) == image["name"]:
                name = image.get("newName", image["name"])
                if "digest" in image:
                    container["image"] = f"{name}@{image['digest']}"
                else:
                    tag = image.get("newTag") or (
                        container["image"].partition(":")[2] if ":" in container["image"] else ""
                    )
                    container["image"] = f"{name}:{tag}" if tag else name
                matched += 1
    assert matched, f"{kfile}: image {image['name']} matches no container"


def _apply_patch(docs: list[dict[str, Any]], patch: dict[str, Any], kfile: Path) -> None:
    assert set(patch) <= {"target", "patch"}, f"{kfile}: only inline patches with a target are supported"
    target = patch["target"]
    assert set(target) <= {"kind", "name", "group", "version", "namespace"}, f"{kfile}: target {target}"
    ops = yaml.safe_load(patch["patch"])
    assert isinstance(ops, list), f"{kfile}: only JSON 6902 patches (a list of operations) are supported"

    def matches(d: dict[str, Any]) -> bool:
        group, _, version = d["apiVersion"].rpartition("/")
        return (
            ("kind" not in target or d["kind"] == target["kind"])
            and ("name" not in target or re.fullmatch(target["name"], d["metadata"]["name"]) is not None)
            and ("group" not in target or group == target["group"])
            and ("version" not in target or version == target["version"])
            and ("namespace" not in target or d["metadata"].get("namespace") == target["namespace"])
        )

    targets = [d for d in docs if matches(d)]
    assert targets, f"{kfile}: patch target {target} matches nothing"
    for d in targets:
        for op in ops:
            _json_patch(d, op, kfile)


def _json_patch(doc: dict[str, Any], op: dict[str, Any], kfile: Path) -> None:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    parent: Any = doc
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, op["value"])
        elif kind == "replace":
            parent[index] = op["value"]
        elif kind == "remove":
            del parent[index]
        else:
            raise AssertionError(f"{kfile}: JSON patch op {kind} is not supported")
        return
    if kind == "add":
        parent[last] = op["value"]
    elif kind == "replace":
        assert last in parent, f"{kfile}: replace of missing {op['path']}"
        parent[last] = op["value"]
    elif kind == "remove":
        del parent[last]
    elif kind == "test":
        assert parent.get(last) == op["value"], f"{kfile}: test {op['path']} failed"
    else:
        raise AssertionError(f"{kfile}: JSON patch op {kind} is not supported")


@functools.cache
def _rendered(directory: Path) -> tuple[dict[str, Any], ...]:
    return tuple(render_kustomization(directory))


def rendered(directory: Path) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered(directory)))


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployment(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    deployments = objects(docs, "Deployment")
    name = f"learnstream-{service}"
    assert name in deployments, f"no Deployment {name}"
    return deployments[name]


def main_container(dep: dict[str, Any]) -> dict[str, Any]:
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{dep['metadata']['name']}: expected one container"
    return containers[0]


def config_map(docs: list[dict[str, Any]]) -> dict[str, str]:
    cms = objects(docs, "ConfigMap")
    assert "learnstream-config" in cms, "no ConfigMap learnstream-config"
    return cms["learnstream-config"]["data"]


def k8s_env(docs: list[dict[str, Any]], service: str) -> dict[str, dict[str, Any]]:
    container = main_container(deployment(docs, service))
    assert "envFrom" not in container, (
        f"{service}: use explicit env entries (configMapKeyRef/secretKeyRef) so that each "
        "service gets exactly its variables"
    )
    env = container.get("env", [])
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"{service}: duplicate env names"
    return {e["name"]: e for e in env}


def k8s_env_value(docs: list[dict[str, Any]], entry: dict[str, Any]) -> str:
    """The value of a literal or ConfigMap-sourced variable."""
    if "value" in entry:
        return entry["value"]
    ref = entry["valueFrom"]["configMapKeyRef"]
    return config_map(docs)[ref["key"]]


def k8s_versions() -> list[str]:
    return [K8S_OLDEST_SUPPORTED, kubernetes_validate.latest_version()]


# ---------------------------------------------------------------------------
# The validators are installed (a missing one fails here; nothing is skipped)
# ---------------------------------------------------------------------------


def compose_spec_schema() -> dict[str, Any]:
    resource = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(
        "compose-spec.json"
    )
    return json.loads(resource.read_text(encoding="utf-8"))


def test_validators_are_available() -> None:
    schema = compose_spec_schema()
    assert schema.get("title") == "Compose Specification"
    versions = kubernetes_validate.utils.all_versions()
    for version in k8s_versions():
        assert any(v.startswith(version.rsplit(".", 1)[0] + ".") for v in versions), (
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for {version}"
        )


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------


def _compose_validator() -> jsonschema.protocols.Validator:
    schema = compose_spec_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_compose_file_matches_the_compose_spec() -> None:
    validator = _compose_validator()
    assert _schema_errors(validator, compose()) == []
    # ...and once the operator's .env is interpolated (what `docker compose` validates).
    assert _schema_errors(validator, interpolate_tree(compose(), SAMPLE_DOTENV)) == []


@pytest.mark.parametrize("secret", COMPOSE_REQUIRED_SECRETS)
def test_compose_refuses_to_start_without_each_secret(secret: str) -> None:
    for env in (
        {k: v for k, v in SAMPLE_DOTENV.items() if k != secret},
        {**SAMPLE_DOTENV, secret: ""},
    ):
        with pytest.raises(MissingRequiredVariable) as raised:
            interpolate_tree(compose(), env)
        assert raised.value.name == secret


def _compose_strings(node: Any) -> Iterator[str]:
    """Every string value in a parsed Compose file (so comments are excluded)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _compose_strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _compose_strings(value)


def test_compose_secrets_are_always_required() -> None:
    text = "\n".join(_compose_strings(compose())).replace("$$", "")
    for secret in COMPOSE_REQUIRED_SECRETS:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used in docker-compose.yml"
        assert all(u.startswith(":?") for u in uses), f"{secret}: every use must be ${{{secret}:?message}}"
        assert not re.search(r"\$" + secret + r"\b", text), f"{secret}: bare ${secret} has no check"


def test_env_example_lists_every_variable_compose_reads() -> None:
    example = (COMPOSE_DIR / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.M))
    text = "\n".join(_compose_strings(compose())).replace("$$", "")
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert used >= set(COMPOSE_REQUIRED_SECRETS)
    assert used - listed == set(), "variables docker-compose.yml reads but .env.example does not list"
    for secret in COMPOSE_REQUIRED_SECRETS:
        assert re.search(rf"^{secret}=\s*$", example, re.M), f".env.example: {secret}= (empty, uncommented)"


def test_compose_services_run_the_one_image() -> None:
    services = compose_services()
    assert set(SERVICES) <= services.keys()
    images = {services[s].get("image") for s in SERVICES}
    assert len(images) == 1, f"one image for all services, got {images}"
    for service, port in SERVICES.items():
        spec = services[service]
        assert spec["build"] == {"context": ".", "dockerfile": "Dockerfile"}, service
        assert spec["command"] == ["python", "-m", f"learnstream.{service}"], service
        assert spec.get("read_only") is True, f"{service}: read_only root filesystem"
        env = compose_env(service)
        assert env["LEARNSTREAM_SERVICE_NAME"] == service
        assert str(env["LEARNSTREAM_HTTP_PORT"]) == str(port)
        assert env["LEARNSTREAM_HTTP_HOST"] == "0.0.0.0"
        assert env["LEARNSTREAM_ENV"] == "prod"
        assert env["LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert str(env["LEARNSTREAM_KAFKA_IDEMPOTENT_PRODUCER"]).lower() == "true"
        assert env["LEARNSTREAM_LOG_FORMAT"] == "json"
        assert env["OTEL_SERVICE_NAME"] == f"learnstream-{service}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"


def test_compose_only_the_gateway_is_published() -> None:
    services = compose_services()
    for service in SERVICES:
        ports = services[service].get("ports", [])
        if service == "gateway":
            assert ports == ["8000:8000"]
        else:
            assert not ports, f"{service} must not be published to the host"
    # Infrastructure is reachable only inside the Compose network (the trace
    # UI only on the host's loopback).
    for name, spec in services.items():
        if name in SERVICES:
            continue
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_healthchecks_and_dependencies() -> None:
    services = compose_services()
    for service, port in SERVICES.items():
        spec = services[service]
        test = spec["healthcheck"]["test"]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(test), f"{service}: healthcheck on /readyz"
        depends = spec["depends_on"]
        assert isinstance(depends, dict), f"{service}: depends_on with conditions"
        assert depends["postgres"]["condition"] == "service_healthy", service
        assert depends["kafka-init"]["condition"] == "service_completed_successfully", service
        for dependency in depends.values():
            assert dependency["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
        for dependency in depends:
            assert dependency in services, f"{service} depends on unknown {dependency}"
    assert services["analytics"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    for service in ("gateway", "achievements"):
        assert services[service]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Conditions on service_healthy need a healthcheck on the other side.
    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}'s health"


def test_compose_service_urls_and_databases() -> None:
    services = compose_services()
    for service in SERVICES:
        env = interpolate_tree(compose_env(service), SAMPLE_DOTENV)
        assert env["LEARNSTREAM_DATABASE_URL"] == (
            f"postgresql+asyncpg://learnstream:pg-secret@postgres:5432/learnstream_{service}"
        )
        assert env["LEARNSTREAM_SERVICE_TOKEN"] == "service-token"
        if "LEARNSTREAM_REDIS_URL" in env:
            assert env["LEARNSTREAM_REDIS_URL"] == "redis://redis:6379/0"
    gateway = compose_env("gateway")
    for service, port in SERVICES.items():
        if service != "gateway":
            url = gateway[f"LEARNSTREAM_{service.upper()}_URL"]
            assert url == f"http://{service}:{port}", url
            assert service in services
    analytics = interpolate_tree(compose_env("analytics"), SAMPLE_DOTENV)
    assert (
        analytics["LEARNSTREAM_CLICKHOUSE_URL"] == "http://learnstream:ch-secret@clickhouse:8123/learnstream"
    )
    assert analytics["LEARNSTREAM_CLICKHOUSE_CLUSTER"] == ""
    clickhouse = interpolate_tree(services["clickhouse"]["environment"], SAMPLE_DOTENV)
    assert clickhouse["CLICKHOUSE_USER"] == "learnstream"
    assert clickhouse["CLICKHOUSE_DB"] == "learnstream"
    assert clickhouse["CLICKHOUSE_PASSWORD"] == "ch-secret"
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "learnstream"


def test_compose_infrastructure_images() -> None:
    services = compose_services()
    expected = {
        "kafka": "apache/kafka:",
        "kafka-init": "apache/kafka:",
        "postgres": "postgres:18",
        "clickhouse": "clickhouse/clickhouse-server:",
        "redis": "redis:",
        "otel-collector": "otel/opentelemetry-collector-contrib:",
        "jaeger": "jaegertracing/all-in-one:",
    }
    for name, prefix in expected.items():
        assert services[name]["image"].startswith(prefix), f"{name}: {services[name]['image']}"
    assert "127.0.0.1:16686:16686" in services["jaeger"]["ports"]


def test_compose_kafka_is_kraft_with_an_in_network_listener() -> None:
    env = compose_services()["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"], "KRaft needs a cluster id"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"


def test_compose_creates_every_topic() -> None:
    job = compose_services()["kafka-init"]
    env = job["environment"]
    topics = env["LEARNSTREAM_TOPICS"].split()
    assert len(topics) == len(set(topics))
    assert set(topics) == TOPICS
    assert int(env["LEARNSTREAM_TOPIC_PARTITIONS"]) == PARTITIONS
    script = " ".join(job["entrypoint"] + job["command"])
    assert "$$LEARNSTREAM_TOPICS" in script
    assert "--if-not-exists" in script
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_postgres_has_a_database_per_service() -> None:
    sql = (COMPOSE_DIR / "postgres-init.sql").read_text(encoding="utf-8")
    created = re.findall(r"^\s*CREATE DATABASE\s+(\w+)\s*;", sql, re.M | re.I)
    assert set(created) == DATABASES
    postgres = compose_services()["postgres"]
    assert (
        "./deploy/compose/postgres-init.sql:/docker-entrypoint-initdb.d/10-learnstream.sql:ro"
        in postgres["volumes"]
    )
    # PostgreSQL 18 images keep their data below /var/lib/postgresql.
    assert any(str(v).endswith(":/var/lib/postgresql") for v in postgres["volumes"])
    # The healthcheck waits for the last database the script creates.
    checked = postgres["healthcheck"]["test"]
    assert checked[checked.index("-d") + 1] == created[-1]


def test_otel_collector_config_is_wired() -> None:
    config = load_yaml(COMPOSE_DIR / "otel-collector.yaml")
    services = compose_services()
    mount = "./deploy/compose/otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro"
    assert mount in services["otel-collector"]["volumes"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config.get(section, {}), f"{section} {component} is not defined"
    traces = config["service"]["pipelines"]["traces"]
    endpoints = [config["exporters"][e]["endpoint"] for e in traces["exporters"]]
    assert "jaeger:4317" in endpoints
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


def _dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _workspace_members() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = []
    for pattern in pyproject["tool"]["uv"]["workspace"]["members"]:
        members += sorted(
            p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob(f"{pattern}/pyproject.toml")
        )
    assert members
    return members


def test_dockerfile_builds_every_service_without_the_devstack() -> None:
    lines = _dockerfile_lines()
    text = " ".join(lines)
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage build"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert all(line.split()[1] == "${PYTHON_IMAGE}" for line in froms)
    # Expand build arguments (ARG NAME=value / ARG NAME="value") in the uv commands.
    args = {
        m["name"]: m["value"].strip('"')
        for line in lines
        if (m := re.fullmatch(r"ARG\s+(?P<name>\w+)=(?P<value>.*)", line))
    }
    syncs = [
        re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), line) for line in lines if "uv sync" in line
    ]
    assert len(syncs) == 2, "a dependency layer, then the workspace packages"
    for sync in syncs:
        assert "--frozen" in sync, sync
        assert "--no-dev" in sync, sync
        packages = set(re.findall(r"--package\s+([\w.-]+)", sync))
        assert packages == {f"learnstream-{s}" for s in SERVICES}, sync
        assert "devstack" not in sync, sync
        assert "--all-packages" not in sync, sync
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1], "install wheels, not links into /src"
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in text, "uv from PyPI, pinned"
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["UV_VERSION"]), "an exact uv version"
    runtime = lines[[i for i, line in enumerate(lines) if line.upper().startswith("FROM ")][-1] :]
    assert not any("uv " in line for line in runtime), "no uv in the runtime stage"
    assert any(line.startswith("COPY --from=build /opt/venv") for line in runtime)
    # uv reads every workspace member's pyproject.toml, so each one is copied
    # before the dependency layer.
    for member in _workspace_members():
        assert f"COPY {member}/pyproject.toml {member}/" in lines, (
            f"Dockerfile must copy {member}/pyproject.toml"
        )


def test_dockerfile_runs_as_the_non_root_user_kubernetes_expects() -> None:
    lines = _dockerfile_lines()
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users, "no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric USER (runAsNonRoot can verify it)"
    assert int(uid) != 0, "non-root USER"
    for service in SERVICES:
        pod = deployment(rendered(K8S_BASE), service)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid)
        assert pod["securityContext"]["runAsGroup"] == int(gid or uid)


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "allow-list: exclude everything first"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "libs/", "services/"}


# ---------------------------------------------------------------------------
# Kubernetes: schemas
# ---------------------------------------------------------------------------

RENDERINGS = {"base": K8S_BASE, "production": K8S_PRODUCTION}


@pytest.mark.parametrize("version", k8s_versions())
@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_k8s_builtin_objects_match_the_kubernetes_schemas(rendering: str, version: str) -> None:
    docs = rendered(RENDERINGS[rendering])
    checked = 0
    failures = []
    for d in docs:
        if (d["apiVersion"], d["kind"]) in CUSTOM_RESOURCES:
            continue
        label = f"{d['kind']}/{d['metadata']['name']}"
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            failures.append(f"{label}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{label}: {error.message} (not a custom resource this test knows)")
        checked += 1
    assert failures == []
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds
    assert checked >= 2 + 4 * len(SERVICES)


def test_k8s_renderer_rejects_unknown_kustomization_fields(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabels: {a: b}\n"
    )
    with pytest.raises(AssertionError, match="commonLabels"):
        render_kustomization(tmp_path)


# ---------------------------------------------------------------------------
# Kubernetes: custom resources (no schema offline: the fields we rely on)
# ---------------------------------------------------------------------------


def test_k8s_kafka_topics() -> None:
    docs = rendered(K8S_BASE)
    topics = [d for d in docs if d["kind"] == "KafkaTopic"]
    names = set()
    for topic in topics:
        assert topic["apiVersion"] == STRIMZI_API
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "learnstream"
        assert topic["metadata"]["namespace"] == "learnstream"
        spec = topic["spec"]
        name = spec.get("topicName", topic["metadata"]["name"])
        assert topic["metadata"]["name"] == name
        assert spec["partitions"] == PARTITIONS, name
        assert spec["replicas"] == 3, name
        assert int(spec["config"]["min.insync.replicas"]) == 2, name
        names.add(name)
    assert len(topics) == len(names)
    assert names == TOPICS
    # The services reach the same Strimzi cluster the topics belong to.
    assert config_map(docs)["LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "learnstream-kafka-bootstrap:9092"


def test_k8s_topics_match_compose() -> None:
    compose_topics = set(compose_services()["kafka-init"]["environment"]["LEARNSTREAM_TOPICS"].split())
    k8s_topics = {d["spec"]["topicName"] for d in rendered(K8S_BASE) if d["kind"] == "KafkaTopic"}
    assert compose_topics == k8s_topics == TOPICS


def test_k8s_clickhouse_cluster_sketch() -> None:
    docs = rendered(K8S_BASE)
    chis = [d for d in docs if d["kind"] == "ClickHouseInstallation"]
    chks = [d for d in docs if d["kind"] == "ClickHouseKeeperInstallation"]
    assert len(chis) == 1
    assert len(chks) == 1
    chi, chk = chis[0], chks[0]
    assert chi["apiVersion"] == CHI_API
    assert chk["apiVersion"] == CHK_API
    [cluster] = chi["spec"]["configuration"]["clusters"]
    # one shard: every replica holds all data (sharding needs Distributed tables, not built yet)
    assert cluster["layout"] == {"shardsCount": 1, "replicasCount": 2}
    assert cluster["name"] == config_map(docs)["LEARNSTREAM_CLICKHOUSE_CLUSTER"]
    [keeper_cluster] = chk["spec"]["configuration"]["clusters"]
    assert keeper_cluster["layout"]["replicasCount"] == 3
    hosts = [n["host"] for n in chi["spec"]["configuration"]["zookeeper"]["nodes"]]
    assert hosts == [f"keeper-{chk['metadata']['name']}"], "the operator's Service for the Keeper"
    users = chi["spec"]["configuration"]["users"]
    assert users["learnstream/password"]["valueFrom"]["secretKeyRef"]["name"] == "learnstream-clickhouse"
    # analytics reaches the cluster through the operator's Service clickhouse-<chi>.
    readme = (K8S_DIR / "README.md").read_text(encoding="utf-8")
    assert f"@clickhouse-{chi['metadata']['name']}:8123/learnstream" in readme
    note = (K8S_BASE / "clickhouse" / "README.md").read_text(encoding="utf-8")
    for term in ("LEARNSTREAM_CLICKHOUSE_CLUSTER", "ReplicatedMergeTree", "Distributed"):
        assert term in note, f"clickhouse/README.md: {term}"


# ---------------------------------------------------------------------------
# Kubernetes: workloads
# ---------------------------------------------------------------------------


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_k8s_each_deployment_has_service_hpa_and_pdb(service: str) -> None:
    docs = rendered(K8S_BASE)
    dep = deployment(docs, service)
    name = dep["metadata"]["name"]
    port = SERVICES[service]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert _selects(dep["spec"]["selector"]["matchLabels"], pod_labels)

    svc = objects(docs, "Service").get(name)
    assert svc is not None, f"no Service {name}"
    assert _selects(svc["spec"]["selector"], pod_labels), f"Service {name} does not select its pods"
    [svc_port] = svc["spec"]["ports"]
    assert svc_port["port"] == port
    container_ports = {p["name"]: p["containerPort"] for p in main_container(dep)["ports"]}
    assert container_ports.get(svc_port["targetPort"]) == port

    hpa = objects(docs, "HorizontalPodAutoscaler").get(name)
    assert hpa is not None, f"no HorizontalPodAutoscaler {name}"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if service != "gateway":
        # Consumers share a topic's partitions: pods beyond them sit idle.
        assert hpa["spec"]["maxReplicas"] <= PARTITIONS
    assert "replicas" not in dep["spec"], f"{name}: the HPA owns the replica count"

    pdb = objects(docs, "PodDisruptionBudget").get(name)
    assert pdb is not None, f"no PodDisruptionBudget {name}"
    assert pdb["apiVersion"] == "policy/v1"
    assert _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    # A PDB that allows no disruption blocks node drains forever.
    assert (
        pdb["spec"].get("maxUnavailable", 0) >= 1 or pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    )


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_k8s_deployment_probes_resources_and_security(service: str) -> None:
    docs = rendered(K8S_BASE)
    dep = deployment(docs, service)
    pod = dep["spec"]["template"]["spec"]
    container = main_container(dep)
    port = SERVICES[service]

    assert container["command"] == ["python", "-m", f"learnstream.{service}"]
    assert _image_name(container["image"]) == "learnstream"
    expected_paths = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe, path in expected_paths.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{service} {probe}"
        assert get["port"] in ("http", port), f"{service} {probe}"
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod.get("automountServiceAccountToken") is False
    # Service links would put e.g. LEARNSTREAM_PROGRESS_PORT=tcp://… into the
    # variables the settings read.
    assert pod.get("enableServiceLinks") is False
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, "a writable /tmp beside the read-only root"  # noqa: S108


# ---------------------------------------------------------------------------
# Kubernetes: configuration and secrets, and their agreement with Compose
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_environment_is_the_same_in_compose_and_k8s(service: str) -> None:
    compose_names = set(compose_env(service))
    k8s_names = set(k8s_env(rendered(K8S_BASE), service))
    assert compose_names == k8s_names, (
        f"{service}: only in compose {sorted(compose_names - k8s_names)}, "
        f"only in k8s {sorted(k8s_names - compose_names)}"
    )
    expected = COMMON_ENV | EXTRA_ENV[service]
    assert expected <= compose_names, f"{service}: missing {sorted(expected - compose_names)}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_k8s_environment_sources(service: str) -> None:
    docs = rendered(K8S_BASE)
    env = k8s_env(docs, service)
    data = config_map(docs)
    allowed_secrets = {"learnstream-secrets", f"learnstream-{service}-db", "learnstream-vault-db"}
    for name, entry in env.items():
        source = entry.get("valueFrom", {})
        if name in SECRET_ENV:
            ref = source.get("secretKeyRef")
            assert ref is not None, f"{service}: {name} must come from a Secret"
            assert ref["name"] in allowed_secrets, f"{service}: {name} from {ref['name']}"
            assert ref["key"] == name, f"{service}: Secret keys are the variable names"
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["name"] == "learnstream-config"
            assert ref["key"] == name
            assert ref["key"] in data, f"{service}: learnstream-config has no {ref['key']}"
        else:
            assert "value" in entry, f"{service}: {name} has no value"
    assert env["LEARNSTREAM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"learnstream-{service}-db"
    assert env["LEARNSTREAM_SERVICE_NAME"]["value"] == service
    assert env["LEARNSTREAM_HTTP_PORT"]["value"] == str(SERVICES[service])
    assert env["OTEL_SERVICE_NAME"]["value"] == f"learnstream-{service}"
    assert main_container(deployment(docs, service))["ports"][0]["containerPort"] == SERVICES[service]
    assert k8s_env_value(docs, env["LEARNSTREAM_ENV"]) == "prod"
    assert k8s_env_value(docs, env["LEARNSTREAM_HTTP_HOST"]) == "0.0.0.0"
    assert k8s_env_value(docs, env["LEARNSTREAM_KAFKA_IDEMPOTENT_PRODUCER"]) == "true"
    assert k8s_env_value(docs, env["LEARNSTREAM_LOG_FORMAT"]) == "json"


def test_k8s_gateway_reaches_the_context_services() -> None:
    docs = rendered(K8S_BASE)
    env = k8s_env(docs, "gateway")
    services = objects(docs, "Service")
    for service, port in SERVICES.items():
        if service == "gateway":
            continue
        url = k8s_env_value(docs, env[f"LEARNSTREAM_{service.upper()}_URL"])
        match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url)
        assert match, url
        assert match[1] in services, url
        assert int(match[2]) == port, url
        assert services[match[1]]["spec"]["ports"][0]["port"] == port


def test_k8s_readme_documents_every_secret() -> None:
    readme = (K8S_DIR / "README.md").read_text(encoding="utf-8")
    docs = rendered(K8S_BASE)
    for service in SERVICES:
        for entry in k8s_env(docs, service).values():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            secret = ref["name"].replace(f"-{service}-", "-<service>-")
            assert secret in readme or ref["name"] in readme, f"README: Secret {ref['name']}"
            assert ref["key"] in readme, f"README: key {ref['key']}"
    for prerequisite in ("Strimzi", "CloudNativePG", "ClickHouse", "Redis"):
        assert prerequisite in readme


def test_k8s_production_overlay() -> None:
    base = rendered(K8S_BASE)
    production = rendered(K8S_PRODUCTION)
    assert {(d["kind"], d["metadata"]["name"]) for d in base} == {
        (d["kind"], d["metadata"]["name"]) for d in production
    }
    for service in SERVICES:
        image = main_container(deployment(production, service))["image"]
        name, _, tag = image.rpartition(":")
        assert name.endswith("/learnstream"), image
        assert tag not in ("", "latest"), image
    hpas = objects(production, "HorizontalPodAutoscaler")
    assert hpas["learnstream-gateway"]["spec"]["minReplicas"] >= 3
    for hpa in hpas.values():
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
