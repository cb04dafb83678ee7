"""Finding the sources declared in RELAY_MAPPING_DIR, reading them, and checking them.

A `<name>.toml` there that is not a built-in source's mapping and holds a [source] table
declares source `name`: its [source] table says how to read and verify its events
(relay/sources/declared/spec.py), the rest is a mapping file like the shipped ones.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from relay.crms import SOURCE_OBJECTS
from relay.mapping.config import MappingError, read_toml
from relay.mapping.rules import SourceMapping
from relay.mapping.validate import parse_mapping
from relay.settings import Settings, source_secret_env
from relay.sources.declared.source import DeclaredRecords, DeclaredSource, declared_class
from relay.sources.declared.spec import SourceSpec, name_problem, parse_source

# Each declared source is a `source` label of the metrics: their number stays bounded.
MAX_DECLARED = 50
_SOURCE_TABLE = frozenset({"source"})  # the mapping's validation leaves [source] to spec.py
# A secret anyone could guess is no proof; `openssl rand -hex 32` makes a good one.
MIN_SECRET_CHARS = 16


@dataclass(frozen=True)
class Declaration:
    """One declared source, read and checked."""

    path: Path
    spec: SourceSpec
    mapping: SourceMapping
    records: DeclaredRecords
    source_class: type[DeclaredSource]

    @property
    def name(self) -> str:
        return self.spec.name

    def source(self, settings: Settings | None = None) -> DeclaredSource:
        """The source, with its secret from `settings` (none: it parses and maps, and refuses
        every request, as `relay map explain` needs)."""
        if settings is None:
            return self.source_class(self.mapping)
        return self.source_class(
            self.mapping,
            settings.declared_secret(self.name),
            tolerance_s=settings.signature_tolerance_s,
            max_clock_skew_s=settings.max_clock_skew_s,
        )


def declaring_files(mapping_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The files of `mapping_dir` that declare a source (TOML with a [source] table, not named
    after a built-in source); files that are not TOML are `relay map check`'s to report."""
    if not mapping_dir or not Path(mapping_dir).is_dir():
        return []
    found = []
    for path in sorted(Path(mapping_dir).glob("*.toml")):
        if path.stem in SOURCE_OBJECTS:
            continue
        try:
            if "source" in read_toml(path):
                found.append(path)
        except MappingError:
            continue
    return found


def load_declaration(path: Path) -> Declaration:
    """The source `path` declares; MappingError naming every problem by file and key."""
    where = str(path)
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        problems.append(f"{where}: {key}: {message}")

    name = path.stem
    why = name_problem(name)
    if why is not None:
        raise MappingError([f"{where}: {why} (the file's name is the source's)"])
    doc = read_toml(path)
    raw_objects = doc.get("objects", {})
    objects = tuple(str(o) for o in raw_objects) if isinstance(raw_objects, dict) else ()
    spec = parse_source(doc.get("source"), name, objects, problem)
    # Its records with a parent ([source.parents]) are contacts; the others may become leads.
    leads = tuple(o for o in objects if spec is None or o not in spec.parents)
    mapping = parse_mapping(
        doc, name, where, problems, object_types=objects, lead_objects=leads, other_keys=_SOURCE_TABLE
    )
    if problems or spec is None:
        raise MappingError(problems or [f"{where}: source: cannot be used"])
    customer_object = spec.object or objects[0]
    records = DeclaredRecords(name, customer_object.lower(), customer_object, spec.record_id)
    return Declaration(path, spec, mapping, records, declared_class(spec, records))


@dataclass(frozen=True)
class Scan:
    """What RELAY_MAPPING_DIR declares: the sources that load, and the files that do not."""

    declarations: dict[str, Declaration]
    problems: dict[str, list[str]]  # file → its problems (such a source is not served)


def scan(mapping_dir: str | os.PathLike[str] | None) -> Scan:
    """Every declaring file, loaded; sources that would share a secret variable, or more than
    MAX_DECLARED of them, are problems too."""
    declarations: dict[str, Declaration] = {}
    problems: dict[str, list[str]] = {}
    files = declaring_files(mapping_dir)
    for path in files[MAX_DECLARED:]:
        problems[str(path)] = [f"{path}: more than {MAX_DECLARED} declared sources; this one is not read"]
    by_variable: dict[str, list[Path]] = defaultdict(list)
    for path in files[:MAX_DECLARED]:
        by_variable[source_secret_env(path.stem)].append(path)
        try:
            declarations[path.stem] = load_declaration(path)
        except MappingError as exc:
            problems[str(path)] = exc.problems
    for variable, paths in by_variable.items():
        if len(paths) > 1:
            shared = f"{' and '.join(p.stem for p in paths)} would share {variable}: rename one"
            for path in paths:
                declarations.pop(path.stem, None)
                problems.setdefault(str(path), []).append(f"{path}: {shared}")
    return Scan(declarations, problems)


def secret_problem(declaration: Declaration, settings: Settings) -> str | None:
    """Why the configured secret cannot enable the source (None: it can, or none is set)."""
    secret = settings.declared_secret(declaration.name)
    if secret is None:
        return None
    value = secret.get_secret_value()
    variable = source_secret_env(declaration.name)
    if len(value) < MIN_SECRET_CHARS:
        return f"{variable} is shorter than {MIN_SECRET_CHARS} characters: use a long random one"
    if declaration.spec.auth.kind == "basic" and ":" not in value:
        return f"{variable} must be user:password (auth = 'basic')"
    return None
