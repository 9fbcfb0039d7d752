"""Reading any picture file (PNG, JPEG, TIFF, ...) into the uint8 arrays JPEG encoders take.

One reader for every command, so that a picture means the same everywhere:

- grayscale modes (``1``, ``L``, ``LA``, ``I``, ``I;16``, ``F``, a grayscale palette) give ``(H, W)``;
  everything else ``(H, W, 3)`` RGB;
- alpha is dropped (JPEG has none), as Pillow's ``convert`` does;
- 16-bit and 32-bit samples are scaled to 8 bits (not clipped);
- CMYK/YCCK JPEGs are converted to RGB (Adobe's inverted CMYK handled by Pillow);
- the EXIF orientation is applied, so the pixels stand as a viewer shows them;
- the size is checked against ``max_pixels`` from the header, before any pixel is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 100_000_000  # 100 megapixels (about 400 MB as RGB floats); configurable per call
GRAYSCALE_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _is_grayscale(image: Image.Image) -> bool:
    if image.mode in GRAYSCALE_MODES:
        return True
    if image.mode == "P":
        palette = np.asarray(image.convert("RGB"))
        return bool((palette[..., 0] == palette[..., 1]).all() and (palette[..., 1] == palette[..., 2]).all())
    return False


def _to_uint8(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L" if _is_grayscale(image) else "RGB"))


def read_picture(path: str | Path, max_pixels: int = MAX_PIXELS, name: str = "input") -> np.ndarray:
    """A picture file as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB), upright.

    Raises:
        ValueError: no such file, not a picture Pillow can read, a corrupt file, or more than
            ``max_pixels`` pixels (checked from the header); the message names ``name``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{name}: no such file {str(path)!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width < 1 or height < 1:
                    raise ValueError(f"{name}: {str(path)!r} claims an empty {width}x{height} image")
                if width * height > max_pixels:
                    raise ValueError(f"{name}: {str(path)!r} is {width}x{height}, above the limit of {max_pixels}"
                                     " pixels (raise max_pixels to accept it)")  # fmt: skip
                if width > 65500 or height > 65500:
                    raise ValueError(f"{name}: {str(path)!r} is {width}x{height}; JPEG allows at most 65500 per side")
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                return _to_uint8(upright)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:  # fmt: skip
        raise ValueError(f"{name}: cannot read picture {str(path)!r} ({err})") from None


def picture_icc_profile(path: str | Path) -> bytes | None:
    """The ICC colour profile embedded in a picture file, if any (read from its header)."""
    try:
        with Image.open(path) as image:
            return image.info.get("icc_profile") or None
    except (UnidentifiedImageError, OSError, SyntaxError):
        return None
