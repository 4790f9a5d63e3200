"""The pure functional core of losskit (the ``torch.nn.functional`` of the zoo).

One module per family; the ``nn.Module`` classes in :mod:`losskit.zoo` hold the options, validate inputs
and call these functions. Every function takes tensors plus keyword options and returns a tensor::

    from losskit import functional as LF
    LF.dice_loss(logits, labels, mode="multiclass")
    LF.generalized_box_iou_loss(pred_boxes, target_boxes)
"""

from ._checks import label_checks, set_label_checks
from ._numerics import validate_smoothing_params
from .asymmetric import asymmetric_loss, asymmetric_multilabel_loss, asymmetric_single_label_loss
from .augmentation import focal_cosine_loss, jsd_loss
from .bce_variants import balanced_bce_loss, soft_bce_loss, soft_f1_loss
from .boundary import boundary_loss, hausdorff_dt_loss, log_hausdorff_dt_loss
from .boxes import box_iou_loss, complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss
from .boxes_extra import eiou_loss, siou_loss
from .classification import logit_adjusted_cross_entropy, poly1_cross_entropy, soft_target_cross_entropy
from .cross_entropy import bce_loss, bce_with_logits_loss, cross_entropy_loss, mask_loss, nll_loss
from .deformation import bending_energy_loss, diffusion_loss, jacobian_determinant, jacobian_folding_loss
from .dense_detection import centerness_loss, centerness_targets, fcos_loss, quality_focal_loss, varifocal_loss
from .detection_extra import (
    balanced_l1_loss,
    distribution_focal_loss,
    gaussian_focal_loss,
    ghm_c_loss,
    ghm_r_loss,
)
from .distance import distance_transform
from .distillation import feature_distillation_loss, kd_loss, kl_div_loss
from .focal import sigmoid_focal_loss, softmax_focal_loss
from .generative import adversarial_loss, gaussian_kl, sae_loss, vae_loss, vq_loss
from .hausdorff_er import hausdorff_er_loss
from .image_quality import ms_ssim_loss, psnr_loss, ssim_loss
from .image_registration import dice_smooth_loss, lncc_dvf_loss
from .linear_ce import linear_cross_entropy
from .linear_distill import linear_jsd_loss, linear_kd_loss
from .lncc import global_ncc_loss, lncc_loss
from .long_tail import aucm_loss, class_balanced_loss, ldam_loss
from .lovasz import lovasz_loss
from .mcc import mcc_loss
from .metric import (
    arcface_loss,
    contrastive_loss,
    info_nce_loss,
    multi_similarity_loss,
    supcon_loss,
    triplet_loss,
)
from .metric_pairs import circle_loss, lifted_structure_loss
from .metric_proxies import (
    center_loss,
    cosface_loss,
    proxy_anchor_loss,
    proxy_nca_loss,
    soft_triple_loss,
    sub_center_arcface_loss,
)
from .ms_ssim_l1 import ms_ssim_l1_loss
from .multilabel import distribution_balanced_loss, two_way_loss, zlpr_loss
from .mutual_information import mutual_information_loss
from .nacl import nacl_loss
from .nmi import nmi_loss
from .noisy_labels import bi_tempered_loss, gce_loss, ohem_cross_entropy_loss, sce_loss
from .ordinal import coral_loss, corn_loss
from .region import dice_loss, focal_tversky_loss, generalized_dice_loss, jaccard_loss, tversky_loss
from .region_focal import generalized_dice_focal_loss
from .regression import (
    barron_loss,
    charbonnier_loss,
    gaussian_nll_loss,
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mse_loss,
    poisson_nll_loss,
    quantile_loss,
    smooth_l1_loss,
    weighted_mse_loss,
)
from .robust import cauchy_loss, geman_mcclure_loss, total_variation_loss, welsch_loss, wing_loss
from .seesaw import seesaw_loss
from .segmentation_combined import combined_dice_bce_loss, combined_segmentation_loss, dice_ce_loss, dice_focal_loss
from .self_supervised import barlow_twins_loss, dcl_loss, negative_cosine_loss, vicreg_loss
from .skeleton import skeleton_recall_loss, skeletonize
from .smoothness import inverse_depth_smoothness_loss
from .spectral import spectral_loss
from .topology import cldice_loss, dice_cldice_loss
from .unified_focal import unified_focal_loss
from .vision_language import dino_loss, siglip_loss
from .wasserstein_dice import generalized_wasserstein_dice_loss
from .wrappers import deep_supervision_loss, masked_loss, multi_scale_loss

__all__ = [
    "label_checks",
    "set_label_checks",
    "validate_smoothing_params",
    # classification and focal
    "cross_entropy_loss",
    "nll_loss",
    "bce_loss",
    "bce_with_logits_loss",
    "mask_loss",
    "soft_target_cross_entropy",
    "poly1_cross_entropy",
    "logit_adjusted_cross_entropy",
    "gce_loss",
    "sce_loss",
    "bi_tempered_loss",
    "ohem_cross_entropy_loss",
    "class_balanced_loss",
    "ldam_loss",
    "aucm_loss",
    "asymmetric_loss",
    "asymmetric_multilabel_loss",
    "asymmetric_single_label_loss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    # segmentation
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "lovasz_loss",
    "mcc_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "generalized_dice_focal_loss",
    "generalized_wasserstein_dice_loss",
    "unified_focal_loss",
    "nacl_loss",
    "combined_segmentation_loss",
    "combined_dice_bce_loss",
    "cldice_loss",
    "boundary_loss",
    "hausdorff_dt_loss",
    "log_hausdorff_dt_loss",
    "distance_transform",
    "dice_cldice_loss",
    "skeleton_recall_loss",
    "skeletonize",
    "hausdorff_er_loss",
    "soft_bce_loss",
    "balanced_bce_loss",
    "soft_f1_loss",
    # detection
    "box_iou_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "centerness_targets",
    "centerness_loss",
    "varifocal_loss",
    "quality_focal_loss",
    "eiou_loss",
    "siou_loss",
    "balanced_l1_loss",
    "distribution_focal_loss",
    "gaussian_focal_loss",
    "ghm_c_loss",
    "ghm_r_loss",
    "fcos_loss",
    # regression
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "gaussian_nll_loss",
    "poisson_nll_loss",
    "weighted_mse_loss",
    "log_cosh_loss",
    "charbonnier_loss",
    "quantile_loss",
    "barron_loss",
    "cauchy_loss",
    "geman_mcclure_loss",
    "welsch_loss",
    "wing_loss",
    "total_variation_loss",
    "inverse_depth_smoothness_loss",
    "spectral_loss",
    # wrappers of any loss
    "masked_loss",
    "multi_scale_loss",
    "deep_supervision_loss",
    # image quality
    "ssim_loss",
    "ms_ssim_loss",
    "psnr_loss",
    "ms_ssim_l1_loss",
    # registration
    "lncc_loss",
    "global_ncc_loss",
    "mutual_information_loss",
    "nmi_loss",
    "lncc_dvf_loss",
    "dice_smooth_loss",
    "bending_energy_loss",
    "diffusion_loss",
    "jacobian_determinant",
    "jacobian_folding_loss",
    # generative
    "gaussian_kl",
    "vae_loss",
    "sae_loss",
    "vq_loss",
    "adversarial_loss",
    # metric learning
    "contrastive_loss",
    "triplet_loss",
    "info_nce_loss",
    "supcon_loss",
    "multi_similarity_loss",
    "arcface_loss",
    "circle_loss",
    "lifted_structure_loss",
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "cosface_loss",
    "sub_center_arcface_loss",
    "center_loss",
    "soft_triple_loss",
    # distillation
    "kl_div_loss",
    "kd_loss",
    "linear_cross_entropy",
    "linear_kd_loss",
    "linear_jsd_loss",
    "feature_distillation_loss",
    # self-supervised
    "barlow_twins_loss",
    "vicreg_loss",
    "negative_cosine_loss",
    "dcl_loss",
    "siglip_loss",
    "dino_loss",
    # augmentation, multi-label, ordinal, seesaw (issue 12)
    "jsd_loss",
    "focal_cosine_loss",
    "zlpr_loss",
    "two_way_loss",
    "distribution_balanced_loss",
    "coral_loss",
    "corn_loss",
    "seesaw_loss",
]
