"""EDIC: a learned image codec (channel attention, Gaussian-mixture entropy model, decoder-side
enhancement) on CompressAI's building blocks, with real rANS bitstreams. Needs ``pip install 'jpegdl[edic]'``
and ``pip install --no-deps 'compressai>=1.2.8,<1.3'``."""

import warnings

with warnings.catch_warnings():  # CompressAI 1.2.8 calls the deprecated torch.jit.script at import time
    warnings.simplefilter("ignore", FutureWarning)
    try:
        import compressai  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "jpegdl.edic needs CompressAI: pip install 'jpegdl[edic]' && pip install --no-deps 'compressai>=1.2.8,<1.3'"
        ) from err

from jpegdl.edic.bitstream import EdicStream, pack, unpack
from jpegdl.edic.codec import check_image, decode_image, encode_image, model_id, pad_to_stride
from jpegdl.edic.layers import ChannelAttention, Enhancement
from jpegdl.edic.mixture import mixture_likelihood, quantized_cdfs, split_parameters
from jpegdl.edic.model import ARCHITECTURES, EDIC, STRIDE, CodecConfig, build_model
from jpegdl.edic.refine import RefineSettings, refine_latents

__all__ = [
    "ARCHITECTURES",
    "EDIC",
    "STRIDE",
    "ChannelAttention",
    "CodecConfig",
    "EdicStream",
    "Enhancement",
    "RefineSettings",
    "build_model",
    "check_image",
    "decode_image",
    "encode_image",
    "mixture_likelihood",
    "model_id",
    "pack",
    "pad_to_stride",
    "quantized_cdfs",
    "refine_latents",
    "split_parameters",
    "unpack",
]
