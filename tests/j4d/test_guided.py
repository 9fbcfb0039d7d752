import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from jpegdl.files import decode_pixels
from jpegdl.j4d.guided import guided_encode, guided_files, guided_levels, quality_ladder, sensitivity_ladder
from jpegdl.jpeg.tables import QuantTables


class Brightness(nn.Module):
    """Logits from mean brightness of a few regions: sensitive to coarse steps, cheap and deterministic."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True), 2).flatten(1)
        return 20 * torch.cat([pooled, 1 - pooled], 1)


class Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 3) + x.sum() * 0


def _images(count: int, channels: int = 1, size: tuple[int, int] = (20, 27), seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(count, channels, 4, 4, generator=generator)
    texture = torch.rand(count, channels, *size, generator=generator) * 0.3
    images = nn.functional.interpolate(smooth, size=size, mode="bilinear", align_corners=False) * 0.7 + texture
    return (images * 255).round() / 255


@pytest.mark.parametrize(("channels", "subsampling"), [(1, "4:4:4"), (3, "4:2:0"), (3, "4:4:4")])
def test_chosen_level_holds_for_the_real_decoded_file(channels, subsampling):
    images = _images(6, channels)
    model, ladder, max_kl = Brightness(), quality_ladder((95, 70, 40, 20, 10, 5, 2)), 0.02
    arrays = [(image.permute(1, 2, 0).squeeze(-1).numpy() * 255).round().astype(np.uint8) for image in images]
    files, levels = guided_encode(model, arrays, ladder, max_kl, subsampling)
    assert levels.shape == (6,) and levels.dtype == torch.int64
    with torch.no_grad():
        reference = model(images).log_softmax(1)
        for file, level, ref in zip(files, levels, reference, strict=True):
            pixels = np.array(decode_pixels(file))  # Pillow: libjpeg-turbo
            decoded = torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1)[None].float() / 255
            divergence = (ref.exp() * (ref - model(decoded).log_softmax(1)[0])).sum()
            assert int(level) == 0 or divergence <= max_kl + 1e-9
    assert int(levels.max()) > 0  # the test tests something: some image left the finest level


def test_ignored_input_gets_the_coarsest_tables_and_a_strict_threshold_the_finest_tested():
    images = _images(5)
    ladder = quality_ladder((90, 50, 10))
    assert guided_levels(Constant(), images, ladder, 0.0).tolist() == [2] * 5
    levels = guided_levels(Brightness(), images, ladder, [0.0, 1e9])
    assert levels.shape == (2, 5)
    assert levels[1].tolist() == [2] * 5


@settings(max_examples=15, deadline=None)
@given(thresholds=st.lists(st.floats(0, 5), min_size=2, max_size=4), seed=st.integers(0, 100))
def test_larger_thresholds_never_choose_finer_tables(thresholds, seed):
    thresholds = sorted(thresholds)
    levels = guided_levels(Brightness(), _images(4, seed=seed), quality_ladder((90, 60, 30, 15, 8, 3)), thresholds)
    assert (levels[1:] >= levels[:-1]).all()
    assert ((levels >= 0) & (levels < 6)).all()


def test_batches_do_not_change_the_choice():
    images, ladder = _images(7), quality_ladder((90, 40, 10, 3))
    whole = guided_levels(Brightness(), images, ladder, [0.01, 0.1])
    assert torch.equal(whole, guided_levels(Brightness(), images, ladder, [0.01, 0.1], batch_size=3))


def test_sensitivity_ladder_runs_fine_to_coarse_without_repeats():
    sensitivity = (torch.rand(8, 8, generator=torch.Generator().manual_seed(1)) + 0.1, torch.ones(8, 8))
    ladder = sensitivity_ladder(sensitivity, levels=30, finest=1, coarsest=300)
    assert 2 <= len(ladder) <= 30
    for finer, coarser in itertools.pairwise(ladder):
        assert (coarser.luma >= finer.luma).all() and (coarser.chroma >= finer.chroma).all()
        assert not (torch.equal(coarser.luma, finer.luma) and torch.equal(coarser.chroma, finer.chroma))
    assert int(ladder[0].luma.min()) == 1 and int(ladder[-1].luma.max()) == 255


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: guided_levels(Brightness(), _images(2), quality_ladder((50,)), -0.1), "max_kl"),
        (lambda: guided_levels(Brightness(), _images(2), quality_ladder((50,)), float("nan")), "max_kl"),
        (lambda: guided_levels(Brightness(), _images(2), [], 0.1), "ladder"),
        (lambda: guided_levels(Brightness(), _images(2) * 2, quality_ladder((50,)), 0.1), r"\[0, 1\]"),
        (lambda: guided_levels(Brightness(), _images(2), quality_ladder((50,)), 0.1, batch_size=0), "batch_size"),
        (lambda: quality_ladder((0, 50)), "qualities"),
        (lambda: sensitivity_ladder((torch.ones(8, 8), torch.ones(8, 8)), coarsest=0.5), "finest"),
        (lambda: guided_files([np.zeros((8, 8), np.uint8)], quality_ladder((50,)), torch.tensor([1])), "levels"),
        (lambda: guided_encode(Brightness(), [np.zeros((8, 8), np.uint8), np.zeros((9, 8), np.uint8)],
                               quality_ladder((50,)), 0.1), "one size"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_quality_ladder_holds_ijg_tables():
    assert torch.equal(quality_ladder((75,))[0].luma, QuantTables.from_quality(75).luma)
