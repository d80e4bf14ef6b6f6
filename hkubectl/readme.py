"""`--readmeFile`: the README that goes with a stored pipeline (`readme/pipelines/{name}`)."""

from __future__ import annotations

from pathlib import Path

from hkubectl.client import HkubeClient, segment
from hkubectl.packing import InputFileError

README_FIELD = "README.md"  # the multipart part HKube's api-server reads


def read_readme(path: str) -> bytes:
    """The README's bytes, read before anything is stored so a bad path changes nothing."""
    file = Path(path).expanduser()
    try:
        content = file.read_bytes()
    except FileNotFoundError as exc:
        raise InputFileError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise InputFileError(path, "is a directory, expected a markdown file") from exc
    except OSError as exc:
        raise InputFileError(path, f"cannot read it: {exc.strerror or exc}") from exc
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(path, "is not a UTF-8 text file") from exc
    return content


def upload_readme(client: HkubeClient, kind: str, name: str, content: bytes) -> None:
    """Send the README as HKube's CLI does: POST with a multipart file part `README.md`
    (the server creates or replaces it)."""
    client.post(
        f"readme/{kind}/{segment(name)}",
        files=[(README_FIELD, (README_FIELD, content, "text/markdown"))],
    )
