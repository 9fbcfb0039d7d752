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
from jpegdl.distill.objective import DISTILL_METHODS, Distillation, DistillSettings, stage_of
from jpegdl.distill.samplers import ClassUniformBatchSampler, dataset_labels

__all__ = [
    "DISTILL_METHODS",
    "ClassUniformBatchSampler",
    "DistillSettings",
    "Distillation",
    "FeatureTap",
    "classifier_head",
    "correlation_congruence_loss",
    "dataset_labels",
    "kd_loss",
    "kl_from_log_probs",
    "power_sum",
    "renyi_entropy",
    "stage_of",
    "taylor_rbf_correlation",
    "transformed_teacher",
    "ttm_loss",
    "wttm_loss",
]
