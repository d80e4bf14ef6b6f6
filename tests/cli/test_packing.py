from __future__ import annotations

from pathlib import Path

import pytest

from hkubectl.packing import InputFileError, list_code_files, prepare_code


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_hkubeignore_follows_gitignore_rules(tmp_path: Path):
    root = tree(
        tmp_path,
        {
            ".hkubeignore": "*.pyc\n/build\ndocs/*.md\n!docs/keep.md\n**/cache/\n",
            "main.py": "",
            "main.pyc": "",
            "build/out.bin": "",
            "src/build/kept.py": "",
            "docs/a.md": "",
            "docs/keep.md": "",
            "src/cache/x": "",
            "src/mod.pyc": "",
        },
    )

    assert list_code_files(root) == [".hkubeignore", "docs/keep.md", "main.py", "src/build/kept.py"]


def test_nested_hkubeignore_applies_to_its_folder(tmp_path: Path):
    root = tree(tmp_path, {"a/.hkubeignore": "data/\n", "a/data/big": "", "a/x.py": "", "data/small": ""})

    assert list_code_files(root) == ["a/.hkubeignore", "a/x.py", "data/small"]


def test_packing_the_same_code_twice_gives_the_same_bytes(tmp_path: Path):
    # The server rebuilds when the archive checksum changes; packing alone must not change it.
    root = tree(tmp_path, {"main.py": "print(1)\n", "lib/a.py": ""})

    first = prepare_code(root, "x").content
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert prepare_code(root, "x").content == first


def test_other_files_are_refused(tmp_path: Path):
    notes = tree(tmp_path, {"notes.txt": "x"}) / "notes.txt"

    with pytest.raises(InputFileError, match=r"must be a folder, a \.tar\.gz or a \.zip"):
        prepare_code(notes, "my-alg")


def test_an_empty_folder_is_refused(tmp_path: Path):
    root = tree(tmp_path, {".hkubeignore": "*\n"})

    with pytest.raises(InputFileError, match="no files to upload"):
        prepare_code(root, "my-alg")
