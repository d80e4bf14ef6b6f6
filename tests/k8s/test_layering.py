"""k8s/ is plain Python below the apps: importing it loads no Django, Celery or app module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "k8s").glob("*.py") if p.stem != "__init__")
FORBIDDEN = ("django", "celery", "hkube_site", "algorithms", "builds", "pipelines", "storage")


def test_k8s_modules_import_no_django_celery_or_app() -> None:
    code = (
        "import sys\n"
        + "".join(f"import k8s.{name}\n" for name in MODULES)
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r})))"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]", result.stdout
    assert len(MODULES) >= 8
