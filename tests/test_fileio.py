"""Atomic writes: whole files or none, with the permissions any other tool would give them."""

import os
import stat
from pathlib import Path

import pytest

from edgekd.fileio import atomic_path, atomic_save, atomic_write_json, atomic_write_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_written_files_honour_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    atomic_write_text(tmp_path / "new" / "a.txt", "a")
    atomic_write_json(tmp_path / "b.json", {"b": 1})
    atomic_save(tmp_path / "c.bin", lambda tmp: tmp.write_bytes(b"c"))
    for name in ("new/a.txt", "b.json", "c.bin"):
        assert mode(tmp_path / name) == file_mode, name
    assert mode(tmp_path / "new") == dir_mode


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_temporaries_are_hidden_part_files_next_to_the_target(tmp_path):
    with atomic_path(tmp_path / "x.bin") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".x.bin.") and tmp.name.endswith(".part")
        assert tmp.exists()


def test_a_writer_that_replaces_the_temporary_still_gets_the_umask_mode(tmp_path, umask):
    """safetensors' ``save_file`` writes its own 0600 file in place of the temporary."""
    import torch
    from safetensors.torch import save_file

    umask(0o022)
    atomic_save(tmp_path / "w.safetensors", lambda tmp: save_file({"w": torch.zeros(2)}, tmp))
    assert mode(tmp_path / "w.safetensors") == 0o644


def test_current_umask_reads_the_process_umask(umask):
    from edgekd.fileio import current_umask

    for mask in (0o022, 0o077, 0o027):
        umask(mask)
        assert current_umask() == mask
