"""HKube's algorithm descriptor schema (hkube-api §5.1), with the api-server's defaults and the
extra checks it runs after the schema (environment `valueFrom` keys, labels and annotations).

The key order of `properties` follows HKube's table; defaults are written in that order.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hkube_site.units import parse_memory_mi
from hkube_site.validation import ValidationError, apply_defaults, validate

ENVS = ("nodejs", "python", "java")
ALGORITHM_TYPES = ("Image", "Code", "Git")
STATE_TYPES = ("stateless", "stateful")
VALUE_FROM_KINDS = ("fieldRef", "configMapKeyRef", "resourceFieldRef", "secretKeyRef")
FILE_EXTS = ("zip", "gz")
DEFAULT_MEMORY = "256Mi"
RESERVED_MEMORY_RATIO = 0.2  # DEFAULT_ALGORITHM_RESERVED_MEMORY_RATIO

ALGORITHM_NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 32,
    "format": "algorithm-name",
}

ALGORITHM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": ALGORITHM_NAME,
        "env": {"type": "string", "enum": list(ENVS)},
        "algorithmImage": {"type": "string", "format": "algorithm-image"},
        "cpu": {"type": "number", "minimum": 0, "default": 0.1},
        "gpu": {"type": "number", "minimum": 0},
        "mem": {"type": "string", "format": "algorithm-memory", "default": DEFAULT_MEMORY},
        "reservedMemory": {"type": ["string", "null"], "format": "memory"},
        "applyCpuLimits": {"type": "boolean"},
        "workerCustomResources": {
            "type": "object",
            "properties": {
                "requests": {"type": "object", "properties": {"cpu": {}, "memory": {}}},
                "limits": {"type": "object", "properties": {"cpu": {}, "memory": {}}},
            },
        },
        "minHotWorkers": {"type": "integer", "minimum": 0, "default": 0},
        "maxWorkers": {"type": ["integer", "null"], "minimum": 0},
        "quotaGuarantee": {"type": ["integer", "null"], "minimum": 0},
        "options": {
            "type": "object",
            "properties": {
                "devMode": {"type": "boolean"},
                "devFolder": {"type": "string"},
                "pending": {"type": "boolean", "default": False},
                "opengl": {"type": "boolean"},
            },
            "default": {},
        },
        "algorithmEnv": {"type": "object"},
        "workerEnv": {"type": "object"},
        "nodeSelector": {"type": "object"},
        "labels": {"type": "object"},
        "annotations": {"type": "object"},
        "mounts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pvcName": {"type": "string", "minLength": 1, "format": "algorithm-mount-pvc"},
                    "path": {"type": "string", "minLength": 1, "format": "path"},
                    "volumeType": {"type": "string", "enum": ["emptyDir", "configMap"]},
                },
                "required": ["pvcName", "path"],
            },
        },
        "volumes": {"type": "array"},
        "volumeMounts": {"type": "array"},
        "sideCars": {"type": "array"},
        "securityContext": {"type": "object"},
        "kaiObject": {
            "type": ["object", "null"],
            "properties": {
                "queue": {"type": "string"},
                "memory": {"type": ["string", "null"]},
                "fraction": {"type": ["number", "null"]},
            },
            "required": ["queue"],
        },
        "stateType": {"type": "string", "enum": list(STATE_TYPES)},
        "kind": {"type": "string"},
        "type": {"type": "string", "enum": list(ALGORITHM_TYPES), "default": "Image"},
        "entryPoint": {"type": ["string", "null"]},
        # Which wrapper runs Python code: ours (default) or HKube's published one.
        "wrapper": {"type": "string", "enum": ["builtin", "hkube", "hkube-python-wrapper"]},
        "baseImage": {"type": ["string", "null"]},
        "dependencyInstallCmd": {"type": ["string", "null"]},
        "gitRepository": {
            "type": ["object", "null"],
            "properties": {
                "url": {"type": "string", "format": "url"},
                "branchName": {"type": "string", "default": "master"},
                "tag": {"type": "string"},
                "token": {"type": "string"},
                "gitKind": {"type": "string", "enum": ["github", "gitlab"], "default": "github"},
                "commit": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "timestamp": {},
                        "message": {"type": "string"},
                    },
                },
            },
            "required": ["url"],
        },
        "downloadFileExt": {"type": ["string", "null"]},
        "version": {"type": "string"},
    },
    "required": ["name"],
}

ALGORITHM_NAME_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": ALGORITHM_NAME},
    "required": ["name"],
}

VALUE_FROM_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(VALUE_FROM_KINDS)}

FILE_EXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"fileExt": {"type": "string", "enum": list(FILE_EXTS)}},
}

ALL_SCHEMAS: dict[str, dict[str, Any]] = {
    "algorithm": ALGORITHM_SCHEMA,
    "algorithmNameObject": ALGORITHM_NAME_OBJECT_SCHEMA,
    "kubernetesValueFrom": VALUE_FROM_SCHEMA,
    "algorithmFileExt": FILE_EXT_SCHEMA,
}


def validate_algorithm(descriptor: dict[str, Any], *, use_defaults: bool = True) -> dict[str, Any]:
    """An algorithm descriptor (apply, insert, update): the schema, then HKube's env-var, label and
    annotation rules. With `use_defaults`: cpu 0.1, mem 256Mi, minHotWorkers 0,
    options.pending false, type Image (and gitRepository branchName/gitKind when given)."""
    result: dict[str, Any] = validate(ALGORITHM_SCHEMA, descriptor, use_defaults=use_defaults)
    validate_env_and_labels(result)
    return result


def add_algorithm_defaults(descriptor: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults in place without failing (HKube's `addAlgorithmDefaults`)."""
    result: dict[str, Any] = apply_defaults(ALGORITHM_SCHEMA, descriptor)
    return result


def validate_algorithm_name(body: dict[str, Any]) -> dict[str, Any]:
    """`{name}` as a path parameter is checked: the name-format and length messages."""
    result: dict[str, Any] = validate(ALGORITHM_NAME_OBJECT_SCHEMA, body, use_defaults=False)
    return result


def validate_file_ext(file_ext: str) -> None:
    """An uploaded code archive: `data.fileExt should be equal to one of the allowed values (zip,gz)`."""
    validate(FILE_EXT_SCHEMA, {"fileExt": file_ext}, use_defaults=False)


def reserved_memory(mem: str) -> str:
    """The memory kept back for the worker sidecar: `ceil(memMi * 0.2)` Mi, e.g. 256Mi -> 52Mi."""
    return f"{math.ceil(parse_memory_mi(mem) * RESERVED_MEMORY_RATIO)}Mi"


# --- HKube's checks after the schema (api-server `_validateAlgorithmEnvVar`) ----------------------

_LABEL_MAX_LENGTH = 63
_LABEL_KEY_VALUE = re.compile(r"^[a-z0-9][-_.a-z0-9\\]*[a-z0-9]\Z")
_RFC_DNS_1123 = re.compile(r"^[a-z0-9][-.a-z0-9\\]*[a-z0-9]\Z")
_LABEL_PATTERN_TEXT = (
    "must beginning and ending with an alphanumeric character with dashes (-), underscores (_), "
    "dots (.), and alphanumerics betweens"
)


def validate_env_and_labels(descriptor: dict[str, Any]) -> None:
    """`algorithmEnv`/`workerEnv` values given as `{<kind>: {...}}` must name a Kubernetes
    `valueFrom` kind; `labels` and `annotations` must be valid Kubernetes-style keys and values."""
    for env_field in ("algorithmEnv", "workerEnv"):
        env = descriptor.get(env_field)
        if isinstance(env, dict):
            for value in env.values():
                if isinstance(value, dict):
                    # HKube validates the first key on its own, so the path is the bare `data`.
                    validate(VALUE_FROM_SCHEMA, next(iter(value), None), use_defaults=False)
    for label_field in ("labels", "annotations"):
        pairs = descriptor.get(label_field)
        if isinstance(pairs, dict):
            for key, value in pairs.items():
                _check_label_key(key, label_field)
                _check_label_value(value, label_field)


def _check_label_value(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{field} value must be a valid string")
    if not value:
        return
    if len(value) > _LABEL_MAX_LENGTH:
        raise ValidationError(f"{field} value must be {_LABEL_MAX_LENGTH} characters or less")
    if not _LABEL_KEY_VALUE.match(value):
        raise ValidationError(f"{field} value {_LABEL_PATTERN_TEXT}")


def _check_label_key(key: str, field: str) -> None:
    if not key:
        raise ValidationError(f"{field} key must be a valid string")
    name = key
    if "/" in key:
        prefix, name = key.split("/")[:2]
        if not _RFC_DNS_1123.match(prefix):
            raise ValidationError(
                f"{field} key prefix must be a lowercase RFC 1123 subdomain and must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            )
    if not name:
        raise ValidationError(f"{field} key name must be a valid string")
    if len(name) > _LABEL_MAX_LENGTH:
        raise ValidationError(f"{field} key name must be {_LABEL_MAX_LENGTH} characters or less")
    if not _LABEL_KEY_VALUE.match(name):
        raise ValidationError(f"{field} key name {_LABEL_PATTERN_TEXT}")
