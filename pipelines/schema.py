"""HKube's pipeline and exec request schemas (hkube-api §3.1, §4), with the api-server's defaults.

The key order of each `properties` mapping is the order HKube's OpenAPI files use. It matters:
defaults are written in that order, so a stored pipeline reads back exactly like HKube's
(`..., "kind": "batch", "experimentName": "main", "options": {...}, "priority": 3`).

Each `validate_*` function validates (and, where HKube does, fills defaults) in place, returns the
same object, and raises `hkube_site.validation.ValidationError` with HKube's message.
"""

from __future__ import annotations

import copy
from typing import Any

from hkube_site.validation import apply_defaults, validate
from pipelines.engine import retry, tolerance

NODE_KINDS = ("algorithm", "pipeline", "debug", "dataSource", "gateway", "output", "hyperparamsTuner")
RETRY_POLICIES = retry.POLICIES
PROGRESS_LEVELS = ("trace", "debug", "info", "warn", "error", "critical")
STATE_TYPES = ("stateless", "stateful")

PIPELINE_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "format": "pipeline-name"}
ALGORITHM_NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 32,
    "format": "algorithm-name",
}
EXPERIMENT_NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 32,
    "format": "experiment-name",
    "default": "main",
}
CRON_PATTERN: dict[str, Any] = {"type": "string", "minLength": 1, "format": "cron"}
JOB_ID: dict[str, Any] = {"type": "string"}

PIPELINE_NODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "nodeName": {"type": "string", "minLength": 1},
        "algorithmName": ALGORITHM_NAME,
        "input": {"type": "array", "items": {}, "default": []},
        "ttl": {"type": "integer", "minimum": 0},
        "includeInResult": {"type": "boolean"},
        # Not in HKube's schema, but the key its DAG actually reads (hkube-api §4.3).
        "includeInResults": {"type": "boolean"},
        "metrics": {"type": "object", "properties": {"tensorboard": {"type": "boolean"}}},
        "retry": {
            "type": "object",
            "properties": {
                "policy": {"type": "string", "enum": list(RETRY_POLICIES), "default": retry.DEFAULT_POLICY},
                "limit": {"type": "integer", "minimum": 1, "default": retry.DEFAULT_LIMIT},
            },
        },
        "batchOperation": {"type": "string", "enum": ["indexed", "cartesian"]},
        "kind": {"type": "string", "enum": list(NODE_KINDS), "default": "algorithm"},
        "minStatelessCount": {"type": "integer", "minimum": 0, "default": 0},
        "maxStatelessCount": {"type": "integer", "minimum": 0},
        "stateType": {"type": "string", "enum": list(STATE_TYPES)},
        # HKube's anyOf over the per-kind specs accepts any object; the per-kind rules live in code.
        "spec": {"type": "object"},
    },
    "required": ["nodeName"],
}

WEBHOOKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "progress": {"type": "string", "minLength": 1, "format": "url"},
        "result": {"type": "string", "minLength": 1, "format": "url"},
    },
    "additionalProperties": False,
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ttl": {"type": "integer", "default": 3600},
        "activeTtl": {"type": ["integer", "null"], "minimum": 1},
        "batchTolerance": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "default": tolerance.DEFAULT_BATCH_TOLERANCE,
        },
        "concurrentPipelines": {
            "type": "object",
            "properties": {
                "amount": {"type": "integer", "minimum": 1, "maximum": 10000},
                "rejectOnFailure": {"type": "boolean", "default": True},
            },
            "required": ["amount"],
            "additionalProperties": False,
        },
        "progressVerbosityLevel": {"type": "string", "enum": list(PROGRESS_LEVELS), "default": "info"},
        "debugOverride": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
    "default": {},
}

TRIGGERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pipelines": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        "cron": {
            "type": "object",
            "properties": {"pattern": CRON_PATTERN, "enabled": {"type": "boolean", "default": False}},
        },
    },
    "additionalProperties": False,
}

PIPELINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": PIPELINE_NAME,
        "kind": {"type": "string", "enum": ["batch", "stream"], "default": "batch"},
        "experimentName": EXPERIMENT_NAME,
        "description": {"type": "string"},
        "nodes": {"type": "array", "items": PIPELINE_NODE_SCHEMA},
        "flowInput": {"type": ["object", "null"]},
        "webhooks": WEBHOOKS_SCHEMA,
        "options": OPTIONS_SCHEMA,
        "priority": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
        "triggers": TRIGGERS_SCHEMA,
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 32}},
        "rootJobId": {"type": "string"},
        "streaming": {
            "type": "object",
            "properties": {"defaultFlow": {"type": "string"}, "flows": {"type": "object"}},
        },
        "edges": {"type": "array", "items": {}},
        "externalId": {"type": "string"},
        "version": {"type": "string"},
    },
    "required": ["name"],
}

# `POST /exec/stored`: the same shape as a pipeline (HKube's storedPipelineRequest), checked
# without defaults; the stored descriptor it is merged into supplies the rest.
EXEC_STORED_SCHEMA: dict[str, Any] = copy.deepcopy(PIPELINE_SCHEMA)

STOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "jobId": JOB_ID,
        "pipelineName": {"type": "string"},
        "startTime": {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}},
        # A status, a comma-separated list of them, or an array.
        "statusToStop": {"type": ["string", "array"], "items": {"type": "string"}},
        "reason": {"type": "string"},
    },
}

JOB_ID_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"jobId": JOB_ID},
    "required": ["jobId"],
}
PAUSE_SCHEMA = JOB_ID_OBJECT_SCHEMA
RESUME_SCHEMA = JOB_ID_OBJECT_SCHEMA

CACHING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "jobId": JOB_ID,
        "nodeName": {"type": "string", "minLength": 1},
        "debug": {"type": "boolean"},
    },
    "additionalProperties": False,
    "required": ["jobId", "nodeName"],
}

RERUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"jobId": JOB_ID},
    "additionalProperties": False,
    "required": ["jobId"],
}

EXEC_ALGORITHM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": ALGORITHM_NAME,
        "input": {"type": "array", "items": {}, "default": []},
        "debug": {"type": "boolean"},
    },
    "additionalProperties": False,
    "required": ["name"],
}

CRON_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": PIPELINE_NAME, "pattern": CRON_PATTERN},
    "required": ["name"],
}

CRON_STOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": PIPELINE_NAME},
    "required": ["name"],
}

QUERY_LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "experimentName": EXPERIMENT_NAME,
        "sort": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1},
    },
}

SEARCH_JOBS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "object",
            "properties": {
                "experimentName": {"type": "string"},
                "pipelineName": PIPELINE_NAME,
                "pipelineType": {"type": "string"},
                "algorithmName": ALGORITHM_NAME,
                "pipelineStatus": {"type": "string"},
                "datesRange": {
                    "type": "object",
                    "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
                },
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
        "cursor": {"type": "string"},
        "pageNum": {"type": "integer"},
        "sort": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
        "limit": {"type": "integer", "minimum": 0, "maximum": 100, "default": 100},
        "fields": {"type": "object"},
        "exists": {"type": "object"},
    },
}

ALL_SCHEMAS: dict[str, dict[str, Any]] = {
    "pipeline": PIPELINE_SCHEMA,
    "pipelineNode": PIPELINE_NODE_SCHEMA,
    "storedPipelineRequest": EXEC_STORED_SCHEMA,
    "stopRequest": STOP_SCHEMA,
    "jobIdObject": JOB_ID_OBJECT_SCHEMA,
    "caching": CACHING_SCHEMA,
    "rerun": RERUN_SCHEMA,
    "execAlgorithmRequest": EXEC_ALGORITHM_SCHEMA,
    "cronRequest": CRON_REQUEST_SCHEMA,
    "cronStop": CRON_STOP_SCHEMA,
    "queryList": QUERY_LIST_SCHEMA,
    "searchJobs": SEARCH_JOBS_SCHEMA,
}


def validate_pipeline(descriptor: dict[str, Any], *, use_defaults: bool = True) -> dict[str, Any]:
    """A pipeline descriptor (exec/raw, store POST/PUT); with `use_defaults`, HKube's §4.4 defaults."""
    result: dict[str, Any] = validate(PIPELINE_SCHEMA, descriptor, use_defaults=use_defaults)
    return result


def add_pipeline_defaults(descriptor: dict[str, Any]) -> dict[str, Any]:
    """Fill §4.4 defaults in place without failing (HKube's `addPipelineDefaults`)."""
    result: dict[str, Any] = apply_defaults(PIPELINE_SCHEMA, descriptor)
    return result


def validate_pipeline_name(name: object) -> str:
    """A bare pipeline name (a path parameter); a bad one gives
    `pipeline name must contain only alphanumeric, dash, dot or underscore`."""
    result: str = validate(PIPELINE_NAME, name, use_defaults=False)
    return result


def validate_exec_stored(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/stored`: `name` required, every other field checked as in a pipeline, no defaults."""
    return _checked(EXEC_STORED_SCHEMA, body, use_defaults=False)


def validate_stop(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/stop` (every field optional)."""
    return _checked(STOP_SCHEMA, body, use_defaults=True)


def validate_pause(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/pause`: `data should have required property 'jobId'`."""
    return _checked(PAUSE_SCHEMA, body, use_defaults=False)


def validate_resume(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/resume`."""
    return _checked(RESUME_SCHEMA, body, use_defaults=False)


def validate_job_id(body: dict[str, Any]) -> dict[str, Any]:
    """`{jobId}` for reads such as `GET /exec/status/{jobId}`."""
    return _checked(JOB_ID_OBJECT_SCHEMA, body, use_defaults=False)


def validate_caching(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/caching`: `{jobId, nodeName, debug?}`, nothing else."""
    return _checked(CACHING_SCHEMA, body, use_defaults=False)


def validate_rerun(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/rerun`: `{jobId}`, nothing else."""
    return _checked(RERUN_SCHEMA, body, use_defaults=False)


def validate_exec_algorithm(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/algorithm`: `{name, input=[], debug?}`, nothing else; `input` defaults to []."""
    return _checked(EXEC_ALGORITHM_SCHEMA, body, use_defaults=True)


def validate_cron_start(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /cron/start`: `{name, pattern?}`; a bad pattern: `data.pattern should match format "cron"`."""
    return _checked(CRON_REQUEST_SCHEMA, body, use_defaults=False)


def validate_cron_stop(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /cron/stop`: `{name}`."""
    return _checked(CRON_STOP_SCHEMA, body, use_defaults=False)


def validate_query_list(query: dict[str, Any]) -> dict[str, Any]:
    """List queries (`?name=&experimentName=main&sort=desc&limit=1`); strings are coerced, so a raw
    query dict works: `{"limit": "5"}` becomes `{"limit": 5, ...}`."""
    return _checked(QUERY_LIST_SCHEMA, query, use_defaults=True)


def validate_search_jobs(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /exec/search` (`sort` desc and `limit` 100 by default)."""
    return _checked(SEARCH_JOBS_SCHEMA, body, use_defaults=True)


def _checked(schema: dict[str, Any], body: object, *, use_defaults: bool) -> dict[str, Any]:
    result: dict[str, Any] = validate(schema, body, use_defaults=use_defaults)
    return result
