import pytest
import torch

from jpegdl.models import available_models, create


@pytest.mark.parametrize("name", available_models())
def test_zoo_models_classify_small_images(name):
    for channels, size in ((1, 28), (3, 32)):
        model = create(name, 10, channels).eval()
        assert model(torch.rand(2, channels, size, size)).shape == (2, 10)


def test_torchvision_names_with_one_channel():
    assert create("resnet18", 7, 1).eval()(torch.rand(1, 1, 32, 32)).shape == (1, 7)


def test_unknown_model_lists_the_zoo():
    with pytest.raises(ValueError, match="resnet20"):
        create("resnet9000", 10)
    with pytest.raises(ValueError, match="num_classes"):
        create("resnet8", 1)
    with pytest.raises(ValueError, match="in_chans"):
        create("resnet8", 10, 4)
