"""J4D: JPEG tables learned for frozen DNNs (task loss + lambda x rate of real files), and real encoders."""

from jpegdl.j4d.compress import compress_folder, compress_folder_guided
from jpegdl.j4d.encoders import ENCODERS, encode_image, probabilistic_coefficients
from jpegdl.j4d.guided import guided_encode, guided_files, guided_levels, quality_ladder, sensitivity_ladder
from jpegdl.j4d.learn import METHODS, J4DConfig, LearnedTables, learn_tables, load_hardness
from jpegdl.j4d.objective import CachedSet, cache_batches, evaluate

__all__ = [
    "ENCODERS",
    "METHODS",
    "CachedSet",
    "J4DConfig",
    "LearnedTables",
    "cache_batches",
    "compress_folder",
    "compress_folder_guided",
    "encode_image",
    "evaluate",
    "guided_encode",
    "guided_files",
    "guided_levels",
    "learn_tables",
    "load_hardness",
    "probabilistic_coefficients",
    "quality_ladder",
    "sensitivity_ladder",
]
