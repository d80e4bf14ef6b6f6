"""Dev mode's synced code: the folder `hkubectl sync` uploads for an algorithm, which its
workers run instead of the built code while the algorithm has `options.devMode` (HKube
mounts its dev-sources volume over the algorithm's folder).

Each upload is unpacked (safely, as a build unpacks) into a folder of its own,
`<dev sources dir>/<name>/<revision>`, and then made current by replacing the small file
`current` that names it: a worker never sees a half-written tree, and a worker that reads
`current` before each task start picks up the edit at its next task. The revision before the
current one is kept, since a process started on it may still be importing from it; older ones
are removed. Revisions are named `<ns timestamp>-<random>`, so their names sort by age and a
revision still being unpacked (newer than current) is never removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from algorithms.models import Algorithm
from builds.packaging import PackagingError, unpack
from hkube_site.errors import InvalidData, NotFound
from pipelines.engine import ids

CURRENT = "current"
REVISION = re.compile(r"^\d{19}-[0-9a-z]{6}$")


@dataclass(frozen=True)
class Synced:
    name: str
    revision: str
    files: int
    size: int
    modified: int

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "files": self.files,
            "size": self.size,
            "modified": self.modified,
        }


def _root(name: str) -> Path:
    return Path(settings.HKUBE_DEV_SOURCES_DIR) / name


def revision(name: str) -> str | None:
    """The current revision of the algorithm's synced code; None when nothing was synced.
    Cheap (one small file read): workers call it before each chunk of a dev-mode algorithm."""
    try:
        text = (_root(name) / CURRENT).read_text().strip()
    except OSError:
        return None
    return text if REVISION.match(text) and (_root(name) / text).is_dir() else None


def folder(name: str, at: str | None = None) -> Path | None:
    """The folder of the current (or the given) revision."""
    wanted = at or revision(name)
    return _root(name) / wanted if wanted else None


def store(name: str, archive: Path) -> Synced:
    """Unpack an uploaded archive of the developer's folder as the new current revision."""
    if not Algorithm.objects.filter(name=name).exists():
        raise NotFound("algorithm", name)  # also keeps any other name out of the folder's path
    root = _root(name)
    root.mkdir(parents=True, exist_ok=True)
    new = f"{time.time_ns():019d}-{ids.uid(6)}"
    try:
        # The archive holds the folder's files at its top: never descend into a lone folder.
        unpacked = unpack(
            archive, root / new, max_bytes=int(settings.HKUBE_MAX_UNPACKED_BYTES), descend=False
        )
    except PackagingError as exc:
        raise InvalidData(f"invalid code archive: {exc}") from exc
    previous = revision(name)
    # Atomic switch: write the new name aside, then rename over `current`.
    with tempfile.NamedTemporaryFile("w", dir=root, prefix=".current.", delete=False) as handle:
        handle.write(new)
    os.replace(handle.name, root / CURRENT)
    _remove_old(root, keep={new, previous or ""})
    return Synced(name, new, unpacked.files, unpacked.total_bytes, _stamp(new))


def _remove_old(root: Path, keep: set[str]) -> None:
    current = min((k for k in keep if k), default="")
    for entry in root.iterdir():
        if REVISION.match(entry.name) and entry.name not in keep and entry.name < current:
            shutil.rmtree(entry, ignore_errors=True)


def describe(name: str) -> Synced | None:
    """What is synced now (`GET sync/{name}`), or None."""
    current = revision(name)
    if current is None:
        return None
    base = _root(name) / current
    files = [p for p in base.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    return Synced(name, current, len(files), size, _stamp(current))


def _stamp(revision: str) -> int:
    """A revision's time in ms (HKube's time unit)."""
    return int(revision.split("-")[0]) // 1_000_000


def with_built_modules(variables: dict[str, str], built_code: Path) -> dict[str, str]:
    """A synced Node.js folder rarely holds `node_modules` (`.hkubeignore` leaves it out): the
    modules it lacks come from the version's build, after its own."""
    if "NODE_PATH" not in variables:
        return variables
    built = str(built_code.resolve() / "node_modules")
    return {**variables, "NODE_PATH": os.pathsep.join([variables["NODE_PATH"], built])}


def remove(name: str) -> None:
    """With its algorithm: its synced code goes too."""
    shutil.rmtree(_root(name), ignore_errors=True)
