"""One registry for every architecture: ``create(name, num_classes, in_chans)``.

Names: the small-image zoo of the JPEG-DL / distillation papers (below), any torchvision
classification model (``torchvision.models.list_models()``), and any timm model when timm is
installed (``timm:NAME`` forces timm). Weights are never downloaded: models start untrained.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from jpegdl.models.cifar_resnet import cifar_resnet
from jpegdl.models.small_cnn import SmallCNN
from jpegdl.models.vgg import VGG
from jpegdl.models.wide_resnet import WideResNet


def _torchvision_small(name: str) -> Callable[[int, int], nn.Module]:
    """torchvision MobileNetV2 / ShuffleNetV2 with a stride-1 stem for 28-32 px images."""

    def build(num_classes: int, in_chans: int) -> nn.Module:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        stem = model.features[0][0] if name == "mobilenet_v2" else model.conv1[0]
        replacement = nn.Conv2d(in_chans, stem.out_channels, 3, 1, 1, bias=False)
        if name == "mobilenet_v2":
            model.features[0][0] = replacement
        else:
            model.conv1[0] = replacement
            model.maxpool = nn.Identity()
        return model

    return build


ZOO: dict[str, Callable[[int, int], nn.Module]] = {
    **{f"resnet{d}": cifar_resnet(d) for d in (8, 14, 20, 32, 44, 56, 110)},
    "resnet8x4": cifar_resnet(8, 4),
    "resnet32x4": cifar_resnet(32, 4),
    **{f"vgg{d}": partial(VGG, d) for d in (8, 11, 13)},
    "wrn_16_2": lambda n, c: WideResNet(16, 2, n, c),
    "wrn_40_2": lambda n, c: WideResNet(40, 2, n, c),
    "MobileNetV2": _torchvision_small("mobilenet_v2"),
    "ShuffleNetV2": _torchvision_small("shufflenet_v2_x1_0"),
    "small_cnn": SmallCNN,
}


def available_models() -> list[str]:
    """The zoo's names (torchvision and timm names are accepted too)."""
    return sorted(ZOO)


def create(name: str, num_classes: int, in_chans: int = 3) -> nn.Module:
    """Build an untrained classifier.

    Raises:
        ValueError: unknown name (the message lists the zoo), or bad class/channel counts.
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes: expected an integer >= 2, got {num_classes!r}")
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans: expected 1 or 3, got {in_chans!r}")
    if name in ZOO:
        return ZOO[name](num_classes, in_chans)
    if not name.startswith("timm:"):
        import torchvision

        if name in torchvision.models.list_models(torchvision.models):
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
            return _adapt_input_channels(model, in_chans) if in_chans != 3 else model
    try:
        import timm
    except ImportError:
        timm = None
    timm_name = name.removeprefix("timm:")
    if timm is not None and timm.is_model(timm_name):
        return timm.create_model(timm_name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    raise ValueError(
        f"model: unknown name {name!r}; the zoo has {', '.join(available_models())};"
        " torchvision names (e.g. resnet18) and timm names (with timm installed) work too"
    )


def _adapt_input_channels(model: nn.Module, in_chans: int) -> nn.Module:
    """Replace the first convolution of a torchvision model so it takes ``in_chans`` channels."""
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                setattr(
                    parent,
                    child_name,
                    nn.Conv2d(
                        in_chans,
                        child.out_channels,
                        child.kernel_size,
                        child.stride,
                        child.padding,
                        bias=child.bias is not None,
                    ),
                )
                return model
    raise ValueError("model: found no convolution to adapt to the input channels")
