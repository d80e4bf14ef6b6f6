"""READMEs of stored algorithms and pipelines (`readme/algorithms|pipelines/{name}`).

The owner must exist when a README is written; it is removed with its owner. Whether an
algorithm exists is asked through `ports` (pipelines never imports algorithms)."""

from __future__ import annotations

from hkube_site.errors import NotFound
from pipelines import ports
from pipelines.models import Pipeline, Readme, ReadmeKind, now_ms


def _check_owner(kind: str, name: str) -> None:
    if kind == ReadmeKind.PIPELINE:
        exists = Pipeline.objects.filter(name=name).exists()
    else:
        exists = name in ports.get().existing([name])
    if not exists:
        raise NotFound(kind, name)


def get_readme(kind: str, name: str) -> Readme:
    found = Readme.objects.filter(kind=kind, name=name).first()
    if found is None:
        raise NotFound("readme", name)
    return found


def write_readme(kind: str, name: str, text: str) -> Readme:
    """POST and PUT alike: HKube's both upsert the owner's README."""
    _check_owner(kind, name)
    readme, _ = Readme.objects.update_or_create(
        kind=kind, name=name, defaults={"readme": text, "modified": now_ms()}
    )
    return readme


def delete_readme(kind: str, name: str) -> int:
    """Removes the README if there is one (HKube answers OK either way)."""
    return Readme.objects.filter(kind=kind, name=name).delete()[0]
