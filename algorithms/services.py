"""Every state change of algorithms and their versions goes through this module."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from algorithms import schema
from algorithms.models import Algorithm, AlgorithmVersion
from builds import services as builds
from builds.models import Build
from builds.packaging import PackagingError, detect_archive, sha1_file, unpack
from hkube_site.errors import ActionNotAllowed, AlreadyExists, InvalidData, NotFound
from pipelines import services as pipeline_services
from pipelines.engine import ids
from pipelines.models import RUNNING_JOB_STATUSES, JobNode, now_ms

BUILD_TRIGGERS = ("checksum", "env", "baseImage", "dependencyInstallCmd", "entryPoint", "wrapper")

MSG_BUILD_FORCE = (1020, "a build was triggered due to force flag. {follow}")
MSG_BUILD_FIRST = (1021, "a build was triggered due to first algorithm update. {follow}")
MSG_BUILD_CHANGE = (1022, "a build was triggered due to change in {triggers}. {follow}")
MSG_PUSHED = (1023, "the algorithm {name} has been successfully pushed to hkube")
MSG_VERSION = (1024, "a new version of algorithm {name} has been created")
MSG_NO_BUILD = (
    1025,
    "there was no trigger for build, no change in checksum,env,commit,baseImage,dependencyInstallCmd",
)
FOLLOW = "use the Hkube dashboard or the Hkube API to follow the build progress"


@dataclass
class Upload:
    """An uploaded code archive, already saved to a local file."""

    path: Path
    filename: str


@dataclass
class ApplyResult:
    algorithm: dict[str, Any]
    messages: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    build_id: str | None = None

    def add(self, message: tuple[int, str], **values: str) -> None:
        code, text = message
        self.codes.append(code)
        self.messages.append(text.format(follow=FOLLOW, **values))

    def as_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": self.messages,
            "messagesCode": self.codes,
            "algorithm": self.algorithm,
        }
        if self.build_id:
            body["buildId"] = self.build_id
        return body


def get_algorithm(name: str) -> Algorithm:
    algorithm = Algorithm.objects.filter(name=name).first()
    if algorithm is None:
        raise NotFound("algorithm", name)
    return algorithm


def check_upload(upload: Upload) -> str:
    """Refuse unsafe or malformed archives now (a 400 naming the problem), not in the build.
    Returns HKube's fileExt (`gz` or `zip`)."""
    try:
        with open(upload.path, "rb") as handle:
            kind = detect_archive(upload.filename, handle.read(8))
        with tempfile.TemporaryDirectory() as tmp:
            unpack(upload.path, Path(tmp) / "check", max_bytes=int(settings.HKUBE_MAX_UNPACKED_BYTES))
    except PackagingError as exc:
        raise InvalidData(f"invalid code archive {upload.filename or ''}: {exc}".replace("  ", " ")) from exc
    return "zip" if kind == "zip" else "gz"


def next_semver(algorithm_name: str) -> str:
    """1.0.0, then patch++ up to 500, then minor, then major (as HKube counts)."""
    last = AlgorithmVersion.objects.filter(algorithm_name=algorithm_name).order_by("-created", "-id").first()
    if last is None:
        return "1.0.0"
    major, minor, patch = (int(p) for p in last.semver.split("."))
    patch += 1
    if patch > 500:
        patch, minor = 0, minor + 1
    if minor > 500:
        minor, major = 0, major + 1
    return f"{major}.{minor}.{patch}"


def create_version(
    descriptor: dict[str, Any], *, build_id: str | None = None, code_path: str = "", env_path: str = ""
) -> AlgorithmVersion:
    version = descriptor.get("version") or ids.version_id()
    return AlgorithmVersion.objects.create(
        algorithm_name=descriptor["name"],
        version=version,
        semver=next_semver(descriptor["name"]),
        descriptor={**descriptor, "version": version},
        build_id=build_id,
        created_by=str(settings.HKUBE_AUDIT_USER),
        code_path=code_path,
        env_path=env_path,
    )


def set_current(version: AlgorithmVersion) -> Algorithm:
    stamp = now_ms()
    descriptor = {
        k: v for k, v in version.descriptor.items() if k not in ("created", "modified", "auditTrail")
    }
    algorithm, created = Algorithm.objects.get_or_create(
        name=version.algorithm_name,
        defaults={"descriptor": descriptor, "version": version.version, "created": stamp, "modified": stamp},
    )
    entry = {"user": str(settings.HKUBE_AUDIT_USER), "timestamp": stamp, "version": version.version}
    if not created:
        algorithm.descriptor = descriptor
        algorithm.version = version.version
        algorithm.modified = stamp
    algorithm.audit_trail = [entry, *(algorithm.audit_trail if not created else [])]
    algorithm.save()
    return algorithm


def on_build_completed(
    sender: object,
    *,
    build_id: str,
    algorithm_name: str,
    descriptor: dict[str, Any],
    version: str,
    code_path: str,
    env_path: str,
    **kwargs: object,
) -> None:
    """A completed build (`builds.signals.build_completed`, connected in `apps.py`) becomes
    a version of its algorithm. As HKube: it becomes current unless jobs are running on an
    earlier version; then the algorithm shows error 901 until a version is applied."""
    options = {**(descriptor.get("options") or {}), "pending": False}
    created = create_version(
        {**descriptor, "options": options, "version": version},
        build_id=build_id,
        code_path=code_path,
        env_path=env_path,
    )
    earlier = AlgorithmVersion.objects.filter(algorithm_name=algorithm_name).exclude(pk=created.pk)
    if not earlier.exists() or not pipeline_services.running_jobs_using(algorithm_name):
        set_current(created)
    else:
        algorithm = Algorithm.objects.get(name=algorithm_name)
        algorithm.descriptor = {**algorithm.descriptor, "errors": [901]}
        algorithm.save(update_fields=["descriptor"])


def apply_algorithm(
    payload: dict[str, Any], upload: Upload | None = None, options: dict[str, Any] | None = None
) -> ApplyResult:
    """Create or update an algorithm (`store/algorithms/apply`), HKube's apply semantics:
    code changes start a build; re-applying an existing algorithm makes a new version and
    leaves the current one unless `forceUpdate` (or a build completes with no job using it)."""
    options = options or {}
    if not isinstance(payload, dict) or not payload.get("name"):
        raise InvalidData('algorithm should have required property "name"')
    payload = {k: v for k, v in payload.items() if k not in ("version", "created", "modified", "auditTrail")}
    name = str(payload["name"])
    existing = Algorithm.objects.filter(name=name).first()
    # The stored descriptor also holds state, not settings: the current version's id (a new
    # version must get its own) and error 901 (a build that is not current yet).
    stored = existing.descriptor if existing else {}
    old = {k: v for k, v in stored.items() if k not in ("version", "errors")}
    merged = {**old, **payload}
    merged = {k: v for k, v in merged.items() if v is not None}
    new_type = (
        "Code" if upload else ("Git" if merged.get("gitRepository") else payload.get("type") or "Image")
    )
    if (
        existing
        and old.get("type")
        and old["type"] != new_type
        and not (upload is None and old["type"] == "Code")
    ):
        raise InvalidData(f'algorithm type cannot be changed from "{old["type"]}" to "{new_type}"')
    if upload is None and old.get("type") == "Code":
        new_type = "Code"
    merged["type"] = new_type
    if new_type in ("Code", "Git") and not merged.get("env"):
        raise InvalidData("data should have required property 'env'")
    merged = schema.validate_algorithm(merged, use_defaults=True)
    merged.setdefault("reservedMemory", schema.reserved_memory(merged.get("mem", "256Mi")))
    result = ApplyResult(algorithm={})

    build_reason: tuple[int, str] | None = None
    triggers: list[str] = []
    if upload is not None:
        merged["fileInfo"] = {
            "fileExt": check_upload(upload),
            "checksum": sha1_file(upload.path),
            "fileSize": upload.path.stat().st_size,
        }
        old_file = old.get("fileInfo") or {}
        triggers = [
            t
            for t in BUILD_TRIGGERS
            if (merged["fileInfo"].get(t) if t == "checksum" else merged.get(t))
            != (old_file.get(t) if t == "checksum" else old.get(t))
        ]
        if options.get("forceBuild"):
            build_reason = MSG_BUILD_FORCE
        elif existing is None or not old.get("fileInfo"):
            build_reason = MSG_BUILD_FIRST
        elif triggers:
            build_reason = MSG_BUILD_CHANGE
    if not (merged.get("algorithmImage") or merged.get("fileInfo") or merged.get("gitRepository")):
        raise InvalidData("cannot apply algorithm due to missing image url or build data")

    # The archive goes to storage before the transaction opens: no slow I/O inside it. If
    # the transaction then fails, the stored archive is an orphan no build names.
    package = builds.store_package(name, upload.path) if build_reason and upload is not None else None
    with transaction.atomic():
        if package is not None and build_reason is not None:
            if existing is None:
                merged["options"] = {**(merged.get("options") or {}), "pending": True}
            build = builds.create_build(package, merged)
            merged["fileInfo"]["path"] = build.file_path
            result.build_id = build.build_id
            result.add(build_reason, triggers=",".join(triggers))
            if existing is None:
                _store_new(merged)
        else:
            if upload is not None:
                result.add(MSG_NO_BUILD)
            current = AlgorithmVersion.objects.filter(version=existing.version).first() if existing else None
            changed = existing is None or _settings(old) != _settings(merged)
            if changed:
                version = create_version(
                    merged,
                    code_path=current.code_path if current else "",
                    env_path=current.env_path if current else "",
                )
                result.add(MSG_VERSION, name=name)
                if existing is None or options.get("forceUpdate"):
                    set_current(version)
        result.add(MSG_PUSHED, name=name)
    algorithm = Algorithm.objects.filter(name=name).first()
    result.algorithm = algorithm.as_api() if algorithm else merged
    return result


def _settings(descriptor: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in descriptor.items() if k not in ("version", "created", "modified", "auditTrail")}


def _store_new(descriptor: dict[str, Any]) -> Algorithm:
    stamp = now_ms()
    return Algorithm.objects.create(
        name=descriptor["name"], descriptor=descriptor, version="", created=stamp, modified=stamp
    )


def create_gateway(*, gateway_name: str, url: str, job_id: str, node_name: str, spec: dict[str, Any]) -> str:
    """The algorithm a stream job's gateway node runs (`<name>-gateway`, kind gateway, HKube's
    `hkube/algorithm-gateway` image), recording the job and node it feeds; its name."""
    name = f"{gateway_name}-gateway"
    if Algorithm.objects.filter(name=name).exists():
        raise InvalidData(f"gateway {name} already exists")
    descriptor: dict[str, Any] = {
        "name": name,
        "gatewayName": gateway_name,
        "gatewayUrl": url,
        "mem": spec.get("mem") or "512Mi",
        "cpu": spec.get("cpu") if spec.get("cpu") is not None else 0.5,
        "jobId": job_id,
        "nodeName": node_name,
        "kind": "gateway",
        "stateType": "stateful",
        "algorithmImage": "hkube/algorithm-gateway",
        "algorithmEnv": {"GATEWAY_NAME": gateway_name},
        "type": "Image",
        "options": {"pending": False},
        "maxWorkers": 1,
    }
    if spec.get("description") is not None:
        descriptor["description"] = spec["description"]
    _store_new(schema.validate_algorithm(descriptor, use_defaults=True))
    return name


def delete_gateways(names: Iterable[str]) -> None:
    """The gateway algorithms of an ended stream job (other algorithms of these names stay)."""
    for algorithm in Algorithm.objects.filter(name__in=list(names)):
        if (algorithm.descriptor or {}).get("kind") == "gateway":
            algorithm.delete()


def insert_algorithm(payload: dict[str, Any], *, allow_overwrite: bool = False) -> ApplyResult:
    """Insert, refused when the algorithm exists. The schema comes first, so a payload
    without a name gets Ajv's `data should have required property 'name'` as in HKube."""
    if not isinstance(payload, dict):
        raise InvalidData("data should be object")
    schema.validate_algorithm(dict(payload), use_defaults=False)
    if Algorithm.objects.filter(name=payload["name"]).exists() and not allow_overwrite:
        raise AlreadyExists("algorithm", str(payload["name"]))
    return apply_algorithm(payload, options={"forceUpdate": True})


def update_algorithm(payload: dict[str, Any], options: dict[str, Any] | None = None) -> ApplyResult:
    """`PUT store/algorithms`, as HKube: a change makes a new version, current only with
    `forceUpdate` (otherwise through `versions/algorithms/apply`)."""
    name = payload.get("name") if isinstance(payload, dict) else None
    if not name:
        raise InvalidData("data should have required property 'name'")
    get_algorithm(str(name))
    return apply_algorithm(payload, options=options or {})


def delete_algorithm(name: str, *, force: bool = False, keep_old_versions: bool = False) -> str:
    """`keep_old_versions` keeps the version rows (and the code they run), so the versions
    are still there if the algorithm is stored again."""
    algorithm = get_algorithm(name)

    with transaction.atomic():
        # Refuses (raises) before anything is deleted when the algorithm is in use and not forced.
        removed = pipeline_services.remove_algorithm_pipelines(name, force=force)
        builds = Build.objects.filter(algorithm_name=name).delete()[0]
        versions = 0
        if not keep_old_versions:
            versions = AlgorithmVersion.objects.filter(algorithm_name=name).delete()[0]
        readmes = pipeline_services.delete_readme("algorithm", name)
        algorithm.delete()
    if not keep_old_versions:
        shutil.rmtree(Path(settings.HKUBE_ALGORITHMS_DIR) / name, ignore_errors=True)
    related = f"{builds} builds, {versions} versions"
    if readmes:
        related += f", {readmes} readme"
    if removed.pipelines:
        related += f", {len(removed.pipelines)} pipelines"
    if removed.jobs:
        related += f", {len(removed.jobs)} executions"
    return f"algorithm {name} successfully deleted from store. related data deleted: {related}"


def apply_version(name: str, version: str, *, force: bool = False) -> AlgorithmVersion:
    get_algorithm(name)
    found = AlgorithmVersion.objects.filter(algorithm_name=name, version=version).first()
    if found is None:
        raise NotFound("version", version)
    jobs = pipeline_services.running_jobs_using(name)
    if jobs and not force:
        text = (
            f'there is a running pipeline which depends on "{name}" algorithm'
            if len(jobs) == 1
            else f'there are {len(jobs)} running pipelines which depend on "{name}" algorithm'
        )
        raise ActionNotAllowed(text, details=", ".join(jobs))
    set_current(found)
    return found


def delete_version(name: str, version: str) -> int:
    algorithm = get_algorithm(name)
    if algorithm.version == version:
        raise InvalidData("unable to remove the currently used version")
    found = AlgorithmVersion.objects.filter(algorithm_name=name, version=version).first()
    if found is None:
        raise NotFound("version", version)
    found.delete()
    _remove_unused_code(found)
    return 1


def _remove_unused_code(deleted: AlgorithmVersion) -> None:
    """Remove a build's folder (code + env) with the last version that runs it.

    Versions made without a build (a settings change) share their build's folder, so it
    goes only when no version names it any more, and stays while a running job was started
    on the deleted version (its workers may still need to start it).
    """
    if not deleted.code_path:
        return
    siblings = AlgorithmVersion.objects.filter(algorithm_name=deleted.algorithm_name)
    if siblings.filter(code_path=deleted.code_path).exists():
        return
    if JobNode.objects.filter(
        algorithm_name=deleted.algorithm_name,
        algorithm_version=deleted.version,
        job__status__in=RUNNING_JOB_STATUSES,
    ).exists():
        return
    folder = Path(deleted.code_path).parent
    # Only a folder of this algorithm's own: <algorithms dir>/<name>/<version>.
    if folder.parent.resolve() == (Path(settings.HKUBE_ALGORITHMS_DIR) / deleted.algorithm_name).resolve():
        shutil.rmtree(folder, ignore_errors=True)
