"""tools/pack_data.py: what the GPU session carries instead of the CIFAR zip comes back byte for byte."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from pack_data import pack, unpack  # noqa: E402


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_unpack_gives_back_every_file_byte_for_byte(tmp_path):
    src = tmp_path / "cifar10-jpeg"
    files = {"train/cat/0000.jpg": b"\xff\xd8cat", "train/dog/0001.jpg": b"\xff\xd8" + bytes(range(256)),
             "test/cat/0000.jpg": b"", "README": "naïve\n".encode()}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    assert pack(src, tmp_path / "c.pack") == 4
    assert unpack(tmp_path / "c.pack", tmp_path / "out") == 4
    assert _tree(tmp_path / "out") == files


def test_a_truncated_pack_is_refused_by_name(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(b"x" * 100)
    pack(tmp_path / "src", tmp_path / "c.pack")
    data = (tmp_path / "c.pack").read_bytes()
    (tmp_path / "c.pack").write_bytes(data[:-1])
    with pytest.raises(ValueError, match="truncated"):
        unpack(tmp_path / "c.pack", tmp_path / "out")


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no files"):
        pack(tmp_path, tmp_path / "c.pack")
