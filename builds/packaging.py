"""Safe unpacking of uploaded code archives (.tar.gz and .zip).

An upload is untrusted input that we write to our own disk, so every member is checked
before anything is written: no absolute paths, no ``..``, no links that leave the folder,
no devices or fifos, a cap on entries and on uncompressed bytes. The byte cap is applied
twice: to the sizes the headers declare (cheap, before any data is decompressed) and to
the bytes actually written (headers can lie). For tar we also run each member through
Python's ``data`` extraction filter as a second opinion, but we never rely on it alone.

Extraction happens in a temporary folder next to ``dest`` that is renamed into place at
the end, so ``dest`` either holds the whole archive or does not exist.

Single top-level folder: when an archive holds exactly one folder and nothing else
(GitHub's "Download ZIP", ``tar -czf alg.tar.gz alg/``), its *contents* become ``dest``,
so ``entryPoint: main.py`` works whichever way the user packed the code. HKube itself
does not do this; pass ``descend=False`` to keep the folder. ``__MACOSX/`` members (Finder's
resource-fork side files) are skipped so they do not defeat the rule.

No Django imports: this module is plain Python and is tested directly.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import secrets
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

TAR_GZ = "tar.gz"
ZIP = "zip"

GZIP_MAGIC = b"\x1f\x8b"
# Local file header; "PK\x05\x06" is the end record of an empty zip (still a zip, so
# it is reported as "contains no files" rather than "unsupported").
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

UNSUPPORTED = "unsupported archive: upload a .tar.gz or .zip of your code"
MAX_SYMLINK_TARGET = 4096
_CHUNK = 1024 * 1024
_SKIPPED_TOP = "__MACOSX"


class PackagingError(ValueError):
    """The upload cannot be used; the message is meant for the user who uploaded it."""


@dataclass(frozen=True)
class UnpackResult:
    files: int  # non-directory entries written (files and links)
    total_bytes: int  # uncompressed bytes written
    checksum: str  # sha1 hex of the archive, HKube's fileInfo.checksum
    archive_type: str  # TAR_GZ or ZIP
    descended_into: str | None  # the single top-level folder that became dest, if any


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def detect_archive(filename: str | None, head: bytes) -> str:
    """Return ``'tar.gz'`` or ``'zip'`` from the first bytes, like HKube's file-type check.

    Magic bytes win over the name. The name is only a fallback for content that is not
    recognisable at all, so that a truncated ``x.tar.gz`` is later reported as
    corrupted (a better hint) instead of unsupported.
    """
    if head.startswith(GZIP_MAGIC):
        return TAR_GZ
    if head.startswith(ZIP_MAGICS):
        return ZIP
    name = (filename or "").lower()
    if len(head) < 4 and name.endswith((".tar.gz", ".tgz")):
        return TAR_GZ
    if len(head) < 4 and name.endswith(".zip"):
        return ZIP
    raise PackagingError(UNSUPPORTED)


def unpack(
    archive: Path,
    dest: Path,
    *,
    max_bytes: int,
    max_files: int = 20000,
    descend: bool = True,
) -> UnpackResult:
    """Extract ``archive`` into ``dest`` (which must not exist) after checking every member.

    Raises ``PackagingError`` naming the offending member; on any error nothing is left
    behind. ``max_files`` counts every entry, folders included.
    """
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"{dest} already exists")
    with archive.open("rb") as f:
        kind = detect_archive(archive.name, f.read(8))
    checksum = sha1_file(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".unpacking", dir=dest.parent))
    try:
        writer = _Writer(tmp, max_bytes=max_bytes, max_files=max_files)
        try:
            if kind == TAR_GZ:
                _extract_tar(archive, writer)
            else:
                _extract_zip(archive, writer)
        except (
            tarfile.ReadError,
            tarfile.CompressionError,
            tarfile.HeaderError,
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            gzip.BadGzipFile,
            zlib.error,
            EOFError,
            NotImplementedError,  # zip compression methods Python cannot read
        ) as exc:
            raise PackagingError(
                f"archive is corrupted or not a .tar.gz/.zip: {exc or type(exc).__name__}"
            ) from exc
        if writer.files == 0:
            raise PackagingError("archive contains no files")
        root, descended = tmp, None
        entries = list(tmp.iterdir())
        if descend and len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
            # Links were checked against tmp; after descent they must stay inside the
            # folder itself (``top/x -> ../top/y`` would not). Renaming the folder to a
            # name the archive cannot know makes any link that climbs out resolve
            # outside it, whatever path it took.
            probe = tmp / f".descend-{secrets.token_hex(8)}"
            os.rename(entries[0], probe)
            if _links_stay_inside(probe):
                root, descended = probe, entries[0].name
            else:
                os.rename(probe, entries[0])
        root.chmod(0o755)
        # Same filesystem (tmp is a sibling), so this is an atomic rename.
        os.rename(root, dest)
        return UnpackResult(
            files=writer.files,
            total_bytes=writer.total_bytes,
            checksum=checksum,
            archive_type=kind,
            descended_into=descended,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _links_stay_inside(folder: Path) -> bool:
    """True when every symlink under ``folder`` resolves inside it; otherwise the
    archive keeps its top folder."""
    real = os.path.realpath(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                resolved = os.path.realpath(os.path.join(dirpath, os.readlink(path)))
                if os.path.commonpath([resolved, real]) != real:
                    return False
    return True


# --- member checks shared by tar and zip -------------------------------------------


def _member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None for the archive root itself ("./")."""
    if "\x00" in name:
        raise PackagingError(f"member {name!r} has a NUL byte in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise PackagingError(f"member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PackagingError(f"member {name!r} has a '..' component")
    return PurePosixPath(*parts) if parts else None


def _check_symlink(rel: PurePosixPath, target: str) -> None:
    """A symlink may point anywhere inside the folder, lexically. The on-disk check in
    ``_Writer`` catches links that only escape through other links."""
    if not target or "\x00" in target:
        raise PackagingError(f"symlink {str(rel)!r} has an empty or invalid target")
    if target.startswith("/"):
        raise PackagingError(f"symlink {str(rel)!r} points to an absolute path {target!r}")
    resolved = posixpath.normpath(posixpath.join(str(rel.parent), target))
    if resolved == ".." or resolved.startswith("../"):
        raise PackagingError(f"symlink {str(rel)!r} points outside the archive ({target!r})")


def _hardlink_source(rel: PurePosixPath, link_name: str) -> PurePosixPath:
    # Tar hard-link names are relative to the archive root, not to the member.
    try:
        source = _member_path(link_name)
    except PackagingError:
        source = None
    if source is None:
        raise PackagingError(f"hard link {str(rel)!r} points outside the archive ({link_name!r})")
    return source


def _is_skipped(rel: PurePosixPath) -> bool:
    return rel.parts[0] == _SKIPPED_TOP


class _Writer:
    """Writes members under ``root`` while enforcing the entry and byte budgets."""

    def __init__(self, root: Path, *, max_bytes: int, max_files: int) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.entries = 0
        self.files = 0
        self.declared_bytes = 0
        self.total_bytes = 0

    def count(self, name: str, declared_size: int) -> None:
        self.entries += 1
        if self.entries > self.max_files:
            raise PackagingError(
                f"archive has too many files (more than {self.max_files}); stopped at {name!r}"
            )
        self.declare(name, declared_size)

    def declare(self, name: str, size: int) -> None:
        self.declared_bytes += max(size, 0)
        if self.declared_bytes > self.max_bytes:
            raise PackagingError(
                f"archive is too large uncompressed (more than {self.max_bytes} bytes); stopped at {name!r}"
            )

    def _target(self, rel: PurePosixPath) -> Path:
        target = self.root.joinpath(*rel.parts)
        # Checked on disk, after earlier members were written: a parent folder that is
        # really a symlink must still resolve inside the root.
        parent = os.path.realpath(target.parent)
        if os.path.commonpath([parent, self.real_root]) != self.real_root:
            raise PackagingError(f"member {str(rel)!r} would be written outside the archive folder")
        return target

    def _make_room(self, target: Path, rel: PurePosixPath) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()  # a later member replaces an earlier one, as tar does
        elif target.exists():
            raise PackagingError(f"member {str(rel)!r} clashes with a folder of the same name")

    def directory(self, rel: PurePosixPath) -> None:
        target = self._target(rel)
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise PackagingError(f"folder {str(rel)!r} clashes with a file of the same name")
        target.mkdir(parents=True, exist_ok=True)

    def file(self, rel: PurePosixPath, src: IO[bytes], declared_size: int, mode: int) -> None:
        target = self._target(rel)
        self._make_room(target, rel)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        perm = 0o755 if mode & 0o111 else 0o644
        with os.fdopen(os.open(target, flags, perm), "wb") as out:
            written = 0
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                self.total_bytes += len(chunk)
                if written > declared_size or self.total_bytes > self.max_bytes:
                    raise PackagingError(
                        f"member {str(rel)!r} holds more data than its header declares"
                        f" or the archive exceeds {self.max_bytes} bytes uncompressed"
                    )
                out.write(chunk)
        self.files += 1

    def symlink(self, rel: PurePosixPath, link_target: str) -> None:
        _check_symlink(rel, link_target)
        target = self._target(rel)
        resolved = os.path.realpath(os.path.join(os.path.realpath(target.parent), link_target))
        if os.path.commonpath([resolved, self.real_root]) != self.real_root:
            raise PackagingError(f"symlink {str(rel)!r} points outside the archive ({link_target!r})")
        self._make_room(target, rel)
        os.symlink(link_target, target)
        self.files += 1

    def hardlink(self, rel: PurePosixPath, link_name: str) -> None:
        source = self._target(_hardlink_source(rel, link_name))
        real_source = os.path.realpath(source)
        if (
            os.path.commonpath([real_source, self.real_root]) != self.real_root
            or source.is_symlink()
            or not source.is_file()
        ):
            raise PackagingError(
                f"hard link {str(rel)!r} must point to a file earlier in the archive ({link_name!r})"
            )
        # A copy rather than os.link: the two names stay independent and the bytes
        # count towards the budget like any other member.
        size = source.stat().st_size
        self.declare(str(rel), size)
        with source.open("rb") as src:
            self.file(rel, src, size, source.stat().st_mode)


# --- tar ------------------------------------------------------------------------------


def _extract_tar(archive: Path, writer: _Writer) -> None:
    data_filter = getattr(tarfile, "data_filter", None)  # Python 3.12, 3.11.4+
    with tarfile.open(archive, "r:gz") as tf:
        # Iterating reads one header at a time, so a size bomb is refused at its header
        # without decompressing its data.
        for member in tf:
            rel = _member_path(member.name)
            writer.count(member.name, member.size if member.isreg() else 0)
            if rel is None or _is_skipped(rel):
                continue
            if member.ischr() or member.isblk() or member.isfifo():
                raise PackagingError(f"member {member.name!r} is a device or fifo")
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                raise PackagingError(f"member {member.name!r} has an unsupported type")
            # Our own checks first: their messages name the member without leaking
            # this server's paths, which the filter's messages contain.
            if member.issym():
                _check_symlink(rel, member.linkname)
            elif member.islnk():
                _hardlink_source(rel, member.linkname)
            if data_filter is not None:
                try:
                    data_filter(member, str(writer.root))
                except tarfile.FilterError as exc:
                    raise PackagingError(f"member {member.name!r} is unsafe ({type(exc).__name__})") from exc
            if member.isdir():
                writer.directory(rel)
            elif member.issym():
                writer.symlink(rel, member.linkname)
            elif member.islnk():
                writer.hardlink(rel, member.linkname)
            else:
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isreg() members always have data
                    raise PackagingError(f"member {member.name!r} has no data")
                with src:
                    writer.file(rel, src, member.size, member.mode)


# --- zip ------------------------------------------------------------------------------


def _zip_mode(info: zipfile.ZipInfo) -> int:
    # The high 16 bits hold a Unix st_mode when the archive was made on Unix (and are
    # usually 0 otherwise); that is where zip keeps symlinks and devices.
    return (info.external_attr >> 16) & 0xFFFF


def _zip_members(zf: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, PurePosixPath]]:
    for info in zf.infolist():
        # Zips written on Windows may use backslashes as separators.
        rel = _member_path(info.filename.replace("\\", "/"))
        if rel is not None and not _is_skipped(rel):
            yield info, rel


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = []
        # The central directory is read up front: check every declared size and type
        # before writing anything.
        for info in zf.infolist():
            writer.count(info.filename, 0 if info.is_dir() else info.file_size)
        for info, rel in _zip_members(zf):
            fmt = stat.S_IFMT(_zip_mode(info))
            if fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                raise PackagingError(f"member {info.filename!r} is a device or fifo")
            if info.flag_bits & 0x1:
                raise PackagingError(
                    f"member {info.filename!r} is encrypted; upload an archive without a password"
                )
            members.append((info, rel, fmt))
        for info, rel, fmt in members:
            if fmt == stat.S_IFLNK:
                with zf.open(info) as src:
                    raw = src.read(MAX_SYMLINK_TARGET + 1)
                if len(raw) > MAX_SYMLINK_TARGET:
                    raise PackagingError(f"symlink {info.filename!r} has an over-long target")
                writer.symlink(rel, raw.decode("utf-8", "replace"))
            elif info.is_dir():
                writer.directory(rel)
            else:
                with zf.open(info) as src:
                    writer.file(rel, src, info.file_size, _zip_mode(info))
