"""Pack a folder of small files (the CIFAR-10 JPEG copy) into one file, and unpack it again.

Why: the device machine receives the working tree and nothing else, at most 64 MiB of it, and
../shared/data/cifar10-jpeg.zip (64.8 MB) does not fit beside the repository. Of the zip, 55 MB
are JPEG bytes and the rest are per-file headers; one file of the bytes and an index fits.

    python tools/pack_data.py pack ~/.cache/minivision/data/cifar10-jpeg .gpu/cifar10-jpeg.pack
    python tools/pack_data.py unpack .gpu/cifar10-jpeg.pack "$MINIVISION_DATA/cifar10-jpeg"

Format: 8 bytes (little-endian length L of the index), L bytes of JSON index
``[[relative path, size], ...]`` in file order, then the files' bytes one after another.
"""
import argparse
import json
import struct
import sys
from pathlib import Path


def pack(folder: Path, out: Path) -> int:
    """Write every file below ``folder`` into ``out``; returns the number of files."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"{folder} holds no files: nothing to pack (is it the unpacked copy?)")
    index = [[p.relative_to(folder).as_posix(), p.stat().st_size] for p in files]
    header = json.dumps(index).encode()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for p in files:
            f.write(p.read_bytes())
    return len(files)


def unpack(pack_file: Path, folder: Path) -> int:
    """Recreate the packed files below ``folder``; returns the number of files."""
    data = Path(pack_file).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{pack_file} is not a pack (shorter than its 8-byte header)")
    (length,) = struct.unpack("<Q", data[:8])
    try:
        index = json.loads(data[8:8 + length])
    except ValueError as error:
        raise ValueError(f"{pack_file}: its index is not readable ({error}); pack it again") from None
    offset = 8 + length
    if offset + sum(size for _, size in index) != len(data):
        raise ValueError(f"{pack_file} is truncated or damaged: the index promises "
                         f"{sum(size for _, size in index)} bytes of files; pack it again")
    for name, size in index:
        if name.startswith("/") or ".." in Path(name).parts:
            raise ValueError(f"{pack_file} names a path outside its folder: {name!r}")
        target = Path(folder) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[offset:offset + size])
        offset += size
    return len(index)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("pack", "unpack"))
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            count = pack(Path(args.source).expanduser(), Path(args.target))
        else:
            count = unpack(Path(args.source), Path(args.target).expanduser())
    except (OSError, ValueError) as error:
        sys.exit(f"pack_data.py {args.command}: error: {error}")
    print(f"{args.command}ed {count} files: {args.source} -> {args.target}")


if __name__ == "__main__":
    main()
