"""Training photos that exist offline: any folder of images (by default Debian's wallpaper packages),
deduplicated across resolutions, downscaled, and cut into random crops."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from jpegdl.files.pictures import open_picture

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
WALLPAPER_FOLDERS = ("/usr/share/wallpapers", "/usr/share/backgrounds")
WALLPAPER_PACKAGES = ("plasma-workspace-wallpapers", "ukui-wallpapers", "gnome-backgrounds")
_SIGNATURE_SIDE = 16


def find_images(folders: Iterable[str | Path]) -> list[Path]:
    """Every raster image (by suffix) under the folders, recursively, sorted; ValueError if none."""
    folders = [Path(f) for f in folders]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise ValueError(f"data: no such folder {missing[0]!r}")
    paths = sorted({p for f in folders for p in f.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES})
    if not paths:
        hint = f" (install {' '.join(WALLPAPER_PACKAGES)} or pass --data DIR)" if folders else ""
        raise ValueError(f"data: no images ({', '.join(IMAGE_SUFFIXES)}) under {[str(f) for f in folders]}{hint}")
    return paths


def _open_rgb(path: Path, min_side: int | None = None) -> Image.Image:
    with open_picture(path, name="data") as image:  # allowlisted formats, JPEGDL_MAX_PIXELS
        if min_side is not None:
            image.draft("RGB", (min_side, min_side))  # JPEG: decode at a reduced scale when that is enough
        return image.convert("RGB")


def signature(image: Image.Image) -> np.ndarray:
    """A 16x16 grey thumbnail of the centre square, zero-mean and unit-norm: about equal for one picture at
    several resolutions and for its portrait/landscape cuts (wallpapers crop about the centre)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.convert("L").crop((left, top, left + side, top + side))
    thumb = np.asarray(square.resize((_SIGNATURE_SIDE, _SIGNATURE_SIDE), Image.BILINEAR), np.float64)
    thumb = thumb - thumb.mean()
    return (thumb / (np.linalg.norm(thumb) + 1e-9)).ravel()


def deduplicate(paths: list[Path], threshold: float = 0.95) -> list[Path]:
    """Keep one file per picture: the largest of those whose centre thumbnails correlate above ``threshold``."""
    entries = []
    for path in paths:
        with open_picture(path, name="data") as image:
            size = image.size
            entries.append((path, size, signature(_open_rgb(path, 64))))
    entries.sort(key=lambda e: -e[1][0] * e[1][1])  # largest first: it is the one kept
    kept: list[tuple[Path, tuple[int, int], np.ndarray]] = []
    for path, size, sig in entries:
        if not any(float(sig @ other) > threshold for _, _, other in kept):
            kept.append((path, size, sig))
    return sorted(p for p, _, _ in kept)


def load_training_images(paths: list[Path], short_side: int = 512, min_side: int = 128) -> list[Tensor]:
    """Each image downscaled (never upscaled) to ``short_side`` pixels on its short side, as uint8
    ``(3, H, W)``; images whose short side is below ``min_side`` are skipped."""
    images = []
    for path in paths:
        image = _open_rgb(path, short_side)
        scale = short_side / min(image.size)
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        if min(image.size) >= min_side:
            images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous())
    if not images:
        raise ValueError(f"data: no image has a short side of at least {min_side} pixels")
    return images


class CropSampler:
    """Random training crops: pick an image, cut a square of ``crop * s`` pixels (s uniform in
    [1, max_zoom_out], limited by the image), resize it to ``crop`` (antialiased), flip at random.

    The sampler draws only from its own ``torch.Generator``, whose state is saved for exact resume.
    """

    def __init__(self, images: list[Tensor], crop: int, max_zoom_out: float = 2.0, seed: int = 0):
        if crop < 16:
            raise ValueError(f"crop: expected >= 16 pixels, got {crop}")
        small = [tuple(i.shape[-2:]) for i in images if min(i.shape[-2:]) < crop]
        if not images or small:
            raise ValueError(f"crop: every training image needs sides >= {crop}, got {small[:1] or 'no images'}")
        if max_zoom_out < 1:
            raise ValueError(f"max_zoom_out: expected >= 1, got {max_zoom_out}")
        self.images, self.crop, self.max_zoom_out = images, crop, max_zoom_out
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def sample(self, batch_size: int) -> Tensor:
        """Float ``(batch_size, 3, crop, crop)`` in [0, 1]."""
        crops = []
        for _ in range(batch_size):
            image = self.images[int(torch.randint(len(self.images), (), generator=self.generator))]
            height, width = image.shape[-2:]
            side = min(round(self.crop * (1 + (self.max_zoom_out - 1) * self._uniform())), height, width)
            top = int(torch.randint(height - side + 1, (), generator=self.generator))
            left = int(torch.randint(width - side + 1, (), generator=self.generator))
            patch = image[None, :, top : top + side, left : left + side].float() / 255
            if side != self.crop:
                patch = F.interpolate(patch, size=(self.crop, self.crop), mode="bilinear", antialias=True,
                                      align_corners=False).clamp(0, 1)
            if self._uniform() < 0.5:
                patch = patch.flip(-1)
            crops.append(patch)
        return torch.cat(crops)

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)


SPLITS = ("train", "validation", "test")


def split_by_file(paths: list[Path], validation: float = 0.1, test: float = 0.1) -> dict[str, list[Path]]:
    """Assign each file to train / validation / test by a hash of its path (stable across machines with the
    same packages, and across additions of other files), so that no picture is seen in two splits.

    Args:
        paths: deduplicated image files (one per picture).
        validation, test: fractions in [0, 1) of files for each held-out split (their sum < 1).
    """
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise ValueError(f"validation, test: expected fractions in [0, 1) summing below 1, got {validation}, {test}")
    import hashlib

    splits: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for path in sorted(paths):
        fraction = int.from_bytes(hashlib.sha256(Path(path).as_posix().encode()).digest()[:8], "big") / 2**64
        name = "test" if fraction < test else "validation" if fraction < test + validation else "train"
        splits[name].append(Path(path))
    return splits
