"""``python -m tests.hostile.edic_victim CODEC FOLDER``: decode every ``FOLDER/*.edic`` as untrusted bytes.

Runs under the same cap and program refusal as :mod:`tests.hostile.capped`; prints one line per file,
``NAME<TAB>ok HxW`` or ``NAME<TAB>refused: <message>``, then ``CLI<TAB><exit status>`` for ``jpegdl edic
decompress`` on ``FOLDER/cli/*.edic``, then ``CMD <i><TAB><exit status><TAB><stderr>`` for each command
line of ``FOLDER/commands.json`` (other hostile files, so that one capped process pays for the imports).
Any other exception escapes (a traceback: the test fails), and a native crash kills the process (the
test fails on the signal).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
from pathlib import Path


def main() -> int:
    import torch  # noqa: F401

    from jpegdl.cli import main as cli
    from jpegdl.edic import decode_image, model_id
    from jpegdl.edic.checkpoint import load_codec
    from tests.hostile.capped import _refuse_programs

    _refuse_programs(os.environ.get("JPEGDL_HOSTILE_MARKER"))
    codec, folder = sys.argv[1], Path(sys.argv[2])
    model, config = load_codec(codec)
    identity = model_id(model, config)
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = used + int(os.environ.get("JPEGDL_HOSTILE_CAP", str(2**30)))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    for path in sorted(folder.glob("*.edic")):
        try:
            image = decode_image(model, config, path.read_bytes(), identity)
            print(f"{path.name}\tok {image.shape[-2]}x{image.shape[-1]}", flush=True)
        except ValueError as err:
            assert "\n" not in str(err), str(err)
            print(f"{path.name}\trefused: {err}", flush=True)
    for path in sorted((folder / "cli").glob("*.edic")):
        try:
            code = cli(["edic", "decompress", str(path), "-o", str(folder / "cli-out"), "-m", codec])
        except SystemExit as exit_info:
            code = exit_info.code
        print(f"CLI {path.name}\t{code}", flush=True)
    commands = folder / "commands.json"
    for index, argv in enumerate(json.loads(commands.read_text()) if commands.exists() else []):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = cli(argv)
            except SystemExit as exit_info:
                code = exit_info.code
        print(f"CMD {index}\t{code}\t{err.getvalue()!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
