"""Reading an export one record at a time (never the whole file): a CSV with columns named by
label or by property, a JSON array, or JSON lines, each record in the CRM API's shape.

Each item is an `ExportRecord` or a `Skipped` naming the line or record and what is wrong, so
a run goes on past bad input and counts it. A file no record can come from (no id column, no
column the mapping knows) raises `ExportError` before anything is read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from relay.mapping.rules import SourceMapping
from relay.sources.records import BadRecord, CrmRecords
from relay.times import iso

_CHUNK = 64 * 1024


class ExportError(ValueError):
    """The file as a whole cannot be read as this source's export."""


@dataclass(frozen=True, slots=True)
class ExportRecord:
    where: str  # "line 7" (CSV, JSON lines), "record 3" (JSON array), "changed <time>" (an API)
    record_id: str
    properties: dict[str, Any]
    raw: str  # the record as JSON: kept with the event for `relay events show`
    # When the CRM last changed it, where the CRM says (its API); None: the run's --as-of.
    occurred_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str
    why: str


Item = ExportRecord | Skipped


def read_export(
    path: Path, shape: CrmRecords, mapping: SourceMapping, *, every_column: bool = False
) -> Iterator[Item]:
    """The export's records; `every_column` also keeps CSV columns no label or rule names
    (under their header), for matching by whatever the file holds."""
    handle = path.open(encoding="utf-8-sig", newline="")
    with handle:
        first = _first_char(handle)
        if first == "[":
            yield from _json_array(handle, shape)
        elif first == "{":
            yield from _json_lines(handle, shape)
        else:
            yield from _csv(handle, shape, mapping, str(path), every_column)


def _first_char(handle: IO[str]) -> str:
    while True:
        char = handle.read(1)
        if not char or not char.isspace():
            handle.seek(0)
            # utf-8-sig skips the BOM again after a seek to 0
            return char


def column_properties(header: list[str], shape: CrmRecords, mapping: SourceMapping) -> dict[int, str]:
    """Column index -> property: by label (the mapping's [labels] table), else by property name."""
    labels = mapping.labels.get(shape.object_type, {})
    known = {rule.property for rule in mapping.rules(shape.object_type)} | {shape.id_property}
    if mapping.link_property:
        known.add(mapping.link_property)
    columns: dict[int, str] = {}
    for index, name in enumerate(header):
        label = name.strip()
        if label.lower() in labels:
            columns[index] = labels[label.lower()]
        elif label in known:
            columns[index] = label
    return columns


def _csv(
    handle: IO[str], shape: CrmRecords, mapping: SourceMapping, name: str, every_column: bool
) -> Iterator[Item]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise ExportError(f"{name}: the file is empty") from None
    except csv.Error as exc:
        raise ExportError(f"{name}: line 1: not a CSV header ({exc})") from None
    columns = column_properties(header, shape, mapping)
    if shape.id_property not in columns.values():
        id_labels = [
            label
            for label, prop in mapping.labels.get(shape.object_type, {}).items()
            if prop == shape.id_property
        ]
        raise ExportError(
            f"{name}: unknown column set: no id column "
            f"(one of {', '.join([*id_labels, shape.id_property])}); "
            f"columns: {', '.join(header[:12])}"
        )
    if len(columns) < 2:
        raise ExportError(
            f"{name}: unknown column set: no column names a property the {shape.source} mapping maps "
            f"(labels in [labels.{shape.object_type}] of the mapping file, or property names)"
        )
    width = len(header)
    if every_column:
        columns = {index: columns.get(index, label.strip()) for index, label in enumerate(header)}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Skipped(f"line {reader.line_num}", f"broken row ({exc})")
            continue
        where = f"line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            yield Skipped(where, f"has {len(row)} fields, the header has {width}")
            continue
        # An empty cell is no value: an export cannot tell "emptied" from "never set".
        props = {prop: row[index].strip() for index, prop in columns.items() if row[index].strip()}
        record_id = props.pop(shape.id_property, "")
        if not record_id:
            yield Skipped(where, f"has no id ({shape.id_property})")
            continue
        yield ExportRecord(
            where, record_id, props, orjson.dumps({shape.id_property: record_id, **props}).decode()
        )


def _record(where: str, doc: Any, shape: CrmRecords, occurred_at_ms: int | None = None) -> Item:
    try:
        record_id, props = shape.from_api(doc)
    except BadRecord as exc:
        return Skipped(where, f"the record {exc}")
    props.pop(shape.id_property, None)
    return ExportRecord(where, record_id, props, orjson.dumps(doc).decode(), occurred_at_ms)


def read_changes(path: Path, shape: CrmRecords) -> Iterator[Item]:
    """Records read from a CRM's API and spooled by relay/sync/fromapi.py, one JSON line each
    ({"modified_ms", "record"}): each named and timed by when the CRM last changed it."""
    with path.open("rb") as handle:
        for line in handle:
            entry = orjson.loads(line)
            modified_ms = entry.get("modified_ms")
            where = f"changed {iso(modified_ms)}" if modified_ms else "changed (no time given)"
            yield _record(where, entry.get("record"), shape, modified_ms)


def _json_lines(handle: IO[str], shape: CrmRecords) -> Iterator[Item]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Skipped(f"line {number}", f"is not valid JSON ({exc})")
            continue
        yield _record(f"line {number}", doc, shape)


def _json_array(handle: IO[str], shape: CrmRecords) -> Iterator[Item]:
    """The elements of a top-level JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    buffer = handle.read(_CHUNK).lstrip()[1:]  # past "["
    number = 0
    eof = False
    while True:
        buffer = buffer.lstrip().removeprefix(",").lstrip()
        while not eof and len(buffer) < _CHUNK:
            more = handle.read(_CHUNK)
            eof = not more
            buffer += more
            buffer = buffer.lstrip().removeprefix(",").lstrip()
        if buffer.startswith("]") or not buffer:
            if not buffer:
                yield Skipped(f"record {number + 1}", "the JSON array is not closed (file cut short?)")
            return
        number += 1
        try:
            doc, end = decoder.raw_decode(buffer)
        except json.JSONDecodeError as exc:
            if not eof:
                more = handle.read(_CHUNK * 16)  # a record larger than the buffer
                if more:
                    buffer += more
                    number -= 1
                    continue
            yield Skipped(
                f"record {number}", f"is not valid JSON ({exc.msg}); the rest of the file is not read"
            )
            return
        buffer = buffer[end:]
        yield _record(f"record {number}", doc, shape)
