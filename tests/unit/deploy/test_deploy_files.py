"""The deployment files (deploy/Dockerfile, compose, Kubernetes) agree with the code.

Pure parsing, no sockets and no Docker engine: every command, setting, topic and
department named in a deployment file must exist in the code, and the other way round.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

import services.broker.admin as topic_admin
from services.cli.main import cli
from services.core.config import CoreSettings
from services.core.departments import load_registry
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.topics import topics_for
from services.delivery.config import DeliverySettings
from services.intake.config import IntakeSettings
from services.tracker.config import TrackerSettings
from services.tracker.readside import _TokenSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
REGISTRY = DEPLOY / "departments.yaml"
K8S_REGISTRY = K8S / "departments.yaml"

_TUO_NAME = re.compile(r"\bTUO_[A-Z0-9_]*[A-Z0-9]\b")
_REQUIRED_INTERPOLATION = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}")
_ENDPOINT_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-[^}]*)?\}")
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD")


# --- helpers -------------------------------------------------------------------------


def _documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _strings(node: object) -> Iterator[str]:
    """Every key and string value in a parsed YAML tree (comments are not in it)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _registry_variables(path: Path) -> tuple[set[str], set[str]]:
    """(signing secret variables, endpoint variables) a registry file reads."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    secrets, endpoints = set(), set()
    for entry in raw["departments"]:
        secret = entry["signing_secret"]
        if secret.startswith("env:"):
            secrets.add(secret.removeprefix("env:"))
        endpoints |= set(_ENDPOINT_VARIABLE.findall(entry["endpoint"]))
    return secrets, endpoints


def _click_variables(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str):
            names.add(envvar)
        elif envvar:
            names |= set(envvar)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            names |= _click_variables(sub)
    return names


def _known_variables() -> set[str]:
    """Every TUO_* variable the code reads, derived from the code itself."""
    names: set[str] = set()
    for settings in (
        CoreSettings,
        IntakeSettings,
        TrackerSettings,
        DeliverySettings,
        _TokenSettings,
    ):
        prefix = str(settings.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    names |= _click_variables(cli)
    for registry in (REGISTRY, K8S_REGISTRY):
        secrets, endpoints = _registry_variables(registry)
        names |= secrets | endpoints
    return names


def _registry_ids(path: Path = REGISTRY) -> list[str]:
    known = set(FileSchemaRegistry(schemas_dir()).event_types())
    return load_registry(path, known_event_types=known).ids()


def _subcommands() -> set[str]:
    return set(cli.commands)


def _python_snippet_problems(code: str) -> list[str]:
    """Compile a ``python -c`` snippet and check that every ``from X import Y`` resolves."""
    tree = ast.parse(code)
    compile(tree, "<snippet>", "exec")
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = __import__(node.module, fromlist=["_"])
            problems += [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if not hasattr(module, alias.name)
            ]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                __import__(alias.name)
    return problems


def _python_c(command: object) -> str | None:
    """The code of a ``python -c CODE`` exec-form command, if it is one."""
    if isinstance(command, list) and len(command) >= 3 and command[:2] == ["python", "-c"]:
        return str(command[2])
    if isinstance(command, list) and command[:1] == ["CMD"]:
        return _python_c(command[1:])
    return None


# --- every YAML file -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_yaml_file_parses(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{path} has no document"
    assert all(isinstance(doc, dict) for doc in documents)


# --- compose -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (document,) = _documents(COMPOSE)
    return document


def _built_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_compose_builds_every_bus_service_from_the_dockerfile(compose: dict[str, Any]) -> None:
    built = _built_services(compose)
    assert {"intake", "tracker", "adapters", "sandbox", "topics"} <= set(built)
    for name, service in built.items():
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, (
            name
        )


def test_compose_commands_are_real_subcommands(compose: dict[str, Any]) -> None:
    for name, service in _built_services(compose).items():
        if "entrypoint" in service:
            code = _python_c(service["entrypoint"])
            assert code is not None, f"{name}: a custom entrypoint must be python -c"
            assert _python_snippet_problems(code) == [], name
            continue
        command = service["command"]
        assert command[0] in _subcommands(), f"{name}: tellusonce {command[0]} does not exist"
        subcommand = cli.commands[command[0]]
        options = {opt for param in subcommand.params for opt in param.opts}
        used = {arg for arg in command[1:] if arg.startswith("--")}
        assert used <= options, f"{name}: unknown options {used - options}"


def test_compose_creates_topics_with_ensure_topics_before_clients(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    code = _python_c(services["topics"]["entrypoint"])
    assert code is not None
    assert "ensure_topics(" in code
    assert services["topics"]["restart"] == "no"
    for name in ("intake", "tracker", "adapters"):
        depends = services[name]["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name


def test_compose_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if "healthcheck" in services[target]:
                assert rule["condition"] == "service_healthy", f"{name} -> {target}"


def test_compose_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("restart") == "no":
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        code = _python_c(check["test"])
        if code is not None:
            assert _python_snippet_problems(code) == [], name
    intake_check = _python_c(compose["services"]["intake"]["healthcheck"]["test"])
    assert intake_check is not None
    assert "/readyz" in intake_check


def test_compose_infrastructure(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {
        "broker",
        "controller",
    }
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_compose_settings(compose: dict[str, Any]) -> None:
    for name in ("intake", "tracker", "adapters"):
        env = compose["services"][name]["environment"]
        assert env["TUO_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["TUO_KAFKA_REPLICATION_FACTOR"] == "1", name
        assert env["TUO_KAFKA_IDEMPOTENT_PRODUCER"] == "true", name
        assert env["TUO_DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in env["TUO_DATABASE_URL"], name


def test_compose_uses_only_real_settings(compose: dict[str, Any]) -> None:
    used = {name for text in _strings(compose) for name in _TUO_NAME.findall(text)}
    assert used, "no TUO_ variable found: the scan is broken"
    assert used - _known_variables() == set()


def test_compose_commits_no_secret(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in _SECRET_WORDS):
                assert _REQUIRED_INTERPOLATION.fullmatch(str(value)), f"{name}: {key}"
                checked += 1
            if key == "TUO_DATABASE_URL":
                assert _REQUIRED_INTERPOLATION.search(str(value)), f"{name}: {key}"
    assert checked >= 10


def test_compose_signing_secrets_reach_adapters_and_sandbox(compose: dict[str, Any]) -> None:
    secrets, _ = _registry_variables(REGISTRY)
    for name in ("adapters", "sandbox"):
        assert secrets <= set(compose["services"][name]["environment"]), name


def test_compose_adapters_can_reach_the_registry_endpoints(compose: dict[str, Any]) -> None:
    raw = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    hosts = {urlsplit(entry["endpoint"]).hostname for entry in raw["departments"]}
    adapters = compose["services"]["adapters"]
    if hosts & {"127.0.0.1", "localhost"}:
        # The shipped registry points at the sandbox on loopback: share its network.
        assert adapters.get("network_mode") == "service:sandbox"
        assert adapters["depends_on"]["sandbox"]["condition"] == "service_healthy"


# --- Kubernetes --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    (document,) = _documents(K8S / "kustomization.yaml")
    return document


@pytest.fixture(scope="module")
def manifests(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for name in kustomization["resources"] for doc in _documents(K8S / name)]


def _of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests if doc["kind"] == kind]


def _by_name(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in _of_kind(manifests, kind)}


def _containers(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for deployment in _of_kind(manifests, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment["metadata"]["name"], container


def _config(manifests: list[dict[str, Any]]) -> dict[str, str]:
    return _by_name(manifests, "ConfigMap")["tellusonce-config"]["data"]


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    listed = set(kustomization["resources"])
    generated = {f for gen in kustomization["configMapGenerator"] for f in gen["files"]}
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed | generated == on_disk
    assert generated == {"departments.yaml"}


def test_k8s_deployments_run_real_subcommands(manifests: list[dict[str, Any]]) -> None:
    containers = list(_containers(manifests))
    assert {c["args"][0] for _, c in containers} >= {"intake", "tracker", "adapters"}
    for name, container in containers:
        assert container["image"] == "tellusonce", name
        assert "command" not in container, f"{name}: keep the image's tellusonce entrypoint"
        assert container["args"][0] in _subcommands(), name
        subcommand = cli.commands[container["args"][0]]
        options = {opt for param in subcommand.params for opt in param.opts}
        used = {arg for arg in container["args"][1:] if arg.startswith("--")}
        assert used <= options, f"{name}: unknown options {used - options}"


def test_k8s_deployments_have_probes_resources_and_no_root(
    manifests: list[dict[str, Any]],
) -> None:
    for name, container in _containers(manifests):
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests), name
        assert "memory" in container["resources"]["limits"], name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        if container.get("ports"):
            ports = {port["name"] for port in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name} serves HTTP but has no {probe}"
                assert container[probe]["httpGet"]["port"] in ports, name
    for deployment in _of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0


def test_k8s_intake(manifests: list[dict[str, Any]]) -> None:
    deployment = _by_name(manifests, "Deployment")["tellusonce-intake"]
    assert deployment["spec"]["replicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port = int(container["args"][container["args"].index("--port") + 1])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    service = _by_name(manifests, "Service")["tellusonce-intake"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_k8s_one_adapters_deployment_per_department(manifests: list[dict[str, Any]]) -> None:
    served = []
    for _, container in _containers(manifests):
        args = container["args"]
        if args[0] == "adapters":
            assert "--department" in args, "an adapters Deployment without --department"
            served += [args[i + 1] for i, arg in enumerate(args) if arg == "--department"]
    assert sorted(served) == sorted(_registry_ids(K8S_REGISTRY))


def test_k8s_uses_only_real_settings(manifests: list[dict[str, Any]]) -> None:
    used = {name for text in _strings(manifests) for name in _TUO_NAME.findall(text)}
    assert {"TUO_KAFKA_BOOTSTRAP", "TUO_DATABASE_URL", "TUO_CHANNEL_TOKENS"} <= used
    assert used - _known_variables() == set()


def test_k8s_references_resolve(
    manifests: list[dict[str, Any]], kustomization: dict[str, Any]
) -> None:
    configmaps = set(_by_name(manifests, "ConfigMap"))
    configmaps |= {gen["name"] for gen in kustomization["configMapGenerator"]}
    secrets = set(_by_name(manifests, "Secret"))
    for deployment in _of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                else:
                    assert source["secretRef"]["name"] in secrets
            mounts = {mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounts <= {volume["name"] for volume in pod.get("volumes", [])}
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps


def test_k8s_registry_is_mounted_where_tuo_departments_points(
    manifests: list[dict[str, Any]],
) -> None:
    target = Path(_config(manifests)["TUO_DEPARTMENTS"])
    assert target.name == "departments.yaml"
    for name, container in _containers(manifests):
        mounts = {m["mountPath"] for m in container["volumeMounts"] if m["name"] == "departments"}
        assert mounts == {str(target.parent)}, name


def test_k8s_secrets_are_placeholders(manifests: list[dict[str, Any]]) -> None:
    secrets = _of_kind(manifests, "Secret")
    keys = set()
    for secret in secrets:
        assert "data" not in secret, "use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{secret['metadata']['name']}.{key} is not a placeholder"
            keys.add(key)
    signing, _ = _registry_variables(K8S_REGISTRY)
    assert signing <= keys
    assert {"TUO_CHANNEL_TOKENS", "TUO_OPERATOR_TOKENS", "TUO_CITIZEN_KEY_SECRET"} <= keys
    assert "TUO_DATABASE_URL" in keys


def test_k8s_kafka_is_kraft_and_matches_the_bootstrap(manifests: list[dict[str, Any]]) -> None:
    (kafka,) = _of_kind(manifests, "Kafka")
    cluster = kafka["metadata"]["name"]
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    pools = _of_kind(manifests, "KafkaNodePool")
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    assert all(pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster for pool in pools)
    config = _config(manifests)
    host, _, port = config["TUO_KAFKA_BOOTSTRAP"].partition(":")
    assert host == f"{cluster}-kafka-bootstrap"
    listener = {int(lst["port"]): lst for lst in kafka["spec"]["kafka"]["listeners"]}[int(port)]
    assert listener["tls"] is (config["TUO_KAFKA_SECURITY_PROTOCOL"] in {"SSL", "SASL_SSL"})
    replication = int(config["TUO_KAFKA_REPLICATION_FACTOR"])
    assert sum(pool["spec"]["replicas"] for pool in pools) >= replication


class _RecordingAdmin:
    """Stands in for AIOKafkaAdminClient: no broker, records what would be created."""

    created: list[Any]

    def __init__(self, **_options: object) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return []

    async def create_topics(self, topics: list[Any]) -> None:
        type(self).created.extend(topics)


async def test_k8s_kafka_topics_are_exactly_what_the_code_creates(
    manifests: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(manifests)
    settings = CoreSettings(
        changes_partitions=int(config["TUO_CHANGES_PARTITIONS"]),
        kafka_replication_factor=int(config["TUO_KAFKA_REPLICATION_FACTOR"]),
    )
    ids = _registry_ids(K8S_REGISTRY)
    monkeypatch.setattr(_RecordingAdmin, "created", [], raising=False)
    monkeypatch.setattr(topic_admin, "AIOKafkaAdminClient", _RecordingAdmin)
    await topic_admin.ensure_topics(settings, ids)
    wanted = {t.name: (t.num_partitions, t.replication_factor) for t in _RecordingAdmin.created}
    assert set(wanted) == set(topics_for(ids))
    assert any(".dlq." in name for name in wanted)

    cluster = _of_kind(manifests, "Kafka")[0]["metadata"]["name"]
    declared = {}
    for topic in _of_kind(manifests, "KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        name = topic["spec"].get("topicName", topic["metadata"]["name"])
        assert name not in declared, f"{name} declared twice"
        declared[name] = (topic["spec"]["partitions"], topic["spec"]["replicas"])
    assert declared == wanted


def _without_endpoints(path: Path) -> list[dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [{k: v for k, v in entry.items() if k != "endpoint"} for entry in raw["departments"]]


def test_k8s_registry_equals_the_shipped_one_but_for_endpoints() -> None:
    assert _without_endpoints(K8S_REGISTRY) == _without_endpoints(REGISTRY)
    assert _registry_ids(K8S_REGISTRY) == _registry_ids(REGISTRY)


def test_registry_drift_is_detected(tmp_path: Path) -> None:
    drifted = tmp_path / "departments.yaml"
    text = K8S_REGISTRY.read_text(encoding="utf-8")
    drifted.write_text(text.replace("max_concurrency: 32", "max_concurrency: 33", 1))
    assert _without_endpoints(drifted) != _without_endpoints(REGISTRY)


def test_k8s_registry_endpoints_are_services_in_the_manifests(
    manifests: list[dict[str, Any]],
) -> None:
    services = _by_name(manifests, "Service")
    raw = yaml.safe_load(K8S_REGISTRY.read_text(encoding="utf-8"))
    for entry in raw["departments"]:
        url = urlsplit(entry["endpoint"])
        if url.hostname in services:
            ports = {p["port"] for p in services[url.hostname]["spec"]["ports"]}
            assert url.port in ports, entry["id"]
        else:
            assert url.scheme == "https", f"{entry['id']}: a real endpoint must be https"


def test_kustomize_builds() -> None:
    # kubectl ships with this project's machines; a machine without it should fail loudly.
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is needed to check deploy/k8s"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc]
    assert kinds.count("Deployment") == len(_registry_ids(K8S_REGISTRY)) + 3
    assert all(
        doc["metadata"].get("namespace") == "tellusonce"
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc["kind"] != "Namespace"
    )


# --- Dockerfile --------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_dockerfile_base_entrypoint_and_install() -> None:
    instructions = _instructions()
    assert all(arg.split()[0] == "python:3.11-slim" for op, arg in instructions if op == "FROM")
    (entrypoint,) = [arg for op, arg in _final_stage() if op == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["tellusonce"]
    assert any(op == "RUN" and re.search(r"pip install \.(\s|$)", arg) for op, arg in instructions)


def test_dockerfile_runs_as_non_root() -> None:
    users = [arg for op, arg in _final_stage() if op == "USER"]
    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    deployments = _documents(K8S / "intake.yaml")
    pod = next(d for d in deployments if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert str(pod["securityContext"]["runAsUser"]) == user


def _dockerignore_patterns() -> list[str]:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _pattern_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _pattern_regex(raw.removeprefix("!").strip("/"))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_lets_in_what_the_build_copies_and_nothing_private() -> None:
    patterns = _dockerignore_patterns()
    copied = []
    for op, arg in _instructions():
        if op == "COPY" and "--from" not in arg:
            copied += arg.split()[:-1]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not _ignored(source, patterns), f"{source} is copied but .dockerignore drops it"
    assert not _ignored("services/core/config.py", patterns)
    for private in (".git/config", ".venv/bin/python", ".tellusonce/credentials.json", "tests"):
        assert _ignored(private, patterns), private
    assert _ignored("services/core/__pycache__/config.cpython-311.pyc", patterns)
