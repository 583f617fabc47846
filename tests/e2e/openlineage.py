"""Validation of the runner's lineage events against the OpenLineage 2-0-2 JSON schemas.

The schemas (the RunEvent and the dataSource, schema, tags and sql facets) are the published ones,
copied into `data/openlineage-2-0-2/`; the `tiffin` run facet's schema is the repository's own
(`docs/lineage/TiffinRunFacet.json`). `$ref`s between them resolve by their `$id`s, offline.
Formats (date-time, uri, uuid) are checked too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
SCHEMA_FILES = [
    *sorted((HERE / "data" / "openlineage-2-0-2").glob("*.json")),
    HERE.parents[1] / "docs" / "lineage" / "TiffinRunFacet.json",
]
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _load() -> tuple[Registry, dict[str, str]]:
    """The registry of every schema, and for each facet name the `$id` of the schema defining it."""
    resources = []
    facet_schemas: dict[str, str] = {}
    for path in SCHEMA_FILES:
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
        for facet in document.get("properties", {}):
            facet_schemas[facet] = document["$id"]
    return Registry().with_resources(resources), facet_schemas


REGISTRY, FACET_SCHEMAS = _load()


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": ref}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _check_facets(facets: dict[str, Any], where: str) -> None:
    for name, facet in facets.items():
        schema_id = FACET_SCHEMAS.get(name)
        if schema_id is None:
            continue  # a facet whose schema is not among ours: the RunEvent schema checked its base
        assert facet["_schemaURL"].startswith(schema_id), f"{where}.{name}: _schemaURL"
        _validator(schema_id).validate({name: facet})


def validate_event(event: dict[str, Any]) -> None:
    """Raises if the event is not a valid OpenLineage 2-0-2 RunEvent with valid known facets."""
    _validator(RUN_EVENT).validate(event)
    _check_facets(event["run"].get("facets", {}), "run")
    _check_facets(event["job"].get("facets", {}), "job")
    for kind in ("inputs", "outputs"):
        for dataset in event.get(kind, []):
            _check_facets(dataset.get("facets", {}), f"{kind}[{dataset['name']}]")


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
