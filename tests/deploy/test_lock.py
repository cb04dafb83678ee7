"""uv.lock: every install (make, the image, hence Kubernetes) takes exactly the versions it pins.

The image is checked by running the Dockerfile's own `uv sync` steps into a scratch venv, offline
from the uv cache `make` filled: what lands there is what `docker build` would install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from . import DOCKERFILE, REPO, parse_dockerfile, render

UV = REPO / ".tools" / "bin" / "uv"
LOCK = tomllib.loads((REPO / "uv.lock").read_text())


def makefile_uv_version() -> str:
    found = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile pins uv with UV_VERSION := ..."
    return found.group(1)


def locked_versions() -> dict[str, str]:
    return {p["name"]: p["version"] for p in LOCK["package"] if "version" in p}


def test_the_image_and_make_use_the_same_uv() -> None:
    args = [i.args for i in parse_dockerfile((REPO / DOCKERFILE).read_text()) if i.keyword == "ARG"]
    assert f"UV_VERSION={makefile_uv_version()}" in args


def test_the_image_installs_from_the_lock_and_never_resolves() -> None:
    builder = [i for i in parse_dockerfile((REPO / DOCKERFILE).read_text()) if i.stage == 0]
    runs = [i.args for i in builder if i.keyword == "RUN"]
    syncs = [r for r in runs if r.startswith("uv sync")]
    assert syncs, "the builder installs with `uv sync`"
    assert all("--frozen" in s and "--extra" not in s for s in syncs), syncs
    assert not any(re.search(r"pip install (?!\"?uv==)", r) for r in runs), runs
    copied = " ".join(i.args for i in builder if i.keyword == "COPY")
    assert "uv.lock" in copied.split()


@pytest.mark.skipif(not UV.exists(), reason="no .tools/bin/uv: run the suite with `make test`")
def test_the_image_build_steps_install_exactly_the_locked_versions(tmp_path: Path) -> None:
    instructions = [i for i in parse_dockerfile((REPO / DOCKERFILE).read_text()) if i.stage == 0]
    src, venv = tmp_path / "src", tmp_path / "venv"
    env = {**os.environ, "UV_OFFLINE": "1", "UV_PROJECT_ENVIRONMENT": str(venv), "UV_LINK_MODE": "copy"}
    env.pop("VIRTUAL_ENV", None)
    src.mkdir()
    for ins in instructions:
        if ins.keyword == "COPY":
            *sources, _ = ins.args.split()
            for source in sources:
                from_repo = REPO / source
                if from_repo.is_dir():
                    shutil.copytree(from_repo, src / source, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(from_repo, src / source)
        elif ins.keyword == "RUN" and ins.args.startswith("uv sync"):
            command = [str(UV), *ins.args.split()[1:], "--quiet"]
            done = subprocess.run(command, cwd=src, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr

    listed = subprocess.run(
        [str(UV), "pip", "list", "--format=freeze", "--python", str(venv / "bin" / "python")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = dict(line.split("==") for line in listed.split())
    locked = locked_versions()
    assert installed, listed
    assert {name: v for name, v in installed.items() if locked.get(name) != v} == {}
    # Runtime only: the test, lint and type tools stay out of the image.
    assert not {"pytest", "mypy", "ruff"} & set(installed)
    assert (venv / "bin" / "relay").exists()


def test_kubernetes_runs_only_the_image_built_from_the_lock() -> None:
    for target in ("overlays/production", "overlays/sandbox"):
        for doc in render(target):
            if doc["kind"] not in {"Deployment", "StatefulSet"}:
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                name = container["image"].rsplit("/", 1)[-1].split(":")[0]
                assert name in {"chartmogul-relay", "redis"}, container["image"]
                words = " ".join(container.get("command", []) + container.get("args", []))
                assert not re.search(r"\b(pip|uv)\b", words), f"{container['name']} installs at start"


@pytest.mark.skipif(not UV.exists(), reason="no .tools/bin/uv: run the suite with `make test`")
def test_a_range_changed_without_make_lock_fails_the_lock_check_naming_the_command(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "Makefile", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)

    def lock_check() -> subprocess.CompletedProcess[str]:
        command = ["make", "--no-print-directory", "lock-check", f"UV={UV}"]
        env = {**os.environ, "UV_OFFLINE": "1"}
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    assert lock_check().returncode == 0
    pyproject = tmp_path / "pyproject.toml"
    widened, count = re.subn(r'"orjson>=[^"]*"', '"orjson>=1"', pyproject.read_text())
    assert count == 1
    pyproject.write_text(widened)
    failed = lock_check()
    assert failed.returncode != 0
    assert "run 'make lock'" in failed.stderr
