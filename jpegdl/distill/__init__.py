"""Knowledge distillation: KD, TTM, WTTM, CCKD and RCO losses, and the objective ``jpegdl train`` uses."""

from jpegdl.distill.features import FeatureTap, classifier_head
from jpegdl.distill.losses import (
    correlation_congruence_loss,
    kd_loss,
    kl_from_log_probs,
    power_sum,
    renyi_entropy,
    taylor_rbf_correlation,
    transformed_teacher,
    ttm_loss,
    wttm_loss,
)
from jpegdl.distill.objective import METHODS, Distillation, DistillSettings
from jpegdl.distill.samplers import ClassUniformBatchSampler, dataset_labels
from jpegdl.distill.teacher import anchor_file, load_teacher, route, stage_of

__all__ = [
    "METHODS",
    "ClassUniformBatchSampler",
    "DistillSettings",
    "Distillation",
    "FeatureTap",
    "anchor_file",
    "classifier_head",
    "correlation_congruence_loss",
    "dataset_labels",
    "kd_loss",
    "kl_from_log_probs",
    "load_teacher",
    "power_sum",
    "renyi_entropy",
    "route",
    "stage_of",
    "taylor_rbf_correlation",
    "transformed_teacher",
    "ttm_loss",
    "wttm_loss",
]
