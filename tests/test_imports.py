"""Imports run one way: no cycles between modules of relay/ and workers/, relay/ never imports
workers/, and the domain below the sources (mapping, changes) never imports the sources.

Read from the source files with `ast`, so imports inside functions count too: a lazy import
hides a cycle from Python at start-up, not from a reader. An edge goes to the module named
(`from relay.mapping import config` → relay.mapping.config), not to the packages above it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("relay", "workers")
# Modules that must never import relay.sources: the sources build on them.
BELOW_SOURCES = ("relay.mapping", "relay.changes", "relay.events", "relay.crms", "relay.contract")

# The one module of relay/ allowed to import workers/: the `relay worker` command starts the
# worker process (a lazy import inside the command). Goes when the worker entry point moves out
# of relay/cli with the RQ module.
WORKER_ENTRY_POINT = ("relay.cli", "workers.worker")

# No cycle is excused.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Every module name `path` imports, wherever the import statement stands."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from relay.mapping import config` names the module; `from relay.mapping.config
                # import load_mapping` names a thing in it.
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules() else base


def resolve(name: str) -> str | None:
    """The module of relay/ or workers/ that `name` is or lies in; None for third-party names."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        targets = {resolve(name) for name in imported_names(path, module)}
        edges[module] = frozenset(t for t in targets if t is not None and t != module)
    return edges


def strongly_connected(edges: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(frozenset(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [group for group in groups if len(group) > 1]


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_walk_sees_every_module_and_lazy_imports() -> None:
    edges = graph()
    assert {"relay.app", "relay.sources.hubspot", "workers.delivery"} <= set(edges)
    # relay/cli/__init__.py imports relay.app inside `serve`, not at the top.
    assert "relay.app" in edges["relay.cli"]
    assert "relay.mapping.config" in edges["relay.sources.base"]


def test_no_import_cycles() -> None:
    cycles = [sorted(group) for group in strongly_connected(graph()) if group not in KNOWN_CYCLES]
    assert cycles == []


def test_relay_never_imports_workers() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if in_package(module, "relay")
        for target in sorted(targets)
        if in_package(target, "workers") and (module, target) != WORKER_ENTRY_POINT
    ]
    assert wrong == []
    assert WORKER_ENTRY_POINT[1] in graph()[WORKER_ENTRY_POINT[0]]  # else drop the exception


def test_the_domain_below_the_sources_never_imports_them() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if any(in_package(module, below) for below in BELOW_SOURCES)
        for target in sorted(targets)
        if in_package(target, "relay.sources")
    ]
    assert wrong == []


def test_the_chartmogul_client_lies_below_both_sides() -> None:
    """Workers deliver with it and the CLI reads the account with it: it is relay's, and
    imports neither the workers nor the CLI."""
    edges = graph()
    assert "relay.chartmogul.client" in edges["workers.delivery"]
    assert "relay.chartmogul" in edges["relay.cli.api"]
    client_side = [m for m in edges if in_package(m, "relay.chartmogul")]
    wrong = [
        f"{module} imports {target}"
        for module in client_side
        for target in sorted(edges[module])
        if in_package(target, "workers") or in_package(target, "relay.cli")
    ]
    assert client_side and wrong == []


def test_rq_is_spoken_by_the_queue_module_and_the_worker_entry_point_only() -> None:
    speakers = {
        module
        for module, path in modules().items()
        if any(name == "rq" or name.startswith("rq.") for name in imported_names(path, module))
    }
    assert speakers == {"relay.queue", "workers.worker"}


KEY_LITERAL = re.compile(r"^relay:[a-z_]")


def test_redis_keys_and_lua_scripts_live_in_the_store_only() -> None:
    """Outside relay/store no module spells a relay:* key or holds a Lua script (the simulator
    stands in for ChartMogul and keeps no Redis state)."""
    found = []
    for module, path in modules().items():
        if in_package(module, "relay.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if KEY_LITERAL.match(text) or "redis.call(" in text or "KEYS[" in text:
                    found.append(f"{module}: {text[:40]!r}")
    lua = [p.name for p in ROOT.glob("relay/**/*.lua") if "store" not in p.parts]
    assert found == [] and lua == []


# redis-py's errors are translated into the relay's (relay/exceptions.py: StoreUnavailable,
# StoreRejected) by the store's client and at RQ's boundary; everyone else catches those.
# The rest of the store talks through that client, so a redis-py error never reaches it either.
TRANSLATORS = {"relay.queue", "relay.exceptions", "relay.store.client"}
STORE_OWN, NONE = frozenset({"NoScriptError"}), frozenset[str]()


def caught_redis_errors(path: Path, allowed: frozenset[str] = frozenset()) -> list[str]:
    """`except` clauses of a module that name one of redis-py's exceptions (but `allowed`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules_named: set[str] = set()  # local names bound to redis modules
    names: set[str] = set()  # local names bound to things imported from redis
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules_named |= {
                (a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "redis"
            }
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis":
            names |= {a.asname or a.name for a in node.names}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            for part in ast.walk(node.type):
                root = part
                while isinstance(root, ast.Attribute):
                    root = root.value
                named = ast.unparse(part).rpartition(".")[2]
                if named in allowed:
                    continue
                if isinstance(root, ast.Name) and (root.id in modules_named or root.id in names):
                    found.append(f"line {node.lineno}: except {ast.unparse(node.type)}")
                    break
    return found


def test_redis_errors_are_caught_only_where_they_are_translated() -> None:
    wrong = {
        module: caught
        for module, path in modules().items()
        if module not in TRANSLATORS
        # The client lets NoScriptError through so that the store loads its own scripts.
        and (caught := caught_redis_errors(path, STORE_OWN if in_package(module, "relay.store") else NONE))
    }
    assert wrong == {}
    assert caught_redis_errors(modules()["relay.store.client"])  # else the walk finds nothing
