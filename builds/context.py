"""A cluster build's context from its Build row: the stored archive, unpacked safely (for a
git algorithm, a clone of its branch), and the Dockerfile for its env (`builds/dockerfiles.py`).
Run by the build Job's init container (`manage.py prepare_build_context <buildId> --output
/workspace`), which reads the archive from storage: nothing here reads a path another
process wrote.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

from builds import dockerfiles, git_source, packaging
from builds.models import GIT_EXT, Build
from hkube_site.errors import NotFound
from hkube_site.object_store import get_storage


def prepare_build_context(build_id: str, output: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write build `build_id`'s context into `output`; returns the Dockerfile's path."""
    build = Build.objects.filter(build_id=build_id).first()
    if build is None:
        raise NotFound("build", build_id)
    env = os.environ if environ is None else environ
    descriptor = dict(build.algorithm)
    options = dockerfiles.ContextOptions.of(
        descriptor,
        dockerfiles.base_image(build.env, env),
        jdk_image=env.get("HKUBE_BUILD_JDK_IMAGE") or None,
    )
    output.mkdir(parents=True, exist_ok=True)
    code_dir = output / dockerfiles.CODE
    if build.file_ext == GIT_EXT:
        git_source.clone(descriptor.get("gitRepository") or {}, code_dir, log=print)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / f"code.{build.file_ext or 'gz'}"
            archive.write_bytes(get_storage().adapter.get_bytes(build.file_path))
            packaging.unpack(archive, code_dir, max_bytes=int(settings.HKUBE_MAX_UNPACKED_BYTES))
    return dockerfiles.write_context(code_dir, output, options)
