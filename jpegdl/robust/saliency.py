"""Class-activation saliency maps (GradCAM++ and relatives) through pytorch-grad-cam."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SALIENCY_METHODS = {
    "gradcam++": "GradCAMPlusPlus",
    "gradcam": "GradCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
}


def feature_layers(model: nn.Module, images: torch.Tensor, search: nn.Module | None = None) -> list[str]:
    """Names (within ``search``, default ``model``) of the modules whose output is a feature map
    larger than 1x1, in the order a forward pass of ``model`` on ``images`` completes them.

    A container completes after its children, so the last name is the module that produces the
    network's final feature map (``layer4`` of a torchvision ResNet, ``features`` of a VGG).
    """
    search = model if search is None else search
    names = {module: name for name, module in search.named_modules() if module is not search}
    order: list[str] = []

    def record(module: nn.Module, _inputs: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] * output.shape[-2] > 1:
            order.append(names[module])

    hooks = [module.register_forward_hook(record) for module in names]
    try:
        with torch.no_grad():
            model(images[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return list(dict.fromkeys(order))


def find_target_layer(
    model: nn.Module, images: torch.Tensor, name: str | None = None, search: nn.Module | None = None
) -> tuple[str, nn.Module]:
    """The layer whose activations the CAM weighs: ``name`` if given, else the module producing
    the final feature map (the usual GradCAM choice: the last stage or block).

    Args:
        search: the sub-module whose names ``name`` refers to (default ``model`` itself), e.g.
            the network inside a model with normalisation and a JPEG layer in front.

    Raises:
        ValueError: ``name`` is not a module of ``search``, or it has no convolution.
    """
    search = model if search is None else search
    modules = dict(search.named_modules())
    if name is not None:
        if name not in modules or name == "":
            candidates = feature_layers(model, images, search)[-6:]
            raise ValueError(f"layer: {search.__class__.__name__} has no module {name!r}; its last feature layers are"
                             f" {', '.join(candidates) or 'none'}")  # fmt: skip
        return name, modules[name]
    candidates = feature_layers(model, images, search)
    if not candidates:
        raise ValueError("layer: no module of the model outputs a feature map larger than 1x1; name a layer")
    return candidates[-1], modules[candidates[-1]]


def saliency_maps(
    model: nn.Module,
    images: torch.Tensor,
    method: str = "gradcam++",
    layer: str | None = None,
    targets: torch.Tensor | None = None,
    search: nn.Module | None = None,
) -> tuple[np.ndarray, str]:
    """Saliency of each image for its target class.

    Args:
        model: classifier in eval mode taking ``images``.
        images: ``(B, C, H, W)`` float in [0, 1], on the model's device.
        method: one of ``SALIENCY_METHODS``.
        layer: module name of the target layer (``None``: chosen by ``find_target_layer``).
        targets: ``(B,)`` class indices (``None``: the predicted classes).
        search: the sub-module ``layer`` names refer to (see ``find_target_layer``).

    Returns:
        ``(maps, layer_name)`` with ``maps`` float32 ``(B, H, W)`` in [0, 1], one per image.
    """
    if method not in SALIENCY_METHODS:
        raise ValueError(f"method: expected one of {sorted(SALIENCY_METHODS)}, got {method!r}")
    if images.dim() != 4:
        raise ValueError(f"images: expected (B, C, H, W), got shape {tuple(images.shape)}")
    try:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        raise ValueError("method: pytorch-grad-cam is not installed; pip install 'jpegdl[robust]'") from None
    model.eval()
    name, target_layer = find_target_layer(model, images, layer, search)
    if targets is None:
        with torch.no_grad():
            targets = model(images).argmax(1)
    cam_class = getattr(pytorch_grad_cam, SALIENCY_METHODS[method])
    with cam_class(model=model, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0).clip(0, 1), name
