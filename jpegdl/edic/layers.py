"""EDIC's own modules: squeeze-and-excitation channel attention and the decoder-side enhancement network."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average pool -> 1x1 conv C -> C/r -> ReLU -> 1x1 conv -> sigmoid -> rescale.

    Input and output: float ``(B, C, H, W)``; each channel is multiplied by a weight in (0, 1) computed
    from the whole map, so the latents' channels can be re-weighted by their joint content.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels, reduction: expected integers >= 1, got {channels}, {reduction}")
        hidden = max(channels // reduction, 1)
        self.excite = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.excite(x.mean(dim=(2, 3), keepdim=True))


class ResidualBlock(nn.Module):
    """conv 3x3 -> ReLU -> conv 3x3, plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class EnhanceBlock(nn.Module):
    """Several residual blocks with a skip around all of them."""

    def __init__(self, channels: int, residuals: int):
        super().__init__()
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(residuals)))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Enhancement(nn.Module):
    """Decoder-side post-filter: conv 3 -> C, ``blocks`` x EnhanceBlock, conv C -> 3, plus the input image.

    Input and output: float ``(B, 3, H, W)`` images in about [0, 1]. The last convolution starts at zero,
    so an untrained network is the identity.
    """

    def __init__(self, channels: int = 32, blocks: int = 2, residuals: int = 2):
        super().__init__()
        if min(channels, blocks, residuals) < 1:
            raise ValueError(f"channels, blocks, residuals: expected >= 1, got {channels}, {blocks}, {residuals}")
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*(EnhanceBlock(channels, residuals) for _ in range(blocks)))
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, image: Tensor) -> Tensor:
        return image + self.tail(self.body(torch.relu(self.head(image))))
