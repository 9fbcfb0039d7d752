import numpy as np
import torch

from jpegdl.jpeg.color import rgb_to_ycbcr, rgb_to_ycbcr_float, ycbcr_to_rgb, ycbcr_to_rgb_float


def numpy_libjpeg_rgb_to_ycc(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + 8388608 + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + 8388608 + 32767) >> 16
    return np.stack([y, cb, cr], -1)


def test_exact_conversion_matches_libjpeg_arithmetic_on_all_extremes():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5000, 3))
    rgb[:8] = [[a, b, c] for a in (0, 255) for b in (0, 255) for c in (0, 255)]
    tensor = torch.from_numpy(rgb.T.reshape(1, 3, 1, -1).astype(np.float32))
    ours = rgb_to_ycbcr(tensor)[0, :, 0].T.numpy()
    assert np.array_equal(ours, numpy_libjpeg_rgb_to_ycc(rgb))
    assert ours.min() >= 0 and ours.max() <= 255


def test_exact_inverse_is_clamped_and_integer():
    ycc = torch.randint(0, 256, (1, 3, 4, 50)).float()
    rgb = ycbcr_to_rgb(ycc)
    assert torch.equal(rgb, rgb.round()) and rgb.min() >= 0 and rgb.max() <= 255
    assert (rgb - ycbcr_to_rgb_float(ycc).clamp(0, 255)).abs().max() <= 1


def test_float_round_trip_and_exact_gradient_is_the_float_one():
    x = (torch.rand(2, 3, 5, 5) * 255).round().requires_grad_()
    assert torch.allclose(ycbcr_to_rgb_float(rgb_to_ycbcr_float(x)), x, atol=1e-3)
    weights = torch.randn(2, 3, 5, 5)
    (rgb_to_ycbcr(x) * weights).sum().backward()
    exact_grad = x.grad.clone()
    x.grad = None
    (rgb_to_ycbcr_float(x) * weights).sum().backward()
    assert torch.allclose(exact_grad, x.grad)
