"""Reading exports: formats told apart by their first character, JSON arrays streamed across
buffer boundaries, bad records named and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.mapping.config import load_mapping
from relay.sources import records
from relay.sync.readers import ExportError, ExportRecord, Skipped, read_export


def _read(path: Path, source: str = "hubspot") -> list[ExportRecord | Skipped]:
    return list(read_export(path, records(source), load_mapping(source)))


def test_a_csv_with_a_byte_order_mark_and_labels_in_any_case(tmp_path: Path) -> None:
    export = tmp_path / "companies.csv"
    export.write_bytes("\ufeffrecord id,CITY,Unknown column\n42,Graz,x\n".encode())

    [record] = _read(export)

    assert isinstance(record, ExportRecord)
    assert (record.where, record.record_id, record.properties) == ("line 2", "42", {"city": "Graz"})


def test_a_large_json_array_is_read_record_by_record(tmp_path: Path) -> None:
    records = [
        {"id": str(i), "properties": {"name": f"Company {i}", "notes": "x" * 300}} for i in range(3000)
    ]
    export = tmp_path / "companies.json"
    export.write_text("  [\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")

    read = _read(export)

    assert len(read) == 3000
    assert all(isinstance(r, ExportRecord) for r in read)
    assert [r.record_id for r in read if isinstance(r, ExportRecord)][-1] == "2999"


def test_json_array_problems_are_named_by_record(tmp_path: Path) -> None:
    export = tmp_path / "accounts.json"
    export.write_text(
        json.dumps(
            [
                {"attributes": {"type": "Account"}, "Id": "001A", "Name": "Acme"},
                {"attributes": {"type": "Contact"}, "Id": "003B"},
                {"Name": "no id"},
                "text",
            ]
        )
    )

    read = _read(export, "salesforce")

    assert isinstance(read[0], ExportRecord) and read[0].properties == {"Name": "Acme"}
    assert read[1:] == [
        Skipped("record 2", "the record is a Contact, not an Account"),
        Skipped("record 3", "the record has no id (Id)"),
        Skipped("record 4", "the record is str, not a JSON object"),
    ]


def test_a_cut_json_array_ends_with_a_named_problem(tmp_path: Path) -> None:
    export = tmp_path / "orgs.json"
    export.write_text('[{"id": 1, "name": "A"}, {"id": 2, "na')

    read = _read(export, "pipedrive")

    assert isinstance(read[0], ExportRecord)
    assert isinstance(read[1], Skipped) and read[1].where == "record 2"
    assert "not valid JSON" in read[1].why


def test_a_csv_without_known_columns_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "leads.csv"
    export.write_text("id,colour\nlead_1,red\n")

    with pytest.raises(ExportError, match="no column names a property the close mapping maps"):
        _read(export, "close")
