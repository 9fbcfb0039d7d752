"""The real photographs bundled with scikit-image, used by the demo, tests and benchmarks."""

from __future__ import annotations

import numpy as np

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")


def load_photo(name: str) -> np.ndarray:
    """One bundled photo as uint8 ``(H, W, 3)`` (no download: the files ship inside scikit-image)."""
    if name not in PHOTO_NAMES:
        raise ValueError(f"name: expected one of {PHOTO_NAMES}, got {name!r}")
    try:
        from skimage import data
    except ImportError:
        raise ValueError("photos need scikit-image: pip install 'jpegdl[data]'") from None
    loader = {"motorcycle_left": lambda: data.stereo_motorcycle()[0]}.get(name, getattr(data, name, None))
    return np.ascontiguousarray(loader()[..., :3])


def load_photos(names: tuple[str, ...] = PHOTO_NAMES[:3]) -> dict[str, np.ndarray]:
    """Several bundled photos by name."""
    return {name: load_photo(name) for name in names}
