"""Static checks of the deployment files (Dockerfile, compose, Kubernetes, settings docs).

They need no Docker engine and no network. Rendering Kubernetes manifests needs kustomize v4+,
either standalone (`kustomize`) or built into kubectl (`kubectl kustomize`, kubectl >= 1.21);
without it the Kubernetes tests skip and say so.

Helpers shared by the test modules live here, so that no test module imports another.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("production", "sandbox")
DOCKERFILE = "deploy/Dockerfile"

Manifest = dict[str, Any]


def load_compose() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def compose_command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def option(args: list[str], flag: str) -> str | None:
    """The value after `flag` in a command line, if any."""
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def simulator_seed_path(compose: dict[str, Any]) -> str | None:
    return option(compose_command(compose["services"]["simulator"]), "--seed")


# --- Redis: the settings without which an event can be lost


def redis_server_flags(args: list[str]) -> dict[str, str]:
    """`redis-server --a x --b y z` -> {"a": "x", "b": "y z"} (args may start with redis-server or not)."""
    flags: dict[str, str] = {}
    rest = args[1:] if args and args[0] == "redis-server" else args
    flag = None
    for arg in rest:
        if arg.startswith("--"):
            flag = arg.removeprefix("--")
            flags[flag] = ""
        elif flag is not None:
            flags[flag] = f"{flags[flag]} {arg}".strip()
    return flags


def redis_durability_problems(args: list[str]) -> list[str]:
    flags = redis_server_flags(args)
    wanted = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    return [
        f"redis-server needs --{flag} {value} (got {flags.get(flag)!r})"
        for flag, value in wanted.items()
        if flags.get(flag) != value
    ]


# --- kustomize


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"v?(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else ()


@functools.cache
def kustomize_command() -> tuple[str, ...] | None:
    """The command that renders a kustomization with kustomize v4+, or None."""
    if shutil.which("kustomize"):
        out = subprocess.run(["kustomize", "version"], capture_output=True, text=True, timeout=30)
        if _version_tuple(out.stdout) >= (4, 0):
            return ("kustomize", "build")
    if shutil.which("kubectl"):
        out = subprocess.run(
            ["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
        )
        if out.returncode == 0 and _version_tuple(json.loads(out.stdout).get("kustomizeVersion", "")) >= (
            4,
            0,
        ):
            return ("kubectl", "kustomize")
    return None


def require_kustomize() -> tuple[str, ...]:
    command = kustomize_command()
    if command is None:
        pytest.skip(
            "needs kustomize v4+: `kubectl` >= 1.21 (kubectl kustomize) or a `kustomize` binary on PATH; "
            "Debian's kubernetes-client is kubectl 1.20, whose kustomize is too old"
        )
    return command


def render_dir(path: Path) -> list[Manifest]:
    command = require_kustomize()
    out = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"kustomize failed for {path}:\n{out.stderr}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@functools.cache
def _render(target: str) -> str:
    """Rendered YAML of deploy/k8s/<target>, in a copy where each secrets.env comes from its example."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "k8s"
        shutil.copytree(K8S, tree)
        for example in tree.rglob("secrets.env.example"):
            real = example.with_name("secrets.env")
            if not real.exists():
                shutil.copyfile(example, real)
        return str(yaml.safe_dump_all(render_dir(tree / target)))


def render(target: str) -> list[Manifest]:
    """Fresh (mutable) manifests of "base" or "overlays/<name>"."""
    return [doc for doc in yaml.safe_load_all(_render(target)) if doc]


def find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name} in the rendered manifests")


def settings_data(docs: list[Manifest]) -> dict[str, str]:
    """The settings the relay pods receive: ConfigMap data plus decoded Secret data."""
    data: dict[str, str] = {}
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            data.update(doc.get("data", {}))
        elif doc["kind"] == "Secret":
            data.update({k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()})
            data.update(doc.get("stringData", {}))
    return data


# --- env files (.env.example, config.env, secrets.env.example)

ACTIVE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# "# NAME=value" with at most one space: a setting shown at its default. Deeper-indented
# examples inside prose ("#     NAME=value") are not entries.
COMMENTED = re.compile(r"^# ?([A-Z][A-Z0-9_]*)=(.*)$")


def env_entries(text: str) -> list[tuple[str, str, bool, bool]]:
    """(name, value, active, described) for each entry; described: a prose comment line comes just before."""
    entries = []
    previous = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        active, commented = ACTIVE.match(line), COMMENTED.match(line)
        match = active or commented
        if match:
            described = previous.startswith("#") and not COMMENTED.match(previous)
            entries.append((match.group(1), match.group(2), active is not None, described))
        previous = line
    return entries


# --- Dockerfile


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM this instruction belongs to


def parse_dockerfile(text: str) -> list[Instruction]:
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    instructions: list[Instruction] = []
    stage = -1
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), args.strip(), stage))
    return instructions
