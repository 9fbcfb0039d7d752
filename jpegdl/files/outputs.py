"""Where batch commands may write: never over an input, never over a file jpegdl did not write.

A batch command (``compress``, ``compress-guided``, ``edic compress``, ``edic decompress``) plans all
its outputs before it writes one:

- two inputs that would give one output (``a.png`` and ``a.jpg`` -> ``a.edic``) are refused;
- an output that is one of the inputs (or the same file under another name) is always refused;
- an output that already exists is refused without ``overwrite``; with it, it is replaced only if the
  output folder's manifest (:data:`MANIFEST`) records that jpegdl wrote exactly that file there, so
  ``--overwrite`` can never replace a user's own file;
- every file is recorded in the manifest (one ``sha256  path`` line each, appended) and then written
  atomically: a batch killed at any point leaves whole files only, each one recorded, so a re-run
  with ``--overwrite`` may replace all of them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from jpegdl.utils import atomic_write_bytes

MANIFEST = ".jpegdl-written"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


class OutputFolder:
    """A folder a batch writes into, with its manifest of the files jpegdl wrote there.

    Args:
        path: the output folder (created on the first write).
        overwrite: replace outputs that a jpegdl batch wrote earlier (recorded in the manifest).
        name: how errors name the folder (a command-line argument: ``out_dir``, ``output``).
    """

    def __init__(self, path: str | Path, overwrite: bool = False, name: str = "output") -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.name = name
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"{name}: {str(self.path)!r} is a file, not a folder")
        self.manifest = self.path / MANIFEST
        self._written = self._read_manifest()

    def _read_manifest(self) -> dict[str, set[str]]:
        written: dict[str, set[str]] = {}
        try:
            lines = self.manifest.read_text(errors="replace").splitlines()
        except OSError:
            return written
        for line in lines:  # "sha256  relative/path"; a torn last line (a killed batch) is ignored
            hexdigest, _, relative = line.partition("  ")
            if len(hexdigest) == 64 and relative:
                written.setdefault(relative, set()).add(hexdigest)
        return written

    def _relative(self, target: Path) -> str:
        return target.relative_to(self.path).as_posix()

    def wrote(self, target: Path) -> bool:
        """Whether ``target`` is, byte for byte, a file a jpegdl batch wrote into this folder."""
        recorded = self._written.get(self._relative(target), set())
        return bool(recorded) and _file_digest(target) in recorded

    def plan(self, pairs: Sequence[tuple[Path, Path]], inputs: Iterable[Path] = ()) -> None:
        """Check every ``(input, output)`` pair before anything is written (see the module doc).

        ``inputs``: other files the command reads, which no output may replace either.

        Raises:
            ValueError: naming the first conflict.
        """
        owners: dict[Path, Path] = {}
        sources = [source for source, _ in pairs] + list(inputs)
        for source, target in pairs:
            if target in owners:
                raise ValueError(f"{self.name}: {str(owners[target])!r} and {str(source)!r} would both be written to"
                                 f" {str(target)!r}; rename one of them or write them to separate folders")  # fmt: skip
            owners[target] = source
        existing = [target for target in owners if target.exists() or target.is_symlink()]
        for target in existing:
            clash = next((s for s in sources if _same_file(s, target)), None)
            if clash is not None:
                raise ValueError(f"{self.name}: writing {str(target)!r} would replace the input {str(clash)!r};"
                                 " choose another output folder")  # fmt: skip
        if existing and not self.overwrite:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise ValueError(f"{self.name}: {str(existing[0])!r}{more} already exist; pass --overwrite to replace"
                             " files an earlier jpegdl run wrote there")  # fmt: skip
        foreign = [target for target in existing if target.is_symlink() or not self.wrote(target)]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ValueError(f"{self.name}: {str(foreign[0])!r}{more} was not written by jpegdl (it is not in"
                             f" {str(self.manifest)!r}); --overwrite replaces only jpegdl's own outputs: move it"
                             " away or choose another folder")  # fmt: skip

    def write(self, target: Path, data: bytes) -> Path:
        """Record ``data`` for ``target`` (inside this folder) in the manifest, then write it atomically."""
        hexdigest = digest(data)
        self._written.setdefault(self._relative(target), set()).add(hexdigest)
        return write_recorded(self.path, target, data, hexdigest)


def write_recorded(folder: Path, target: Path, data: bytes, hexdigest: str | None = None) -> Path:
    """Append ``target``'s line to ``folder``'s manifest, then write ``data`` to it atomically (usable from
    worker processes: each line is one small ``O_APPEND`` write)."""
    line = f"{hexdigest or digest(data)}  {target.relative_to(folder).as_posix()}\n".encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(handle, line)
    finally:
        os.close(handle)
    return atomic_write_bytes(target, data)
