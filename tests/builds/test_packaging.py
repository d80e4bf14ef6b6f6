"""Unpacking uploaded code: every unsafe archive is refused and nothing is left behind."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from builds.packaging import (
    TAR_GZ,
    ZIP,
    PackagingError,
    _Writer,
    detect_archive,
    unpack,
)

MB = 1024 * 1024


# --- crafting archives --------------------------------------------------------------


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def tfile(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def tlink(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def tdir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def rejected(archive: Path, dest: Path, match: str, **limits: int) -> PackagingError:
    limits.setdefault("max_bytes", 10 * MB)
    with pytest.raises(PackagingError, match=match) as excinfo:
        unpack(archive, dest, **limits)
    assert not dest.exists()
    leftovers = [p.name for p in dest.parent.iterdir() if p != archive]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    return excinfo.value


@pytest.fixture(autouse=True, params=["with-data-filter", "own-checks-only"])
def data_filter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case runs twice: our checks must hold on Pythons without tarfile's filter."""
    if request.param == "own-checks-only":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


# --- detect_archive -----------------------------------------------------------------


def test_detect_archive_trusts_magic_bytes_over_the_name() -> None:
    assert detect_archive("code.zip", b"\x1f\x8b\x08\x00") == TAR_GZ
    assert detect_archive("code.tar.gz", b"PK\x03\x04") == ZIP
    assert detect_archive(None, b"PK\x05\x06") == ZIP


def test_detect_archive_refuses_anything_else() -> None:
    with pytest.raises(PackagingError, match=r"unsupported archive: upload a \.tar\.gz or \.zip"):
        detect_archive("code.tar.bz2", b"BZh91AY&SY")
    with pytest.raises(PackagingError, match="unsupported archive"):
        detect_archive("main.py", b"def start(args):")


# --- happy paths ------------------------------------------------------------------------


def test_tar_gz_is_unpacked_with_counts_checksum_and_exec_bits(work: Path) -> None:
    archive = make_tar(
        work / "code.tar.gz",
        [
            (tfile("main.py"), b"def start(args):\n    return 1\n"),
            (tdir("lib"), None),
            (tfile("lib/util.py"), b"X = 1\n"),
            (tfile("run.sh", 0o755), b"#!/bin/sh\n"),
        ],
    )
    dest = work / "out" / "code"
    result = unpack(archive, dest, max_bytes=MB)
    assert (dest / "main.py").read_text().startswith("def start")
    assert (dest / "lib" / "util.py").read_text() == "X = 1\n"
    assert os.access(dest / "run.sh", os.X_OK)
    assert result.files == 3
    assert result.total_bytes == len(b"def start(args):\n    return 1\n") + 6 + 10
    assert result.checksum == hashlib.sha1(archive.read_bytes()).hexdigest()
    assert result.archive_type == TAR_GZ
    assert result.descended_into is None
    assert sorted(p.name for p in (work / "out").iterdir()) == ["code"]


def test_dot_slash_names_as_made_by_tar_dash_c_dot_land_at_the_root(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tdir("./"), None), (tfile("./main.py"), b"x")])
    unpack(archive, work / "out" / "code", max_bytes=MB)
    assert (work / "out" / "code" / "main.py").read_bytes() == b"x"


def test_zip_is_unpacked(work: Path) -> None:
    archive = make_zip(work / "code.zip", [("main.py", b"print(1)\n"), ("pkg/__init__.py", b"")])
    result = unpack(archive, work / "out" / "code", max_bytes=MB)
    assert (work / "out" / "code" / "pkg" / "__init__.py").exists()
    assert (result.files, result.archive_type) == (2, ZIP)


def test_a_single_top_level_folder_is_descended_into(work: Path) -> None:
    archive = make_tar(
        work / "repo-main.tar.gz",
        [(tdir("repo-main"), None), (tfile("repo-main/main.py"), b"x"), (tfile("repo-main/a/b.py"), b"y")],
    )
    dest = work / "out" / "code"
    result = unpack(archive, dest, max_bytes=MB)
    assert (dest / "main.py").read_bytes() == b"x"
    assert (dest / "a" / "b.py").read_bytes() == b"y"
    assert result.descended_into == "repo-main"


def test_descent_can_be_turned_off_to_keep_hkube_layout(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tfile("alg/main.py"), b"x")])
    result = unpack(archive, work / "out" / "code", max_bytes=MB, descend=False)
    assert (work / "out" / "code" / "alg" / "main.py").exists()
    assert result.descended_into is None


def test_no_descent_when_a_link_would_then_point_outside(work: Path) -> None:
    archive = make_tar(
        work / "a.tar.gz",
        [(tfile("alg/main.py"), b"x"), (tlink("alg/alias.py", "../alg/main.py", tarfile.SYMTYPE), None)],
    )
    result = unpack(archive, work / "out" / "code", max_bytes=MB)
    assert result.descended_into is None
    assert (work / "out" / "code" / "alg" / "alias.py").read_bytes() == b"x"


def test_no_descent_when_a_link_climbs_out_through_another_link(work: Path) -> None:
    # Lexically 'alg/t' -> 'alg/sub/alg/main.py', but 'alg/sub/d' is 'alg' itself, so on
    # disk it climbs to the top folder's parent.
    archive = make_tar(
        work / "a.tar.gz",
        [
            (tfile("alg/main.py"), b"x"),
            (tdir("alg/sub"), None),
            (tlink("alg/sub/d", "..", tarfile.SYMTYPE), None),
            (tlink("alg/t", "sub/d/../alg/main.py", tarfile.SYMTYPE), None),
        ],
    )
    result = unpack(archive, work / "out" / "code", max_bytes=MB)
    assert result.descended_into is None


def test_no_descent_when_the_folder_has_a_sibling(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tfile("alg/main.py"), b"x"), (tfile("README"), b"r")])
    unpack(archive, work / "out" / "code", max_bytes=MB)
    assert (work / "out" / "code" / "alg" / "main.py").exists()


def test_macos_finder_zip_junk_is_skipped_and_does_not_block_descent(work: Path) -> None:
    archive = make_zip(
        work / "alg.zip",
        [("alg/main.py", b"x"), ("__MACOSX/alg/._main.py", b"\x00\x05\x16\x07")],
    )
    result = unpack(archive, work / "out" / "code", max_bytes=MB)
    assert sorted(p.name for p in (work / "out" / "code").iterdir()) == ["main.py"]
    assert result.descended_into == "alg"


def test_symlinks_that_stay_inside_are_kept(work: Path) -> None:
    archive = make_tar(
        work / "a.tar.gz",
        [(tfile("data/v1.txt"), b"v1"), (tlink("current.txt", "data/v1.txt", tarfile.SYMTYPE), None)],
    )
    unpack(archive, work / "out" / "code", max_bytes=MB)
    link = work / "out" / "code" / "current.txt"
    assert link.is_symlink() and link.read_text() == "v1"


def test_hardlinks_inside_become_copies(work: Path) -> None:
    archive = make_tar(
        work / "a.tar.gz",
        [(tfile("a.txt"), b"same"), (tlink("b.txt", "a.txt", tarfile.LNKTYPE), None)],
    )
    result = unpack(archive, work / "out" / "code", max_bytes=MB)
    assert (work / "out" / "code" / "b.txt").read_text() == "same"
    assert result.total_bytes == 8


def test_zip_symlink_inside_is_kept(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("main.py", b"x"), zip_symlink("alias.py", "main.py")])
    unpack(archive, work / "out" / "code", max_bytes=MB)
    assert (work / "out" / "code" / "alias.py").is_symlink()


# --- rejections -------------------------------------------------------------------------


def test_absolute_path_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tfile("main.py"), b"x"), (tfile("/tmp/evil.py"), b"x")])
    rejected(archive, work / "out" / "code", "'/tmp/evil.py' has an absolute path")


def test_dot_dot_escape_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tfile("ok/../../evil.py"), b"x")])
    rejected(archive, work / "out" / "code", r"'ok/\.\./\.\./evil\.py' has a '\.\.' component")
    assert not (work / "evil.py").exists()


def test_symlink_pointing_outside_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tlink("etc", "../../../etc", tarfile.SYMTYPE), None)])
    rejected(archive, work / "out" / "code", "symlink 'etc' points outside the archive")


def test_absolute_symlink_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tlink("passwd", "/etc/passwd", tarfile.SYMTYPE), None)])
    rejected(archive, work / "out" / "code", "symlink 'passwd' points to an absolute path")


def test_symlink_escaping_through_another_symlink_is_refused(work: Path) -> None:
    # 'here' -> '.' is harmless, but 'here/up' -> '../x' looks inside lexically
    # ('here/../x' = 'x') while on disk it resolves to '<dest>/../x'.
    archive = make_tar(
        work / "a.tar.gz",
        [
            (tlink("here", ".", tarfile.SYMTYPE), None),
            (tlink("here/up", "../x", tarfile.SYMTYPE), None),
        ],
    )
    rejected(archive, work / "out" / "code", "here/up")


def test_hardlink_pointing_outside_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tlink("shadow", "../../etc/shadow", tarfile.LNKTYPE), None)])
    rejected(archive, work / "out" / "code", "hard link 'shadow' points outside the archive")


def test_absolute_hardlink_is_refused(work: Path) -> None:
    archive = make_tar(work / "a.tar.gz", [(tlink("shadow", "/etc/shadow", tarfile.LNKTYPE), None)])
    rejected(archive, work / "out" / "code", "hard link 'shadow' points outside the archive")


def test_device_and_fifo_members_are_refused(work: Path) -> None:
    for kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
        dev = tarfile.TarInfo("dev0")
        dev.type = kind
        archive = make_tar(work / "a.tar.gz", [(dev, None)])
        rejected(archive, work / "out" / "code", "'dev0' is a device or fifo")


def test_zip_with_dot_dot_is_refused(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("main.py", b"x"), ("../../evil.py", b"x")])
    rejected(archive, work / "out" / "code", r"'\.\./\.\./evil\.py' has a '\.\.' component")


def test_zip_with_windows_separators_cannot_escape(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("..\\..\\evil.py", b"x")])
    rejected(archive, work / "out" / "code", r"has a '\.\.' component")


def test_zip_with_absolute_path_is_refused(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("/etc/cron.d/evil", b"x")])
    rejected(archive, work / "out" / "code", "has an absolute path")


def test_zip_symlink_pointing_outside_is_refused(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("main.py", b"x"), zip_symlink("keys", "../../../root/.ssh")])
    rejected(archive, work / "out" / "code", "symlink 'keys' points outside the archive")


def test_declared_size_over_the_limit_is_refused_before_extracting(work: Path) -> None:
    archive = make_tar(work / "bomb.tar.gz", [(tfile("zeros.bin"), bytes(5 * MB))])
    rejected(archive, work / "out" / "code", "too large uncompressed.*'zeros.bin'", max_bytes=MB)
    archive = make_zip(work / "bomb.zip", [("zeros.bin", bytes(5 * MB))])
    rejected(archive, work / "out" / "code", "too large uncompressed.*'zeros.bin'", max_bytes=MB)


def _patch_zip_sizes(path: Path, new_size: int) -> None:
    """Make every header (local and central) lie about the uncompressed size."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature)
        while start != -1:
            struct.pack_into("<I", data, start + offset, new_size)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_size_bomb_with_lying_header_is_refused(work: Path) -> None:
    archive = make_zip(work / "bomb.zip", [("bomb.bin", bytes(5 * MB))])
    _patch_zip_sizes(archive, 10)
    # The declared 10 bytes pass the up-front check; reading more than declared must not.
    rejected(archive, work / "out" / "code", "bomb.bin", max_bytes=MB)


def test_writer_stops_when_data_exceeds_what_the_header_declared(tmp_path: Path) -> None:
    writer = _Writer(tmp_path, max_bytes=MB, max_files=10)
    with pytest.raises(PackagingError, match=r"'lies\.bin' holds more data than its header declares"):
        writer.file(PurePosixPath("lies.bin"), io.BytesIO(bytes(100)), 10, 0o644)


def test_writer_stops_at_the_byte_budget_across_files(tmp_path: Path) -> None:
    writer = _Writer(tmp_path, max_bytes=150, max_files=10)
    writer.file(PurePosixPath("a"), io.BytesIO(bytes(100)), 100, 0o644)
    with pytest.raises(PackagingError, match="exceeds 150 bytes"):
        writer.file(PurePosixPath("b"), io.BytesIO(bytes(100)), 100, 0o644)


def test_too_many_files_is_refused(work: Path) -> None:
    archive = make_tar(work / "many.tar.gz", [(tfile(f"f{i}.py"), b"") for i in range(30)])
    rejected(archive, work / "out" / "code", r"too many files \(more than 10\)", max_files=10)
    archive = make_zip(work / "many.zip", [(f"f{i}.py", b"") for i in range(30)])
    rejected(archive, work / "out" / "code", r"too many files \(more than 10\)", max_files=10)


def test_truncated_gzip_is_reported_as_corrupted(work: Path) -> None:
    good = make_tar(work / "good.tar.gz", [(tfile("data.bin"), os.urandom(200_000))])
    archive = work / "cut.tar.gz"
    archive.write_bytes(good.read_bytes()[:50_000])
    good.unlink()
    rejected(archive, work / "out" / "code", "archive is corrupted or not a .tar.gz/.zip: ")


def test_garbage_after_gzip_magic_is_reported_as_corrupted(work: Path) -> None:
    archive = work / "junk.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(1000))
    rejected(archive, work / "out" / "code", "archive is corrupted or not a .tar.gz/.zip")


def test_gzip_of_something_other_than_tar_is_reported_as_corrupted(work: Path) -> None:
    import gzip

    archive = work / "main.py.gz"
    archive.write_bytes(gzip.compress(b"def start(args):\n    return 1\n" * 20))
    rejected(archive, work / "out" / "code", "archive is corrupted or not a .tar.gz/.zip")


def test_truncated_zip_is_reported_as_corrupted(work: Path) -> None:
    good = make_zip(work / "good.zip", [("data.bin", os.urandom(50_000))])
    archive = work / "cut.zip"
    archive.write_bytes(good.read_bytes()[:20_000])
    good.unlink()
    rejected(archive, work / "out" / "code", "archive is corrupted or not a .tar.gz/.zip")


def test_unsupported_format_is_refused(work: Path) -> None:
    archive = work / "code.tar"
    with tarfile.open(archive, "w") as tf:  # plain tar, not gzipped
        info = tfile("main.py")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    rejected(archive, work / "out" / "code", r"unsupported archive: upload a \.tar\.gz or \.zip of your code")


def test_empty_archive_is_refused(work: Path) -> None:
    archive = make_zip(work / "empty.zip", [])
    rejected(archive, work / "out" / "code", "archive contains no files")


def test_existing_destination_is_not_overwritten(work: Path) -> None:
    archive = make_zip(work / "a.zip", [("main.py", b"x")])
    (work / "out" / "code").mkdir()
    with pytest.raises(FileExistsError):
        unpack(archive, work / "out" / "code", max_bytes=MB)
