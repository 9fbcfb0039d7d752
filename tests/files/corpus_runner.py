"""Run every JPEG reader and the exact decoder on corpus files, each file in its own process.

Not a test module: ``test_corpus.py`` runs it on the committed corpus, and by hand it measures
a full corpus (``tests/files/build_corpus.py``) for the table in ``docs/codec.md``::

    python -m tests.files.corpus_runner DIR [--json benchmarks/results/jpeg_corpus.json]

One server process imports torch and jpegdl once, then forks a child per file. The child
sets an address-space limit (``resource.setrlimit(RLIMIT_AS)``: its size at fork plus
``--memory`` MiB), runs every reader, and sends one JSON record back; the server kills it
after ``--timeout`` seconds. A record says, per reader, ``ok``, ``refused`` (the one-line
message) or ``crash`` (a traceback, several lines, a temporary path, or death by a signal),
and how the exact decode compares with libjpeg-turbo (Pillow's).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

TEMP_MARKERS = ("/dev/shm", "jpegdl-", "/tmp/tmp")
CHECKOUT = str(Path(__file__).resolve().parents[2])


def _names_temporary(message: str, path: Path | None = None) -> bool:
    """Whether ``message`` names a temporary file; the checkout and the input's own folders (which may
    live under /tmp, as in a fresh ``mktemp -d`` clone) do not count."""
    cleaned = message.replace(CHECKOUT, "")
    for parent in path.parents if path is not None else ():
        if len(parent.parts) > 2:
            cleaned = cleaned.replace(str(parent), "")
    return any(marker in cleaned for marker in TEMP_MARKERS)


def _line_problem(message: str, path: Path) -> str | None:
    """Why a refusal message is not an acceptable one-liner, or ``None``."""
    if "\n" in message.strip():
        return "several lines"
    if _names_temporary(message, path) and str(path) not in message:
        return "names a temporary file"
    if path.name not in message and "input" not in message and "source" not in message:
        return "does not name the file"
    return None


def _attempt(path: Path, action) -> tuple[dict, object]:
    try:
        return {"status": "ok"}, action()
    except ValueError as err:
        message = str(err)
        problem = _line_problem(message, path)
        if problem:
            return {"status": "crash", "detail": f"{problem}: {message[:300]}"}, None
        return {"status": "refused", "detail": message[:300]}, None
    except Exception as err:
        lines = traceback.format_exception(err)
        return {"status": "crash", "detail": f"{type(err).__name__}: {err}"[:300], "trace": lines[-3:]}, None


def _cli(argv: list[str], stderr_file: io.TextIOBase) -> dict:
    from jpegdl.cli import main

    start = stderr_file.tell()
    try:
        code = main(argv) or 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception as err:
        return {"status": "crash", "detail": f"{type(err).__name__}: {err}"[:300]}
    sys.stderr.flush()
    stderr_file.seek(start)
    lines = [line for line in stderr_file.read().splitlines() if line.strip()]
    stderr_file.seek(0, io.SEEK_END)
    if code == 0:
        return {"status": "ok"}
    if code == 2 and len(lines) == 1 and not _names_temporary(lines[0]):
        return {"status": "refused", "detail": lines[0][:300]}
    return {"status": "crash", "detail": f"exit {code}: " + " | ".join(lines)[:300]}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _pillow_raw(path: Path) -> np.ndarray | None:
    """libjpeg-turbo's (Pillow's) pixels in the file's own colour space, or ``None`` if it refuses."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image)
    except Exception:
        return None


def check_file(path: Path, stderr_file: io.TextIOBase) -> dict:
    """Every reader on one file (in this process)."""
    import torch

    from jpegdl.files import decode_pixels, inspect, read_coefficients, read_frame_header, read_picture, to_uint8
    from jpegdl.jpeg import decode

    torch.set_num_threads(1)
    record: dict = {"file": path.name, "bytes": path.stat().st_size}
    try:
        header = read_frame_header(path.read_bytes())
        record["kind"] = {"frame": header.frame, "sampling": header.subsampling, "color": header.color,
                          "precision": header.precision, "size": [header.height, header.width]}  # fmt: skip
    except ValueError as err:
        record["kind"] = {"unreadable_header": str(err)[:200]}
    readers = {}
    readers["inspect"], _ = _attempt(path, lambda: inspect(path))
    readers["read_coefficients"], coefficients = _attempt(path, lambda: read_coefficients(path))
    pixels = None
    if coefficients is not None:
        readers["decode"], pixels = _attempt(path, lambda: decode(coefficients))
    for decoder in ("pillow", "turbo210", "6b"):
        readers[f"read_image:{decoder}"], _ = _attempt(path, lambda d=decoder: decode_pixels(path, d))
    readers["read_picture"], _ = _attempt(path, lambda: read_picture(path))
    with tempfile.TemporaryDirectory() as folder:
        readers["cli:info"] = _cli(["info", str(path)], stderr_file)
        readers["cli:decode"] = _cli(["decode", str(path), f"{folder}/out.png"], stderr_file)
        readers["cli:encode"] = _cli(["encode", str(path), f"{folder}/out.jpg", "-q", "75"], stderr_file)
    record["readers"] = readers
    reference = _pillow_raw(path)
    record["pillow_decodes"] = reference is not None
    if pixels is not None:
        ours = to_uint8(pixels) if pixels.shape[1] in (1, 3) else _cmyk_uint8(pixels)
        if coefficients.num_channels == 4:
            ours = 255 - ours  # Pillow reads CMYK as Adobe's inverted CMYK
        if reference is None:
            record["exact"] = "pillow refuses"
        elif reference.shape != ours.shape:
            record["exact"] = f"shape {ours.shape} vs pillow {reference.shape}"
        else:
            psnr = _psnr(ours, reference)
            record["exact"] = "equal" if math.isinf(psnr) else "approximate"
            record["psnr"] = None if math.isinf(psnr) else round(psnr, 2)
    return record


def _cmyk_uint8(pixels) -> np.ndarray:
    import torch

    return torch.floor(pixels[0] * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def _child(path: Path, memory_mib: int, write_fd: int) -> None:
    size = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
    limit = size + memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sink = tempfile.TemporaryFile("w+")  # noqa: SIM115 - the child's stderr until it exits
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as this child
    os.dup2(sink.fileno(), 2)
    sys.stderr = sink
    try:
        record = check_file(path, sink)
    except MemoryError:
        record = {"file": path.name, "crash": "memory limit"}
    except BaseException as err:
        record = {"file": path.name, "crash": f"{type(err).__name__}: {err}"[:300]}
    with os.fdopen(write_fd, "w") as out:
        out.write(json.dumps(record))


def _warm_up() -> None:
    """Run every reader once in the server, so children inherit loaded libraries and lazy imports."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile("w+") as sink:
        path = Path(folder) / "warm.jpg"
        Image.new("RGB", (16, 16), (90, 120, 200)).save(path, quality=90)
        saved_fd, saved = os.dup(2), sys.stderr
        os.dup2(sink.fileno(), 2)
        sys.stderr = sink
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check_file(path, sink)
        finally:
            sys.stderr = saved
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def _spawn(path: Path, memory_mib: int) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _child(path, memory_mib, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    return {"path": path, "pid": pid, "fd": read_fd, "chunks": [], "started": time.monotonic()}


def _finish(job: dict, timeout: float, killed: bool) -> dict:
    os.close(job["fd"])
    _, status = os.waitpid(job["pid"], 0)
    seconds = round(time.monotonic() - job["started"], 2)
    if killed:
        record = {"file": job["path"].name, "crash": "timeout"}
    elif not job["chunks"]:
        cause = f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no record"
        record = {"file": job["path"].name, "crash": cause}
    else:
        record = json.loads(b"".join(job["chunks"]))
    record["seconds"] = seconds
    return record


def run_files(paths: list[Path], timeout: float = 60.0, memory_mib: int = 2048, jobs: int = 1) -> list[dict]:
    """One forked child per file, each with ``timeout`` seconds and ``memory_mib`` MiB of address
    space, ``jobs`` at a time; records in the order of ``paths``."""
    _warm_up()
    pending, running, records = list(paths), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            job = _spawn(pending.pop(0), memory_mib)
            running[job["fd"]] = job
        now = time.monotonic()
        wait = max(0.0, min(job["started"] + timeout - now for job in running.values()))
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                running[fd]["chunks"].append(chunk)
            else:
                job = running.pop(fd)
                records[job["path"]] = _finish(job, timeout, killed=False)
        for fd, job in list(running.items()):
            if time.monotonic() - job["started"] > timeout:
                os.kill(job["pid"], signal.SIGKILL)
                del running[fd]
                records[job["path"]] = _finish(job, timeout, killed=True)
    return [records[path] for path in paths]


def problems(record: dict) -> list[str]:
    """What makes a record a failure: a crash, a hang, a reader's traceback, or an inexact decode
    that the docs do not list (only ``equal`` or a documented approximation pass)."""
    found = [f"{record['file']}: {record['crash']}"] if "crash" in record else []
    for reader, outcome in record.get("readers", {}).items():
        if outcome["status"] == "crash":
            found.append(f"{record['file']}: {reader}: {outcome['detail']}")
    return found


_SAMPLING_GROUPS = {"4:4:4": "4:4:4", "4:2:0": "4:2:0", "4:2:2": "4:2:2", "4:4:0": "4:4:0", "4:1:1": "4:1:1 / 4:1:0",
                    "4:1:0": "4:1:1 / 4:1:0"}  # fmt: skip


def category(record: dict) -> tuple[str, str, str]:
    """``(coding process, colour space, sampling)`` of a record, for the docs' table."""
    kind = record.get("kind", {})
    if "frame" not in kind:
        return ("no readable frame header", "-", "-")
    frame = kind["frame"]
    if kind["precision"] != 8:
        return (f"{kind['precision']}-bit", kind["color"], "-")
    process = {"baseline": "baseline / extended", "extended": "baseline / extended"}.get(frame, frame)
    process = "arithmetic" if frame.startswith("arithmetic") else process
    sampling = "-" if kind["color"] == "grayscale" else _SAMPLING_GROUPS.get(kind["sampling"], "other factors")
    return (process, kind["color"], sampling)


def table(records: list[dict]) -> list[dict]:
    """Outcome counts of the exact path (``read_coefficients`` + ``decode``) per category."""
    rows: dict[tuple[str, str, str], Counter] = {}
    for record in records:
        outcome = record.get("exact") or "refused"
        rows.setdefault(category(record), Counter())[outcome] += 1
    out = []
    for (process, color, sampling), counts in sorted(rows.items()):
        out.append({"id": "-".join(part.replace(" ", "_").replace("/", "") for part in (process, color, sampling)),
                    "process": process, "color": color, "sampling": sampling, "files": sum(counts.values()),
                    "equal": counts["equal"], "pillow_refuses": counts["pillow refuses"],
                    "approximate": counts["approximate"], "refused": counts["refused"]})  # fmt: skip
    return out


def totals(rows: list[dict]) -> dict:
    """The table's columns summed over its rows."""
    keys = ("files", "equal", "pillow_refuses", "approximate", "refused")
    return {key: sum(row[key] for row in rows) for key in keys}


def summary(records: list[dict]) -> dict:
    """Outcome counts by category (frame, sampling, colour) and by reader."""
    by_category: dict[str, Counter] = {}
    by_reader: dict[str, Counter] = {}
    for record in records:
        kind = record.get("kind", {})
        if "frame" in kind:
            category = f"{kind['frame']} {kind['precision']}-bit, {kind['color']}, {kind['sampling']}"
        else:
            category = "no readable frame header"
        outcome = record.get("exact") or (
            "refused" if record.get("readers", {}).get("read_coefficients", {}).get("status") == "refused" else "crash"
        )
        by_category.setdefault(category, Counter())[outcome] += 1
        for reader, result in record.get("readers", {}).items():
            by_reader.setdefault(reader, Counter())[result["status"]] += 1
    rows = table(records)
    return {
        "files": len(records),
        "totals": totals(rows),
        "table": rows,
        "by_category": {k: dict(v) for k, v in sorted(by_category.items())},
        "by_reader": {k: dict(v) for k, v in sorted(by_reader.items())},
        "approximate": [{"file": r["file"], "psnr": r.get("psnr")} for r in records if r.get("exact") == "approximate"],
        "problems": [p for r in records for p in problems(r)],
        "max_seconds": max((r["seconds"] for r in records), default=0),
    }


def _brief(outcome: dict) -> str:
    return outcome["status"] if outcome["status"] == "ok" else f"{outcome['status']}: {outcome.get('detail', '')[:160]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run every reader on every JPEG of a folder, one process each.")
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--summarize", type=Path, help="recompute the table of a results JSON from its records")
    parser.add_argument("--json", type=Path, help="write the summary and records here")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--memory", type=int, default=2048, help="MiB of address space beyond the import size")
    parser.add_argument("--jobs", type=int, default=1, help="files checked at the same time")
    args = parser.parse_args(argv)
    if args.summarize:
        result = json.loads(args.summarize.read_text())
        result["table"] = table(result["records"])
        result["totals"] = totals(result["table"])
        result["table_command"] = f"python -m tests.files.corpus_runner --summarize {args.summarize}"
        args.summarize.write_text(json.dumps(result, indent=1) + "\n")
        return
    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() != ".json")
    started = time.perf_counter()
    records = run_files(paths, args.timeout, args.memory, args.jobs)
    result = summary(records)
    result["command"] = "python -m tests.files.corpus_runner " + " ".join(argv or sys.argv[1:])
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({k: v for k, v in result.items() if k != "approximate"}, indent=1))
    if args.json:
        with contextlib.suppress(FileNotFoundError):
            args.json.parent.mkdir(parents=True, exist_ok=True)
        slim = [{**r, "readers": {k: _brief(v) for k, v in r.get("readers", {}).items()}} for r in records]
        args.json.write_text(json.dumps({**result, "records": slim}, indent=1) + "\n")


if __name__ == "__main__":
    main()
