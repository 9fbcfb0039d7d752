"""Model zoo and registry."""

from jpegdl.models.registry import ZOO, available_models, create

__all__ = ["ZOO", "available_models", "create"]
