"""Quantization tables: built (IJG, Annex K, flat), derived from data (LSQ) or a model (sensitivity), trained."""

from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.lsq import lsq_tables
from jpegdl.tables.sensitivity import (
    frequency_sensitivity,
    lambda_matched_tables,
    scaled_tables,
    sensitivity_tables,
)
from jpegdl.tables.trainable import TrainableTables, alpha_from_hardness

__all__ = [
    "QuantTables",
    "TrainableTables",
    "alpha_from_hardness",
    "frequency_sensitivity",
    "lambda_matched_tables",
    "lsq_tables",
    "scaled_tables",
    "sensitivity_tables",
]
