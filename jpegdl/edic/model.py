"""The EDIC codec on CompressAI's blocks, and the hyperprior baselines built from the same config.

EDIC = bmshj2018 transforms (GDN) + SE channel attention on the latents + a mean-scale hyperprior whose
hyper-decoder outputs a K-component Gaussian mixture per latent + a decoder-side enhancement network.
No autoregressive context: every latent is decoded in parallel from the hyper-latents.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.layers import GDN
from compressai.models import CompressionModel, MeanScaleHyperprior, ScaleHyperprior
from compressai.models.utils import conv, deconv
from compressai.ops import LowerBound
from torch import Tensor, nn

from jpegdl.edic.layers import ChannelAttention, Enhancement
from jpegdl.edic.mixture import LIKELIHOOD_BOUND, decode_symbols, encode_symbols, mixture_likelihood, split_parameters
from jpegdl.edic.precision import reconstruction_precision, resolve_precision

ARCHITECTURES = ("edic", "bmshj2018-hyperprior", "mbt2018-mean")
STRIDE = 64  # 16 in the analysis transform times 4 in the hyper-analysis
MAX_RATES = 16


@dataclass(frozen=True)
class CodecConfig:
    """Everything needed to rebuild a codec's modules (saved as JSON beside the weights)."""

    architecture: str = "edic"
    channels: int = 64  # N: transform and hyper-latent channels
    latent_channels: int = 96  # M: channels of the coded latent y
    components: int = 3  # K: Gaussian mixture components (1 = single Gaussian)
    attention: bool = True
    enhancement: bool = True
    enhance_channels: int = 32
    enhance_blocks: int = 2
    enhance_residuals: int = 2
    # Variable rate: one codec for several rate points. Empty: a single-rate codec. Otherwise the
    # rate-distortion weights it was trained for, lowest rate first; rate index r scales the latents by a
    # learned per-channel gain before rounding and by a learned inverse gain after (Cui et al. 2021).
    lmbdas: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture: expected one of {ARCHITECTURES}, got {self.architecture!r}")
        if not isinstance(self.lmbdas, (tuple, list)) or len(self.lmbdas) > MAX_RATES or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in self.lmbdas
        ):
            raise ValueError(f"lmbdas: expected up to {MAX_RATES} finite numbers > 0, got {self.lmbdas!r}")
        object.__setattr__(self, "lmbdas", tuple(float(v) for v in self.lmbdas))
        if list(self.lmbdas) != sorted(set(self.lmbdas)):
            raise ValueError(f"lmbdas: expected distinct values in increasing order, got {self.lmbdas!r}")
        if self.lmbdas and self.architecture != "edic":
            raise ValueError("lmbdas: only the 'edic' architecture has variable rate (its ablations include the"
                             " mean-scale hyperprior: components=1, attention=False, enhancement=False)")
        sizes = {k: getattr(self, k) for k in ("channels", "latent_channels", "components", "enhance_channels",
                                              "enhance_blocks", "enhance_residuals")}
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                raise ValueError(f"{name}: expected an integer 1..4096, got {value!r}")

    @property
    def rates(self) -> int:
        """Number of rate points (1 for a single-rate codec)."""
        return max(len(self.lmbdas), 1)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["lmbdas"] = list(self.lmbdas)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CodecConfig:
        if not isinstance(data, dict):
            raise ValueError(f"config: expected a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}")
        if "lmbdas" in data and isinstance(data["lmbdas"], list):
            data = {**data, "lmbdas": tuple(data["lmbdas"])}
        return cls(**data)


def _analysis(channels: int, latent_channels: int) -> nn.Sequential:
    return nn.Sequential(
        conv(3, channels), GDN(channels), conv(channels, channels), GDN(channels),
        conv(channels, channels), GDN(channels), conv(channels, latent_channels),
    )


def _synthesis(channels: int, latent_channels: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(latent_channels, channels), GDN(channels, inverse=True), deconv(channels, channels),
        GDN(channels, inverse=True), deconv(channels, channels), GDN(channels, inverse=True), deconv(channels, 3),
    )


class EDIC(CompressionModel):
    """Learned image codec with channel attention, a Gaussian-mixture prior and decoder-side enhancement.

    ``forward(x)`` (training view): x float ``(B, 3, H, W)`` in [0, 1], H and W multiples of 64 ->
    ``{"x_hat", "likelihoods": {"y", "z"}}``. In training the rate is taken of latents with uniform
    noise, while the synthesis sees them rounded (straight-through gradient), as the decoder will:
    with noise there too, a codec can hide information in latents smaller than 1/2 that rounding
    then erases (Minnen and Singh 2020's mixed quantization). In eval both are rounded.
    ``compress(x)`` / ``decompress(strings, shape)`` (bitstream view): real rANS byte strings, one per
    image and latent; decoding in float32 is bit-exact with the eval-mode forward pass on the same platform.
    """

    def __init__(self, config: CodecConfig):
        super().__init__()
        if config.architecture != "edic":
            raise ValueError(f"config.architecture: EDIC needs 'edic', got {config.architecture!r}")
        n, m, k = config.channels, config.latent_channels, config.components
        self.config = config
        self.components = k
        self.g_a = _analysis(n, m)
        self.g_s = _synthesis(n, m)
        self.attention = ChannelAttention(m) if config.attention else nn.Identity()
        self.h_a = nn.Sequential(
            conv(m, n, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
            conv(n, n), nn.LeakyReLU(inplace=True), conv(n, n),
        )
        self.h_s = nn.Sequential(
            deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(m * 3 // 2, 3 * k * m, stride=1, kernel_size=3),
        )
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.likelihood_bound = LowerBound(LIKELIHOOD_BOUND)
        self.enhance = (
            Enhancement(config.enhance_channels, config.enhance_blocks, config.enhance_residuals)
            if config.enhancement
            else nn.Identity()
        )
        if config.lmbdas:
            # MSE-optimal step sizes scale about as 1/sqrt(lambda): start the gains there (top rate 1).
            start = 0.5 * torch.log(torch.tensor(config.lmbdas) / config.lmbdas[-1])
            self.log_gain = nn.Parameter(start[:, None].repeat(1, m))
            self.log_inverse_gain = nn.Parameter(-start[:, None].repeat(1, m))

    def _gains(self, rate: Tensor | int | None, batch: int, device: torch.device) -> tuple[Tensor, Tensor] | None:
        """Per-sample gain and inverse gain ``(B, M, 1, 1)``, or None for a single-rate codec."""
        if not self.config.lmbdas:
            if rate not in (None, 0):
                raise ValueError(f"rate: a single-rate codec has only rate 0, got {rate!r}")
            return None
        rates = self.config.rates
        if rate is None:
            raise ValueError(f"rate: a variable-rate codec needs a rate index 0..{rates - 1}")
        index = torch.as_tensor(rate, device=device).long().reshape(-1)
        if index.numel() == 1:
            index = index.expand(batch)
        if index.numel() != batch or bool(((index < 0) | (index >= rates)).any()):
            raise ValueError(f"rate: expected {batch} indexes in 0..{rates - 1}, got {rate!r}")
        return self.log_gain.exp()[index, :, None, None], self.log_inverse_gain.exp()[index, :, None, None]

    def analysis(self, x: Tensor, gains: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Image ``(B, 3, H, W)`` -> latents y ``(B, M, H/16, W/16)`` (attention-weighted, times the rate's gain)."""
        y = self.attention(self.g_a(x))
        return y if gains is None else y * gains[0]

    def synthesis(self, y_hat: Tensor, gains: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Quantized latents (times the rate's inverse gain) -> enhanced image ``(B, 3, 16h, 16w)`` (not clamped)."""
        return self.enhance(self.g_s(y_hat if gains is None else y_hat * gains[1]))

    def mixture(self, z_hat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Hyper-latents -> means, scales, weights, each ``(B, K, M, h, w)``."""
        return split_parameters(self.h_s(z_hat), self.components)

    def forward(self, x: Tensor, rate: Tensor | int | None = None) -> dict:
        """``rate``: for a variable-rate codec, the rate index of each sample (int64 ``(B,)``) or one for all."""
        gains = self._gains(rate, x.shape[0], x.device)
        y = self.analysis(x, gains)
        z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(y))
        means, scales, weights = self.mixture(z_hat)
        rounded = torch.round(y)
        if self.training:
            y_rate = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_hat = y + (rounded - y).detach()
        else:
            y_rate = y_hat = rounded
        y_likelihoods = self.likelihood_bound(mixture_likelihood(y_rate, means, scales, weights))
        return {"x_hat": self.synthesis(y_hat, gains), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor, rate: int | None = None) -> dict:
        y = self.analysis(x, self._gains(rate, x.shape[0], x.device))
        return self.compress_latents(y, self.h_a(y))

    @torch.no_grad()
    def compress_latents(self, y: Tensor, z: Tensor) -> dict:
        """Entropy code given latents ``(B, M, h, w)`` (after the rate's gain) and hyper-latents
        ``(B, N, h/4, w/4)``, both float (rounded here): the second half of :meth:`compress`, for latents
        found by other means (:mod:`jpegdl.edic.refine`)."""
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        means, scales, weights = self.mixture(z_hat)
        y_strings = [
            encode_symbols(torch.round(y[i : i + 1]), means[i : i + 1], scales[i : i + 1], weights[i : i + 1])
            for i in range(y.shape[0])
        ]
        return {"strings": [y_strings, z_strings], "shape": z.shape[-2:]}

    @torch.no_grad()
    def decompress(self, strings: list, shape, rate: int | None = None, precision: str = "auto") -> dict:
        """``precision``: of the synthesis and enhancement (:mod:`jpegdl.edic.precision`); the latents and
        their tables are float32 whatever it is."""
        if len(strings) != 2:
            raise ValueError(f"strings: EDIC expects 2 lists (y, z), got {len(strings)}")
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        gains = self._gains(rate, len(strings[1]), z_hat.device)
        means, scales, weights = self.mixture(z_hat)
        y_hat = torch.cat([
            decode_symbols(data, means[i : i + 1], scales[i : i + 1], weights[i : i + 1])
            for i, data in enumerate(strings[0])
        ]).to(z_hat.device)
        # Channels-last runs the transposed convolutions and the enhancement ~1.4x faster on CPU; only the
        # reconstruction uses it, so the entropy tables (h_s) stay those the encoder built.
        with reconstruction_precision(resolve_precision(precision, z_hat.device), z_hat.device):
            x_hat = self.synthesis(y_hat.contiguous(memory_format=torch.channels_last), gains)
        return {"x_hat": x_hat.float().contiguous().clamp_(0, 1), "y_hat": y_hat}


def build_model(config: CodecConfig) -> CompressionModel:
    """A fresh (untrained) codec for ``config``; baselines are CompressAI's classes at the same N, M."""
    if config.architecture == "edic":
        return EDIC(config)
    model = {"bmshj2018-hyperprior": ScaleHyperprior, "mbt2018-mean": MeanScaleHyperprior}[config.architecture]
    return model(config.channels, config.latent_channels)
