"""Codec subcommands: tables, encode, info."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegdl.cli.arguments import max_pixels_flag, positive_int, quality, read_tables, subsampling, write_text_output


def _cmd_tables(args: argparse.Namespace) -> None:
    from jpegdl.jpeg import QuantTables

    tables = QuantTables.from_quality(args.quality, force_baseline=not args.no_baseline)
    text = tables.to_cjpeg() if args.format == "cjpeg" else json.dumps(tables.to_dict(), indent=1) + "\n"
    write_text_output(args.output, text, args.overwrite)


def _cmd_encode(args: argparse.Namespace) -> None:
    from jpegdl.files import bits_per_pixel, jpeg_bytes, payload_bytes, read_picture
    from jpegdl.files.pictures import picture_icc_profile
    from jpegdl.jpeg import QuantTables
    from jpegdl.utils import atomic_write_bytes

    output = Path(args.output)
    if output.suffix.lower() not in (".jpg", ".jpeg", ".jpe", ".jfif"):
        raise ValueError(f"output: {args.output!r} does not end in .jpg or .jpeg; jpegdl encode writes JPEG files")
    if output.exists() and Path(args.input).exists() and output.resolve() == Path(args.input).resolve():
        raise ValueError(f"output: {args.output!r} is the input file; write the JPEG elsewhere")
    if output.is_dir():
        raise ValueError(f"output: {args.output!r} is a folder; name the JPEG file to write")
    if not output.parent.is_dir():
        raise ValueError(f"output: the folder {str(output.parent)!r} does not exist")
    _check_replaceable(output, args.overwrite)
    tables = read_tables(args.tables)[0] if args.tables else QuantTables.from_quality(args.quality)
    pixels = read_picture(args.input, args.max_pixels)
    data = jpeg_bytes(pixels, tables, args.subsampling, optimize=not args.no_optimize,
                     icc_profile=picture_icc_profile(args.input, args.max_pixels))  # fmt: skip
    atomic_write_bytes(output, data)
    height, width = pixels.shape[:2]
    print(
        f"wrote {args.output}: {width}x{height}, {len(data)} bytes"
        f" ({bits_per_pixel(len(data), height, width):.3f} bpp), payload {payload_bytes(data)} bytes"
        f" ({bits_per_pixel(payload_bytes(data), height, width):.3f} bpp)"
    )


def _check_replaceable(output: Path, overwrite: bool) -> None:
    """An existing output is replaced only with ``--overwrite``, and only if it is a JPEG file (what
    encode writes): never a picture or document of another kind under a JPEG name."""
    if not (output.exists() or output.is_symlink()):
        return
    if not overwrite:
        raise ValueError(f"output: {str(output)!r} already exists; pass --overwrite to replace it")
    try:
        with open(output, "rb") as file:
            start = file.read(3)
    except OSError as err:
        raise ValueError(f"output: cannot check {str(output)!r} ({err.strerror or err})") from None
    if output.is_symlink() or not output.is_file() or start != b"\xff\xd8\xff":
        raise ValueError(f"output: {str(output)!r} is not a JPEG file; --overwrite replaces only JPEG files")


def _cmd_info(args: argparse.Namespace) -> None:
    from jpegdl.files import inspect
    from jpegdl.limits import read_bytes

    info = inspect(read_bytes(args.file, "file"))
    if args.json:
        print(json.dumps(info.to_dict(), indent=1))
        return
    print(f"file        {args.file}")
    print(f"size        {info.width}x{info.height}, {info.components} component(s) ({info.color}), {info.frame}")
    if info.components > 1:
        print(f"sampling    {info.subsampling}")
    print(f"bytes       {info.file_bytes} ({info.bpp:.3f} bpp)")
    print(f"payload     {info.payload_bytes} ({info.payload_bpp:.3f} bpp, entropy-coded scan data)")
    names = ("luma",) if info.components == 1 else ("luma", "chroma")
    for name in names:
        table = getattr(info.tables, name)
        print(f"{name} table (natural order)")
        for row in table.tolist():
            print("    " + " ".join(f"{v:3d}" for v in row))


def _cmd_decode(args: argparse.Namespace) -> None:
    import io

    from PIL import Image

    from jpegdl.files import decode_pixels, read_coefficients, to_uint8
    from jpegdl.files.pictures import MAX_PIXELS
    from jpegdl.jpeg import decode
    from jpegdl.utils import atomic_write_bytes

    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff"):
        raise ValueError(f"output: {args.output!r} must end in .png, .bmp, .ppm, .pgm or .tif (a lossless format)")
    if output.is_dir():
        raise ValueError(f"output: {args.output!r} is a folder; name the picture to write")
    if not output.parent.is_dir():
        raise ValueError(f"output: the folder {str(output.parent)!r} does not exist")
    if output.exists() or output.is_symlink():
        if Path(args.input).exists() and output.resolve() == Path(args.input).resolve():
            raise ValueError(f"output: {args.output!r} is the input file; write the picture elsewhere")
        if not args.overwrite:
            raise ValueError(f"output: {args.output!r} already exists; pass --overwrite to replace it")
    limit = args.max_pixels or MAX_PIXELS
    if args.decoder == "jpegdl":
        coefficients = read_coefficients(args.input, limit, name="input")
        if coefficients.num_channels == 4:
            raise ValueError(f"input {args.input!r}: a {coefficients.color.upper()} file decodes to 4 channels;"
                             " use --decoder pillow for RGB")  # fmt: skip
        pixels = to_uint8(decode(coefficients))
    else:
        pixels = decode_pixels(args.input, args.decoder, limit, name="input")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=Image.registered_extensions()[output.suffix.lower()])
    atomic_write_bytes(output, buffer.getvalue())
    print(f"wrote {args.output}: {pixels.shape[1]}x{pixels.shape[0]}, decoded by {args.decoder}")


def add_codec_parsers(commands: argparse._SubParsersAction) -> None:
    tables = commands.add_parser("tables", help="print IJG quantization tables for a quality")
    tables.add_argument("--quality", "-q", type=quality, default=75, help="IJG quality 0..100 (default 75)")
    tables.add_argument("--format", choices=("json", "cjpeg"), default="json", help="json, or cjpeg -qtables text")
    tables.add_argument(
        "--no-baseline", action="store_true", help="do not clamp entries to 255 (cjpeg without -baseline)"
    )
    tables.add_argument("--output", "-o", help="write to this file instead of stdout")
    tables.add_argument("--overwrite", action="store_true", help="replace --output if it exists (a tables file only)")
    tables.set_defaults(handler=_cmd_tables)

    encode = commands.add_parser("encode", help="write a standard JPEG with given tables or quality")
    encode.add_argument("input", help="any image Pillow reads (PNG, JPEG, ...)")
    encode.add_argument("output", help="JPEG file to write")
    source = encode.add_mutually_exclusive_group(required=True)
    source.add_argument("--tables", "-t", help="tables JSON (from 'jpegdl tables' or learned)")
    source.add_argument("--quality", "-q", type=quality, help="IJG quality 0..100")
    encode.add_argument("--subsampling", "-s", type=subsampling, default="4:2:0",
                        help="chroma subsampling of colour images: 4:4:4, 4:2:2, 4:4:0, 4:2:0 (default, libjpeg's),"
                             " 4:1:1, 4:1:0, or per-component factors such as 2x2,1x2,1x1")  # fmt: skip
    encode.add_argument("--no-optimize", action="store_true", help="standard Huffman tables instead of optimized ones")
    encode.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists (a JPEG file only)")
    max_pixels_flag(encode)
    encode.set_defaults(handler=_cmd_encode)

    decode = commands.add_parser("decode", help="decode a JPEG file to a lossless picture (PNG, ...)")
    decode.add_argument("input", help="a JPEG file")
    decode.add_argument("output", help="picture to write (.png, .bmp, .ppm, .pgm, .tif)")
    decode.add_argument("--decoder", "-d", default="jpegdl",
                        help="jpegdl (default: the exact differentiable decoder, libjpeg-turbo's pixels), pillow,"
                             " or a jpeglib build such as 6b, turbo210, 9e")  # fmt: skip
    decode.add_argument("--max-pixels", type=positive_int, default=None,
                        help="refuse larger frames before decoding (default 100,000,000)")  # fmt: skip
    decode.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists (never the input)")
    decode.set_defaults(handler=_cmd_decode)

    info = commands.add_parser("info", help="size, sampling, tables and bytes of a JPEG file")
    info.add_argument("file", help="a JPEG file (its headers are parsed; the whole file, at most"
                      " JPEGDL_MAX_FILE_BYTES, is read to count its payload)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_cmd_info)
