"""Robustness and explanations: white-box attacks through the JPEG layer, and saliency maps."""

from jpegdl.robust.attacks import ATTACKS, BACKENDS, AttackSettings, check_epsilon, craft, fgsm, parse_epsilons, pgd
from jpegdl.robust.robustness import robust_accuracy
from jpegdl.robust.saliency import SALIENCY_METHODS, find_target_layer, saliency_maps
from jpegdl.robust.surface import GRADIENTS, attack_surface, layer_mode

__all__ = [
    "ATTACKS",
    "BACKENDS",
    "GRADIENTS",
    "SALIENCY_METHODS",
    "AttackSettings",
    "attack_surface",
    "check_epsilon",
    "craft",
    "fgsm",
    "find_target_layer",
    "layer_mode",
    "parse_epsilons",
    "pgd",
    "robust_accuracy",
    "saliency_maps",
]
