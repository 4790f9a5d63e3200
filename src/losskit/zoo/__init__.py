"""The built-in loss zoo, by task. Importing this package registers every built-in (and does nothing else)."""

from . import (  # noqa: F401  (registration)
    bce_variants,
    classification,
    composition,
    deformation,
    detection,
    distillation,
    focal,
    generative,
    image_quality,
    image_registration,
    metric_learning,
    region_focal,
    registration_combined,
    regression,
    robust,
    segmentation,
    segmentation_combined,
    smoothness,
    topology,
)
