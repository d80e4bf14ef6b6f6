"""Test helpers: golden files, kubernetes-validate in strict mode, and our own checks."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

GOLDEN = Path(__file__).parent / "golden"
# Strict schemas shipped by kubernetes-validate 1.37.0: 1.25 .. 1.37.
VERSIONS = ("1.30", "1.37")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False)


def assert_golden(name: str, data: Any) -> None:
    """`data` equals golden/<name>.yaml; HKUBE_UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / f"{name}.yaml"
    text = dump(data)
    if os.environ.get("HKUBE_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with HKUBE_UPDATE_GOLDEN=1 once and review it"
    assert yaml.safe_load(path.read_text()) == data, f"{name} differs from {path}:\n{text}"


def validate_strict(document: dict[str, Any]) -> None:
    """Strict schema validation against every version in VERSIONS, plus what the schemas do
    not check: names, label values, GPU request equal to limit."""
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            raise AssertionError(
                f"{document['kind']}/{document['metadata'].get('name')} invalid for {version} at {path}: "
                f"{exc.message}"
            ) from exc
    name = document["metadata"]["name"]
    assert len(name) <= 63 and _DNS_LABEL.match(name), f"bad name {name!r}"
    for pod in _pod_specs(document):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            resources = container.get("resources") or {}
            gpu_request = (resources.get("requests") or {}).get("nvidia.com/gpu")
            gpu_limit = (resources.get("limits") or {}).get("nvidia.com/gpu")
            assert gpu_request == gpu_limit, f"{container['name']}: GPU request {gpu_request} != {gpu_limit}"
    for labels in _label_maps(document):
        for key, value in labels.items():
            assert len(value) <= 63 and _LABEL_VALUE.match(value), f"bad label value {key}={value!r}"


def _pod_specs(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    if document["kind"] == "Pod":
        return [spec]
    template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
    return [template["spec"]] if template else []


def _label_maps(document: dict[str, Any]) -> list[dict[str, str]]:
    maps = [document["metadata"].get("labels") or {}]
    spec = document.get("spec") or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    if template:
        maps.append((template.get("metadata") or {}).get("labels") or {})
    return maps
