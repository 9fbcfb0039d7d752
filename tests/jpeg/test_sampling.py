import torch

from jpegdl.jpeg.sampling import chroma_size, downsample_420, upsample_420


def test_downsample_bias_alternates_by_column():
    # 2x2 sums of 2 (a half after /4) round down at even output columns and up at odd ones.
    plane = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]).unsqueeze(0)
    out = downsample_420(plane)
    assert out.shape == (1, 8, 8)
    assert out[0, 0, :2].tolist() == [0.0, 1.0]


def test_downsample_pads_columns_before_and_rows_after_averaging():
    plane = torch.arange(3 * 17, dtype=torch.float32).reshape(1, 3, 17)
    out = downsample_420(plane)
    assert out.shape == (1, 8, 16)
    assert torch.equal(out[0, 2:], out[0, 1:2].expand(6, 16))  # rows copied after averaging
    # Column 8 averages the real last column with its copy; padded columns repeat that average
    # with their own bias, so they may differ from it by one.
    assert (out[0, :, 9:] - out[0, :, 8:9]).abs().max() <= 1


def test_upsample_is_the_triangle_filter_in_the_interior():
    plane = torch.rand(1, 6, 7) * 255
    out = upsample_420(plane, exact=False)
    expected = (9 * plane[0, 2, 3] + 3 * plane[0, 1, 3] + 3 * plane[0, 2, 2] + plane[0, 1, 2]) / 16
    assert torch.allclose(out[0, 4, 6], expected)


def test_upsample_preserves_constants_and_shapes():
    plane = torch.full((2, 5, 3), 77.0)
    for exact in (True, False):
        assert torch.equal(upsample_420(plane, exact), torch.full((2, 10, 6), 77.0))
    assert chroma_size(5, 7, "4:2:0") == (3, 4) and chroma_size(5, 7, "4:4:4") == (5, 7)
