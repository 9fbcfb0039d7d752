"""J4D: JPEG tables learned for frozen DNNs (task loss + lambda x analytic rate), and real encoders."""

from jpegdl.j4d.compress import compress_folder
from jpegdl.j4d.encoders import ENCODERS, encode_image, probabilistic_coefficients
from jpegdl.j4d.learn import LearnedTables, learn_tables, load_hardness
from jpegdl.j4d.params import LearnableTables

__all__ = [
    "ENCODERS",
    "LearnableTables",
    "LearnedTables",
    "compress_folder",
    "encode_image",
    "learn_tables",
    "load_hardness",
    "probabilistic_coefficients",
]
