"""docker-compose.yml, deploy/Dockerfile and .dockerignore: valid, and shaped so no event is lost.

The Compose schema is vendored (deploy/schemas/compose-spec.json, from the Compose
Specification); it declares draft-07, so it is checked with Draft7Validator and nothing is
fetched.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from . import (
    DOCKERFILE,
    REPO,
    Instruction,
    compose_command,
    load_compose,
    option,
    parse_dockerfile,
    redis_durability_problems,
    redis_server_flags,
    simulator_seed_path,
)

SCHEMA = json.loads((REPO / "deploy" / "schemas" / "compose-spec.json").read_text())
RELAY_COMMANDS = {"serve", "worker", "simulator", "sync"}


def schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def duration_s(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a compose duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def env_file_paths(service: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, required) of each env_file entry."""
    value = service.get("env_file", [])
    entries = [value] if isinstance(value, str) else value
    return [(e, True) if isinstance(e, str) else (e["path"], e.get("required", True)) for e in entries]


def compose_problems(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = doc.get("services", {})

    redis = services.get("redis")
    if redis is None:
        return ["no `redis` service"]
    if not str(redis.get("image", "")).startswith("redis:7"):
        problems.append("redis must run the official redis:7 image")
    problems += redis_durability_problems(compose_command(redis))
    volumes = [v.split(":") for v in redis.get("volumes", []) if isinstance(v, str)]
    if not any(len(v) >= 2 and v[1] == "/data" and v[0] in doc.get("volumes", {}) for v in volumes):
        problems.append("redis /data must be a named volume (the AOF must outlive the container)")
    if "redis-cli" not in json.dumps(redis.get("healthcheck", {}).get("test")):
        problems.append("redis needs a redis-cli ping healthcheck")

    relay = {
        name: s
        for name, s in services.items()
        if compose_command(s)[:1] and compose_command(s)[0] in RELAY_COMMANDS
    }
    by_command = {compose_command(s)[0]: name for name, s in relay.items()}
    if set(by_command) != RELAY_COMMANDS:
        problems.append(f"expected one service per relay command {sorted(RELAY_COMMANDS)}, got {by_command}")
    for name, service in relay.items():
        command = compose_command(service)
        if command[0] in {"serve", "simulator"} and option(command, "--host") != "0.0.0.0":
            problems.append(
                f"{name}: must listen on --host 0.0.0.0 (loopback is unreachable from other containers)"
            )
        build = service.get("build")
        if (
            not isinstance(build, dict)
            or build.get("context") != "."
            or build.get("dockerfile") != DOCKERFILE
        ):
            problems.append(f"{name}: must build {DOCKERFILE} with the repository root as context")
        if "entrypoint" in service:
            problems.append(f"{name}: must not override the image's ENTRYPOINT (relay)")

    for role in ("serve", "worker", "sync"):
        if role not in by_command:
            continue
        name = by_command[role]
        service = services[name]
        if service.get("depends_on", {}).get("redis", {}).get("condition") != "service_healthy":
            problems.append(f"{name}: must wait for redis to be healthy")
        if (".env", False) not in env_file_paths(service):
            problems.append(
                f"{name}: must take its settings from an optional .env (env_file, required: false)"
            )
        if not str(service.get("environment", {}).get("RELAY_REDIS_URL", "")).startswith("redis://redis:"):
            problems.append(f"{name}: RELAY_REDIS_URL must point at the compose redis service")

    web = services.get(by_command.get("serve", ""), {})
    if not any(str(p).endswith(":8000") for p in web.get("ports", [])):
        problems.append("web must publish port 8000")
    if "/healthz" not in json.dumps(web.get("healthcheck", {}).get("test")):
        problems.append("web needs a healthcheck on /healthz")

    worker = services.get(by_command.get("worker", ""), {})
    if "container_name" in worker:
        problems.append("worker must not set container_name (it breaks --scale worker=N)")
    if worker.get("ports"):
        problems.append("worker must publish no ports (they clash under --scale worker=N)")
    if duration_s(str(worker.get("stop_grace_period", "10s"))) < 60:
        problems.append("worker needs stop_grace_period >= 60s to finish in-flight calls")

    simulator = services.get(by_command.get("simulator", ""), {})
    if "sandbox" not in simulator.get("profiles", []):
        problems.append("simulator must be under the `sandbox` profile")
    sync = services.get(by_command.get("sync", ""), {})
    if not sync.get("profiles"):
        problems.append("sync must be under a profile: `up` must not start a one-off run")
    if str(sync.get("restart", "no")) != "no":
        problems.append("sync must not restart: it runs once (`docker compose run --rm sync`)")
    sync_args = compose_command(sync)
    if "--from-api" not in sync_args or "--yes" not in sync_args:
        problems.append("sync must run `relay sync --from-api --yes` (nobody answers a prompt)")
    return problems


# --- Dockerfile


def base_image(instructions: list[Instruction], from_args: str) -> str:
    image = from_args.split()[0]
    for ins in instructions:
        if ins.keyword == "ARG" and ins.stage == -1 and "=" in ins.args:
            name, _, default = ins.args.partition("=")
            image = image.replace(f"${{{name}}}", default).replace(f"${name}", default)
    return image


def copy_sources(ins: Instruction) -> list[str]:
    words = [w for w in ins.args.split() if not w.startswith("--")]
    return words[:-1]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore `patterns` keep `path` out of the build context (last match wins)."""

    def match(parts: list[str], pattern: list[str]) -> bool:
        if not pattern:
            return not parts
        if pattern[0] == "**":
            return any(match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and match(parts[1:], pattern[1:])

    parts = Path(path).parts
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/").split("/")
        # a pattern that matches a directory excludes everything under it
        if any(match(list(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def read_dockerignore(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def exec_form(args: str | None) -> list[str] | None:
    """The JSON array of an exec-form instruction; None for shell form or no instruction."""
    try:
        value = json.loads(args or "null")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def dockerfile_problems(text: str, ignore: list[str], repo: Path) -> list[str]:
    problems: list[str] = []
    instructions = parse_dockerfile(text)
    froms = [ins for ins in instructions if ins.keyword == "FROM"]
    if len(froms) < 2:
        return ["the Dockerfile must be multi-stage (builder + runtime)"]
    for ins in froms:
        if base_image(instructions, ins.args) != "python:3.11-slim":
            problems.append(f"FROM {ins.args}: every stage must be python:3.11-slim")
    final = [ins for ins in instructions if ins.stage == len(froms) - 1]

    def last(keyword: str) -> str | None:
        found = [ins.args for ins in final if ins.keyword == keyword]
        return found[-1] if found else None

    user = last("USER")
    if user is None or user.split(":")[0] in {"root", "0"}:
        problems.append("the final stage must run as a non-root USER")
    if exec_form(last("ENTRYPOINT")) != ["relay"]:
        problems.append('ENTRYPOINT must be ["relay"] (exec form)')
    if exec_form(last("CMD")) != ["serve", "--host", "0.0.0.0", "--port", "8000"]:
        problems.append("CMD must be serve --host 0.0.0.0 --port 8000 (exec form)")
    healthcheck = last("HEALTHCHECK") or ""
    if "/healthz" not in healthcheck or '["python"' not in healthcheck.replace(" ", ""):
        problems.append("HEALTHCHECK must call /healthz with python (slim has no curl)")
    for ins in final:
        if ins.keyword == "RUN" and re.search(r"apt-get install|pip install|gcc|build-essential", ins.args):
            problems.append(f"the final stage must not install or build anything: RUN {ins.args}")
    if not any(ins.keyword == "COPY" and "--from=" in ins.args and "/opt/venv" in ins.args for ins in final):
        problems.append("the final stage must take the built venv from the builder")
    for ins in instructions:
        if ins.keyword in {"COPY", "ADD"} and "--from=" not in ins.args:
            for source in copy_sources(ins):
                if not (repo / source).exists():
                    problems.append(f"{ins.keyword} {source}: no such file in the build context")
                elif dockerignored(source, ignore):
                    problems.append(f"{ins.keyword} {source}: excluded by .dockerignore")
    for secret in (".env", "deploy/k8s/overlays/production/secrets.env", ".git", ".venv"):
        if not dockerignored(secret, ignore):
            problems.append(f".dockerignore must keep {secret} out of the build context")
    return problems


def dockerfile_copy_destinations(text: str) -> set[str]:
    return {ins.args.split()[-1] for ins in parse_dockerfile(text) if ins.keyword == "COPY"}


# --- the real files


def test_compose_file_validates_against_the_compose_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert schema_errors(load_compose()) == []


def test_compose_file_runs_a_durable_redis_and_scalable_workers() -> None:
    assert compose_problems(load_compose()) == []


def test_compose_redis_replica_follows_redis_only_under_its_profile() -> None:
    doc = load_compose()
    replica = doc["services"]["redis-replica"]
    command = compose_command(replica)

    assert redis_server_flags(command)["replicaof"] == "redis 6379"
    assert redis_durability_problems(command) == []
    assert replica["profiles"] == ["replica"]  # off unless asked for: RELAY_REDIS_REPLICA_ACKS=1 needs it
    assert replica["depends_on"]["redis"]["condition"] == "service_healthy"
    [volume] = replica["volumes"]
    assert volume.split(":")[0] in doc["volumes"] and volume not in doc["services"]["redis"]["volumes"]


def test_dockerfile_is_multi_stage_non_root_and_copies_only_what_exists() -> None:
    text = (REPO / DOCKERFILE).read_text()
    ignore = read_dockerignore((REPO / ".dockerignore").read_text())
    assert dockerfile_problems(text, ignore, REPO) == []


def test_simulator_seed_is_where_the_image_puts_it() -> None:
    destinations = dockerfile_copy_destinations((REPO / DOCKERFILE).read_text())
    assert simulator_seed_path(load_compose()) in destinations


def test_env_example_sandbox_lines_match_the_simulator() -> None:
    """The sandbox recipe in .env.example reaches the compose simulator with the key it accepts."""
    command = compose_command(load_compose()["services"]["simulator"])
    text = (REPO / ".env.example").read_text()
    port, key = option(command, "--port"), option(command, "--api-key")
    assert f"CHARTMOGUL_API_BASE=http://simulator:{port}" in text
    assert f"CHARTMOGUL_API_KEY={key}" in text


def test_image_entrypoint_is_the_installed_console_script() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "relay" in pyproject["project"]["scripts"]
    # The wheel build in the image reads the readme named in pyproject.
    assert "README.md" in (REPO / DOCKERFILE).read_text()
    assert pyproject["project"]["readme"] == "README.md"


# --- the checks catch real breakage


def _mutated(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load_compose())
    *parents, key = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    if value is None:
        del node[key]
    else:
        node[key] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("services.web.restart_policy", "always"),  # unknown key
        ("services.worker.stop_grace_period", 60),  # wrong type
        ("services.redis.depends_on", {"web": {"condtion": "service_started"}}),  # misspelt key
    ],
)
def test_schema_rejects_a_broken_compose_file(path: str, value: Any) -> None:
    assert schema_errors(_mutated(path, value)) != []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.worker.container_name", "relay-worker", "container_name"),
        (
            "services.redis.command",
            ["redis-server", "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"],
            "noeviction",
        ),
        ("services.redis.command", ["redis-server", "--maxmemory-policy", "noeviction"], "appendonly"),
        ("services.simulator.profiles", None, "sandbox"),
        ("services.worker.build", {"context": ".", "dockerfile": "Dockerfile"}, "deploy/Dockerfile"),
        ("services.worker.stop_grace_period", "10s", "stop_grace_period"),
        ("services.web.env_file", None, ".env"),
        ("services.worker.depends_on", None, "redis to be healthy"),
        ("services.simulator.command", ["simulator", "--host", "127.0.0.1", "--port", "8090"], "0.0.0.0"),
        ("services.sync.profiles", None, "sync must be under a profile"),
        ("services.sync.restart", "unless-stopped", "sync must not restart"),
        ("services.sync.command", ["sync", "--source", "hubspot", "--from-api"], "--yes"),
        ("services.sync.environment", None, "sync: RELAY_REDIS_URL must point at the compose redis"),
    ],
)
def test_semantic_checks_reject_a_broken_compose_file(path: str, value: Any, expected: str) -> None:
    problems = compose_problems(_mutated(path, value))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", "non-root"),
        ('ENTRYPOINT ["relay"]', "ENTRYPOINT relay", "ENTRYPOINT"),
        ("FROM ${PYTHON_IMAGE} AS runtime", "FROM python:3.12 AS runtime", "python:3.11-slim"),
        ("COPY workers ./workers", "COPY workers ./workers\nCOPY relay/missing.json /app/", "no such file"),
        ("COPY --from=builder /opt/venv /opt/venv", "RUN pip install /wheels/*.whl", "must not install"),
        ("/healthz", "/readyz", "HEALTHCHECK"),
    ],
)
def test_dockerfile_checks_reject_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    text = (REPO / DOCKERFILE).read_text()
    assert old in text
    ignore = read_dockerignore((REPO / ".dockerignore").read_text())
    problems = dockerfile_problems(text.replace(old, new), ignore, REPO)
    assert any(expected in p for p in problems), problems


def test_dockerignore_checks_catch_a_leaking_context() -> None:
    text = (REPO / DOCKERFILE).read_text()
    ignore = [p for p in read_dockerignore((REPO / ".dockerignore").read_text()) if p != "*"]
    problems = dockerfile_problems(text, ignore, REPO)
    assert any(".env" in p for p in problems), problems
    assert dockerfile_problems(text, [*ignore, "*", "relay"], REPO) != []  # relay excluded again


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        (".env", ["*"], True),
        ("relay/settings.py", ["*", "!relay"], False),
        ("relay/__pycache__/x.pyc", ["*", "!relay", "**/__pycache__"], True),
        ("deploy/k8s/overlays/production/secrets.env", ["*", "!deploy/Dockerfile"], True),
        ("deploy/Dockerfile", ["*", "!deploy/Dockerfile"], False),
    ],
)
def test_dockerignore_matcher(path: str, patterns: list[str], ignored: bool) -> None:
    assert dockerignored(path, patterns) is ignored
