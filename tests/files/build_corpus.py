"""Rebuild the JPEG test corpus from public test suites (run by hand; not a test module).

Sources (git mirrors of public repositories, read with ``git show``, nothing downloaded here):

- ``libjpeg-turbo/libjpeg-turbo`` ``testimages/*.jpg`` (arithmetic, 12-bit, progressive, ...);
- ``mozilla/mozjpeg`` ``testimages/*.jpg``;
- ``python-pillow/Pillow`` ``Tests/images/*.jpg`` (CMYK, EXIF, ICC, truncated, MPO, ...);
- ``strongcourage/fuzzing-corpus`` ``jpg/`` (go-fuzz seeds and crashers, Mozilla's and lepton's
  broken files, mopt photos);
- files made here from libjpeg-turbo's ``testorig.ppm`` for what the suites lack: every sampling
  mode (baseline and progressive), Adobe RGB, CMYK with and without the Adobe marker, YCCK,
  254 ICC chunks, and a few-kB header claiming 8146 x 8500 pixels.

Usage::

    python tests/files/build_corpus.py OUT_DIR [--mirrors /work/.mirror] [--max-bytes 200000]

Writes ``OUT_DIR/<source>--<path>.jpg`` (duplicates by content dropped) and ``OUT_DIR/MANIFEST.json``.
The committed subset in ``tests/files/corpus`` was made with ``--max-bytes 8000``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SOURCES = {
    "libjpeg-turbo": ("libjpeg-turbo+libjpeg-turbo", "testimages/"),
    "mozjpeg": ("mozilla+mozjpeg", "testimages/"),
    "pillow": ("python-pillow+Pillow", "Tests/images/"),
    "fuzzing-corpus": ("strongcourage+fuzzing-corpus", "jpg/"),
}
SUFFIXES = (".jpg", ".jpeg", ".jfif", ".jpe", ".mpo")
ALWAYS = {"Tests/images/pil_sample_cmyk.jpg", "testimages/testorig12.jpg"}  # kept whatever --max-bytes says


def _git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(mirror), *args], check=True, capture_output=True).stdout


def external_files(mirrors: Path, max_bytes: int) -> list[tuple[str, str, str, bytes]]:
    """``(source, commit, path, data)`` for every JPEG of every source up to ``max_bytes``."""
    out = []
    for source, (folder, prefix) in SOURCES.items():
        mirror = mirrors / folder / "repo"
        commit = _git(mirror, "rev-parse", "HEAD").decode().strip()
        for line in _git(mirror, "ls-tree", "-r", "-l", "HEAD", prefix).decode().splitlines():
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            too_big = not size.isdigit() or (int(size) > max_bytes and path not in ALWAYS)
            if not path.lower().endswith(SUFFIXES) or too_big:
                continue
            out.append((source, commit, path, _git(mirror, "show", f"HEAD:{path}")))
    return out


def _pillow(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _turbo(pixels: np.ndarray, factors: list[tuple[int, int]], progressive: bool = False) -> bytes:
    import tempfile

    import jpeglib

    with tempfile.NamedTemporaryFile(suffix=".jpg") as file, jpeglib.version("turbo210"):
        jpeg = jpeglib.from_spatial(np.ascontiguousarray(pixels))
        jpeg.samp_factor = [[v, h] for h, v in factors]
        jpeg.write_spatial(file.name, qt=80, flags=["+PROGRESSIVE_MODE"] if progressive else [])
        return Path(file.name).read_bytes()


def _without_segment(data: bytes, marker: bytes) -> bytes:
    start = data.index(marker)
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    return data[:start] + data[start + 2 + length :]


def made_files(mirrors: Path) -> dict[str, bytes]:
    """Files for cases the suites lack, made from libjpeg-turbo's testorig.ppm (227 x 149)."""
    mirror = mirrors / SOURCES["libjpeg-turbo"][0] / "repo"
    picture = Image.open(io.BytesIO(_git(mirror, "show", "HEAD:testimages/testorig.ppm"))).convert("RGB")
    pixels = np.asarray(picture)[:61, :93]  # odd sizes: partial MCUs everywhere
    made = {}
    modes = {"422": [(2, 1)], "440": [(1, 2)], "411": [(4, 1)], "410": [(4, 2)], "420": [(2, 2)],
             "2x2-1x2-1x1": [(2, 2), (1, 2)], "1x1-2x2-1x1": [(1, 1), (2, 2)], "1x2-2x1-1x1": [(1, 2), (2, 1)],
             "3x1": [(3, 1)], "4x1-2x1-1x1": [(4, 1), (2, 1)]}  # fmt: skip
    for name, given in modes.items():
        factors = [*given, *[(1, 1)] * (3 - len(given))]
        made[f"sampling-{name}.jpg"] = _turbo(pixels, factors)
        made[f"sampling-{name}-progressive.jpg"] = _turbo(pixels, factors, progressive=True)
    small = Image.fromarray(pixels)
    made["gray.jpg"] = _pillow(small.convert("L"), quality=80)
    made["adobe-rgb.jpg"] = _pillow(small, quality=80, keep_rgb=True)
    cmyk = _pillow(small.convert("CMYK"), quality=80)  # Pillow writes Adobe (inverted) CMYK
    made["cmyk-adobe.jpg"] = cmyk
    made["cmyk-no-adobe.jpg"] = _without_segment(cmyk, b"\xff\xee")
    adobe = cmyk.index(b"\xff\xee")
    ycck = bytearray(cmyk)
    ycck[adobe + 15] = 1  # transform 1 on 4 components: libjpeg reads YCCK
    made["cmyk-transform1-read-as-ycck.jpg"] = bytes(ycck)
    chunks = b"".join(b"\xff\xe2\x00\x14ICC_PROFILE\x00" + bytes([i + 1, 254]) + b"abcd" for i in range(254))
    base = _pillow(small, quality=80)
    made["icc-254-chunks.jpg"] = base[:2] + chunks + base[2:]
    sof = base.index(b"\xff\xc0")
    claim = (8500).to_bytes(2, "big") + (8146).to_bytes(2, "big")  # height, width
    made["bomb-8146x8500.jpg"] = base[: sof + 5] + claim + base[sof + 9 :]
    made["truncated-half.jpg"] = base[: len(base) // 2]
    return made


def build(out: Path, mirrors: Path, max_bytes: int) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    seen: set[str] = set()
    entries = [(s, c, p, d) for s, c, p, d in external_files(mirrors, max_bytes)]
    entries += [("made", "", name, data) for name, data in made_files(mirrors).items()]
    for source, commit, path, data in entries:
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen or (len(data) > max_bytes and path not in ALWAYS):
            continue
        seen.add(digest)
        name = f"{source}--{path.replace('/', '-')}"
        if not name.lower().endswith(SUFFIXES):
            name += ".jpg"
        (out / name).write_bytes(data)
        manifest[name] = {"source": source, "commit": commit, "path": path, "bytes": len(data), "sha1": digest}
    (out / "MANIFEST.json").write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--max-bytes", type=int, default=200_000)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.mirrors, args.max_bytes)
    total = sum(m["bytes"] for m in manifest.values())
    print(f"{len(manifest)} files, {total} bytes in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
