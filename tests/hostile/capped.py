"""``python -m tests.hostile.capped ARGS``: ``jpegdl ARGS`` as the victim of a hostile file.

After the imports, the address space is capped at what they took plus ``JPEGDL_HOSTILE_CAP`` bytes
(default 1 GiB), and every way of starting an external program (``subprocess``, ``os.system``,
``os.posix_spawn``, ``os.exec*``) is refused and recorded in the file ``JPEGDL_HOSTILE_MARKER``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys


def _refuse_programs(marker: str | None) -> None:
    def refuse(*args, **kwargs):
        if marker:
            with open(marker, "a") as file:
                file.write(f"{args[:1]!r}\n")
        raise OSError("the hostile-input suite refuses to start external programs")

    subprocess.Popen = refuse  # type: ignore[assignment, misc]
    for name in ("system", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "execvpe"):
        if hasattr(os, name):
            setattr(os, name, refuse)


def main() -> int:
    import torch  # noqa: F401 - the imports' own address space is not what is measured

    import jpegdl.cli

    if sys.argv[1:2] == ["edic"]:
        with contextlib.suppress(ImportError):
            import compressai  # noqa: F401
    _refuse_programs(os.environ.get("JPEGDL_HOSTILE_MARKER"))
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = used + int(os.environ.get("JPEGDL_HOSTILE_CAP", str(2**30)))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return jpegdl.cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
