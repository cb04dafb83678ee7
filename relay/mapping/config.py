"""Mapping files: which CRM property becomes which ChartMogul field, tag or custom attribute.

One TOML file per source. The relay ships defaults in relay/mapping/defaults/<source>.toml; a
file of the same name in RELAY_MAPPING_DIR replaces the default whole (no merging, so what a
file says is all that applies). Another `<name>.toml` there holding a [source] table declares
source `name` (relay/sources/declared/): the same syntax, its own object types. Files are
validated when they load: a mistake is an error naming the file and the key, never a surprise
at delivery time.

    # hubspot.toml
    link_property = "chartmogul_customer_uuid"   # optional: a CRM property holding the link
    link_holds = "uuid"                          # uuid (cus_…) | external_id | email
    link_data_source_uuid = "ds_…"               # optional, with link_holds = "external_id"

    [lead_statuses]            # CRM status -> one of the four ChartMogul lead statuses
    OPEN_DEAL = "Qualified Lead"

    [owners]                   # CRM owner id -> email of a ChartMogul user with a CRM seat
    "31405216" = "anna@example.com"

    [objects.company]          # the CRM object type, then one entry per CRM property
    name = { field = "company" }
    domain = { field = "website_url", transform = "website" }
    hs_lead_status = { field = "status" }                  # through [lead_statuses]
    hubspot_owner_id = { field = "owner" }                 # through [owners]
    industry = { tag_from_value = true, tag_prefix = "industry:" }
    is_public = { tag = "public-company" }                 # true adds the tag, false removes it
    numberofemployees = { custom = "employees", type = "Integer" }
    "address.locality" = { field = "city" }                # a path into the record (see values.py)
    phone = [{ field = "primary_contact.phone" }, { custom = "phone", type = "String" }]

    [labels.company]           # export column label -> property (`relay sync`, `links suggest`)
    "Record ID" = "hs_object_id"                           # compared case-insensitively
    "Company name" = "name"

A rule has exactly one target:

    field = "<name>"           a field of Update a Customer (CUSTOMER_FIELDS) or
                               "primary_contact.<name>" (CONTACT_FIELDS)
    tag = "<tag>"              a yes/no property: true adds the tag, false (or cleared) removes it
    tag_from_value = true      the value itself is a tag (`tag_prefix` before it); where the CRM
                               sends the previous value, the previous value's tag is removed
                               (also when the value was emptied)
    custom = "<key>"           a custom attribute; `type` (String, Integer, Decimal, Timestamp,
                               Boolean) is required: delivery creates a missing attribute with it

and may say:

    transform = "<name>"       a transform of relay/mapping/transforms/; the default follows
                               the target (country -> "country", website_url -> "website", a
                               custom Integer -> "integer", a tag -> "tag"/"boolean", ...)
    clear_on_empty = true      an emptied CRM value clears the ChartMogul value (field sent as
                               "", tag removed, custom attribute removed); default: ignored
    handle_prefix = "https://twitter.com/"   with transform "url": "@handle" becomes a URL
    name_part = "first"        "first" word or the "last" words of a full name, before the
                               transform (for CRMs with one name field, like Close contacts)

Properties no rule names are ignored; the change's notes say which.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Final

from relay.crms import MAPPED_SOURCES, SOURCE_OBJECTS
from relay.mapping.rules import MappingError, Rule, SourceMapping
from relay.mapping.validate import parse_mapping

__all__ = [
    "DEFAULTS_DIR",
    "MAPPED_SOURCES",
    "MappingError",
    "Rule",
    "SourceMapping",
    "check_mappings",
    "load_mapping",
    "load_mapping_file",
    "mapping_path",
    "read_toml",
]

DEFAULTS_DIR: Final = Path(__file__).with_name("defaults")


def mapping_path(source: str, mapping_dir: str | os.PathLike[str] | None = None) -> Path:
    """The file that applies to `source`: the override in `mapping_dir` if there is one."""
    if mapping_dir:
        override = Path(mapping_dir) / f"{source}.toml"
        if override.is_file():
            return override
    return DEFAULTS_DIR / f"{source}.toml"


def load_mapping(source: str, mapping_dir: str | os.PathLike[str] | None = None) -> SourceMapping:
    """The validated mapping of `source`; raises MappingError naming every problem."""
    if source not in SOURCE_OBJECTS:
        raise MappingError([f"{source}: no mapping exists for this source ({', '.join(MAPPED_SOURCES)})"])
    return load_mapping_file(mapping_path(source, mapping_dir), source)


def load_mapping_file(path: Path, source: str | None = None) -> SourceMapping:
    source = source or path.stem
    problems: list[str] = []
    where = str(path)
    if source not in SOURCE_OBJECTS:
        raise MappingError([f"{where}: the file name must be one of {', '.join(MAPPED_SOURCES)} + .toml"])
    mapping = parse_mapping(read_toml(path), source, where, problems)
    if problems:
        raise MappingError(problems)
    return mapping


def read_toml(path: Path) -> dict[str, Any]:
    """A mapping file's document; MappingError naming the file when it is not readable TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError([f"{path}: cannot be read: {exc.strerror or exc}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError([f"{path}: is not valid TOML: {exc}"]) from None


def check_mappings(mapping_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Every mapping file that would apply or is shipped -> its problems (empty when valid).

    Covers the shipped defaults, every override in `mapping_dir`, and stray files there (a
    `.toml` whose name is no source and that declares none is never read, which is worth
    knowing). A file with a [source] table declares a source: relay/sources/declared checks it."""
    results: dict[str, list[str]] = {}
    paths = [DEFAULTS_DIR / f"{source}.toml" for source in MAPPED_SOURCES]
    if mapping_dir:
        directory = Path(mapping_dir)
        if not directory.is_dir():
            results[str(directory)] = [f"{directory}: RELAY_MAPPING_DIR is not a directory"]
        else:
            paths += sorted(directory.glob("*.toml"))
    for path in paths:
        if path.stem not in SOURCE_OBJECTS:
            try:
                declares = "source" in read_toml(path)
            except MappingError as exc:
                results[str(path)] = exc.problems
                continue
            if not declares:
                results[str(path)] = [
                    f"{path}: not a source's mapping (file names: {', '.join(MAPPED_SOURCES)} + .toml) "
                    "and declares no source (no [source] table); it is never read"
                ]
            continue
        try:
            load_mapping_file(path, path.stem)
        except MappingError as exc:
            results[str(path)] = exc.problems
        else:
            results[str(path)] = []
    return results
