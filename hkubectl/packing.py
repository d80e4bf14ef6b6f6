"""Packing algorithm code for upload: a folder becomes an in-memory .tar.gz, honouring `.hkubeignore`.

`.hkubeignore` uses .gitignore syntax (HKube reads it with ignore-walk): `#` comments,
`!` re-includes, a trailing `/` matches folders only, a pattern with a `/` in it is
anchored to the folder of the ignore file, `*`, `?`, `[...]` and `**` globs. An ignore
file in a sub-folder applies to that sub-folder.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".hkubeignore"
ARCHIVE_SUFFIXES = {".tar.gz": "application/gzip", ".tgz": "application/gzip", ".zip": "application/zip"}


class InputFileError(Exception):
    """A file the user named is missing or unusable (exit code 2)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class CodeArchive:
    filename: str
    content: bytes
    content_type: str
    file_count: int | None = None


@dataclass(frozen=True)
class _Rule:
    base: str  # folder of the ignore file, relative to the code root ("" for the root)
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def parse_ignore(text: str, base: str = "") -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _glob_to_regex(line)
        # Unanchored patterns match a name at any depth below the ignore file's folder.
        regex = re.compile(("" if anchored else "(?:.*/)?") + body + "$")
        rules.append(_Rule(base=base, regex=regex, negate=negate, dir_only=dir_only))
    return rules


def is_ignored(rules: list[_Rule], rel_path: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.base:
            if not rel_path.startswith(rule.base + "/"):
                continue
            sub = rel_path[len(rule.base) + 1 :]
        else:
            sub = rel_path
        if rule.regex.match(sub):
            ignored = not rule.negate
    return ignored


def list_code_files(root: Path) -> list[str]:
    """Relative POSIX paths of the files to upload, sorted, after `.hkubeignore` rules."""
    files: list[str] = []
    rules_by_dir: dict[str, list[_Rule]] = {}
    for folder, dirnames, filenames in os.walk(root):
        rel_dir = Path(folder).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        parent = rel_dir.rsplit("/", 1)[0] if "/" in rel_dir else ""
        rules = list(rules_by_dir.get(parent, [])) if rel_dir else []
        ignore_file = Path(folder) / IGNORE_FILE
        if ignore_file.is_file():
            rules += parse_ignore(ignore_file.read_text(encoding="utf-8", errors="replace"), rel_dir)
        rules_by_dir[rel_dir] = rules

        prefix = f"{rel_dir}/" if rel_dir else ""
        # Pruning dirnames in place keeps os.walk out of ignored folders (node_modules, .git, ...).
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not os.path.islink(os.path.join(folder, d)) and not is_ignored(rules, prefix + d, True)
        )
        files.extend(prefix + f for f in filenames if not is_ignored(rules, prefix + f, False))
    return sorted(files)


def pack_directory(root: Path) -> tuple[bytes, int]:
    files = list_code_files(root)
    buffer = io.BytesIO()
    # gzip's header mtime is pinned so unchanged code packs to the same bytes: the server
    # rebuilds when the archive checksum changes, and a timestamp alone should not do that.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", dereference=True) as tar,
    ):
        for rel_path in files:
            info = tar.gettarinfo(str(root / rel_path), arcname=rel_path)
            # Local user and group names mean nothing on the build side.
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(root / rel_path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue(), len(files)


def prepare_code(path: Path, name: str) -> CodeArchive:
    """A folder is packed as `<name>.tar.gz`; a .tar.gz/.tgz/.zip file is sent as it is."""
    shown = str(path)
    if path.is_dir():
        try:
            content, count = pack_directory(path)
        except OSError as exc:
            raise InputFileError(shown, f"cannot pack the code folder: {exc.strerror or exc}") from exc
        if count == 0:
            raise InputFileError(shown, f"the code folder has no files to upload (check {IGNORE_FILE})")
        return CodeArchive(f"{name}.tar.gz", content, "application/gzip", count)
    if not path.exists():
        raise InputFileError(shown, "code path not found")
    lower = path.name.lower()
    for suffix, content_type in ARCHIVE_SUFFIXES.items():
        if lower.endswith(suffix):
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise InputFileError(shown, f"cannot read it: {exc.strerror or exc}") from exc
            # The server takes the extension from the upload name and knows zip and gz only.
            filename = path.name[: -len(".tgz")] + ".tar.gz" if suffix == ".tgz" else path.name
            return CodeArchive(filename, content, content_type)
    raise InputFileError(shown, "code path must be a folder, a .tar.gz or a .zip file")
