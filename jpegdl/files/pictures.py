"""Reading any picture file (PNG, JPEG, TIFF, ...) into the uint8 arrays JPEG encoders take.

One reader for every command (encode, compress, compress-guided, edic, image-folder datasets), so that
a picture means the same everywhere and is opened as safely everywhere:

- only the raster formats of :data:`PICTURE_FORMATS` are tried, whatever the file's suffix: Pillow
  picks its decoder by content, and some of its plugins run external programs (EPS: Ghostscript)
  or read other files; those are never used;
- the size is checked against ``max_pixels`` (``JPEGDL_MAX_PIXELS``) from the header, before any
  pixel is decoded, and the path must be a regular file (no FIFO or device);
- grayscale modes (``1``, ``L``, ``LA``, ``I``, ``I;16``, ``F``, a grayscale palette) give ``(H, W)``;
  everything else ``(H, W, 3)`` RGB (:func:`read_rgb` always gives RGB);
- alpha is dropped (JPEG has none), as Pillow's ``convert`` does;
- 16-bit and 32-bit samples are scaled to 8 bits (not clipped);
- CMYK/YCCK JPEGs are converted to RGB (Adobe's inverted CMYK handled by Pillow);
- the EXIF orientation is applied, so the pixels stand as a viewer shows them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from struct import error as struct_error

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jpegdl.limits import PICTURE_PIXELS, regular_file

MAX_PIXELS = 100_000_000  # the JPEG readers' frame limit (jpegdl.files.read); pictures: JPEGDL_MAX_PIXELS
# Pillow plugins that decode pixels from the file alone (no external program, no second file).
PICTURE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                    ".pbm", ".pnm", ".gif")  # fmt: skip
GRAYSCALE_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
MAX_SIDE = 65500  # JPEG's largest side


def _is_grayscale(image: Image.Image) -> bool:
    if image.mode in GRAYSCALE_MODES:
        return True
    if image.mode == "P":
        palette = np.asarray(image.convert("RGB"))
        return bool((palette[..., 0] == palette[..., 1]).all() and (palette[..., 1] == palette[..., 2]).all())
    return False


def _to_uint8(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I;16"):  # integer rounding of v * 255 / 65535 (no ties: equal to rint)
        values = np.asarray(image).astype(np.uint32)
        return ((values * 255 + 32767) // 65535).astype(np.uint8)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L" if _is_grayscale(image) else "RGB"))


@contextmanager
def open_picture(path: str | Path, max_pixels: int | None = None, name: str = "input") -> Iterator[Image.Image]:
    """The picture at ``path`` opened by Pillow (pixels not decoded yet), checked: a regular file in one
    of :data:`PICTURE_FORMATS`, sides 1..65500, at most ``max_pixels`` pixels (default: the
    ``JPEGDL_MAX_PIXELS`` limit, 50 megapixels unless the variable says otherwise).

    Raises:
        ValueError: naming ``name``, the path and the reason (also for errors while the caller decodes).
    """
    max_pixels = PICTURE_PIXELS.value() if max_pixels is None else max_pixels
    path = regular_file(path, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels is the limit here
            with Image.open(path, formats=PICTURE_FORMATS) as image:
                width, height = image.size
                if width < 1 or height < 1:
                    raise ValueError(f"{name}: {str(path)!r} claims an empty {width}x{height} image")
                if width * height > max_pixels:
                    raise ValueError(f"{name}: {str(path)!r} is {width}x{height}, above the limit of {max_pixels}"
                                     " pixels (raise it with --max-pixels or JPEGDL_MAX_PIXELS)")  # fmt: skip
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise ValueError(f"{name}: {str(path)!r} is {width}x{height}; JPEG allows at most {MAX_SIDE}"
                                     " per side")  # fmt: skip
                yield image
    except UnidentifiedImageError:
        raise ValueError(f"{name}: cannot read picture {str(path)!r}: not a picture in a format jpegdl reads"
                         f" ({', '.join(PICTURE_FORMATS)})") from None  # fmt: skip
    except Image.DecompressionBombError as err:  # Pillow's own check, before jpegdl's (at twice MAX_IMAGE_PIXELS)
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        raise ValueError(f"{name}: {str(path)!r} is above the limit of {limit} pixels (Pillow: {err})") from None
    except (OSError, SyntaxError, EOFError, MemoryError, struct_error, ZeroDivisionError, IndexError) as err:
        raise ValueError(f"{name}: cannot read picture {str(path)!r} ({type(err).__name__}: {err})") from None


def _upright(image: Image.Image) -> Image.Image:
    image.load()
    return ImageOps.exif_transpose(image) or image


def read_picture(path: str | Path, max_pixels: int | None = None, name: str = "input") -> np.ndarray:
    """A picture file as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB), upright.

    Raises:
        ValueError: no such file, not a picture in :data:`PICTURE_FORMATS`, a corrupt file, or more
            than ``max_pixels`` pixels (checked from the header); the message names ``name``.
    """
    with open_picture(path, max_pixels, name) as image:
        return _to_uint8(_upright(image))


def read_rgb(path: str | Path, max_pixels: int | None = None, name: str = "input") -> np.ndarray:
    """:func:`read_picture` as uint8 ``(H, W, 3)``: a grayscale picture has three equal channels."""
    pixels = read_picture(path, max_pixels, name)
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def picture_icc_profile(path: str | Path, max_pixels: int | None = None) -> bytes | None:
    """The ICC colour profile embedded in a picture file, if any (read from its header)."""
    try:
        with open_picture(path, max_pixels) as image:
            return image.info.get("icc_profile") or None
    except ValueError:
        return None
