"""The ``jpegdl`` command line: one thin subcommand per task."""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Sequence

from jpegdl.cli.codec import add_codec_parsers
from jpegdl.cli.edic import add_edic_parsers
from jpegdl.cli.j4d import add_j4d_parsers
from jpegdl.cli.law import add_law_parsers
from jpegdl.cli.robust import add_robust_parsers
from jpegdl.cli.sparse import add_sparse_parsers
from jpegdl.cli.training import add_train_parsers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jpegdl",
        description="JPEG-aware deep learning: a libjpeg-exact differentiable codec and real JPEG files.",
    )
    from jpegdl import __version__

    parser.add_argument("--version", action="version", version=f"jpegdl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_codec_parsers(commands)
    add_train_parsers(commands)
    add_j4d_parsers(commands)
    add_robust_parsers(commands)
    add_sparse_parsers(commands)
    add_edic_parsers(commands)
    add_law_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except ValueError as err:
        parser.exit(2, f"jpegdl {args.command}: error: {_one_line(err)}\n")
    except MemoryError:
        parser.exit(2, f"jpegdl {args.command}: error: out of memory; the input is larger than this machine can"
                       " take (see docs/security.md for the limits)\n")  # fmt: skip
    except (struct.error, RecursionError) as err:  # malformed input a reader did not catch itself
        parser.exit(2, f"jpegdl {args.command}: error: malformed input ({type(err).__name__}: {_one_line(err)})\n")
    except KeyboardInterrupt:
        parser.exit(130, f"jpegdl {args.command}: interrupted\n")
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
    except OSError as err:  # a full disk, a read-only folder, a vanished file
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        parser.exit(1, f"jpegdl {args.command}: error: {err.strerror or err}{where}\n")
    return 0


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
