"""The ``Args:`` sections of the zoo's docstrings that are shared or long, and :func:`document_args`, which writes
them into a class docstring.

``losskit info`` and :func:`losskit.describe_loss` read each parameter's description from the Google-style
``Args:`` section of the class docstring (:func:`losskit.discovery.parse_arg_docs`). An option shared by many
losses (a class ``weight``, ``reduction`` over class-index targets, ``num_classes``) is described once here, and
the longer per-loss texts live here too so that the zoo modules stay under 400 lines.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["BCE_ARGS", "CLASS_ARGS", "LOGIT_ADJUSTED_ARGS", "POLY_ARGS", "FCOS_ARGS", "QUALITY_ARGS", "document_args"]

_Cls = TypeVar("_Cls", bound=type)


def document_args(*tables: Mapping[str, str], **specific: str) -> Callable[[_Cls], _Cls]:
    """Append an ``Args:`` section to the class docstring, one entry per ``__init__`` parameter in signature
    order. A parameter's text comes from ``specific``, else from the last of ``tables`` that has it; one with
    neither is a KeyError at import time, so no option goes undocumented."""

    def decorate(cls: _Cls) -> _Cls:
        lines = ["", "", "    Args:"]
        for name in inspect.signature(cls.__init__).parameters:  # type: ignore[misc]
            if name == "self":
                continue
            found = [t[name] for t in (*tables, specific) if name in t]
            if not found:
                raise KeyError(f"{cls.__name__}: no Args text for parameter {name!r}")
            # one line per entry: wrapping with textwrap at import cost ~10 ms of every `import losskit`
            lines.append(f"        {name}: {found[-1]}")
        cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n".join(lines) + "\n"
        return cls

    return decorate


_NUM_CLASSES = (
    "expected number of classes C, checked against the input's dim 1 (a ``LossInputError`` on a mismatch). "
    "None (default): taken from the input."
)

#: Cross-entropy-like losses over class-index (or class-probability) targets: cross_entropy, nll, poly, ...
CLASS_ARGS: dict[str, str] = {
    "weight": (
        "(C,) per-class weight (tensor or sequence, finite and >= 0), a buffer: each target's loss is multiplied "
        'by the weight of its class and "mean" divides by the summed weights of the valid targets (torch\'s '
        "weighted mean). None (default): every class weighs 1."
    ),
    "ignore_index": (
        'target class index that counts nowhere (default -100, torch\'s): its entries are 0 in "none" and left '
        "out of the mean's count. Only for class-index targets."
    ),
    "reduction": (
        '"mean" (default): the (weighted) mean over the valid targets, 0 when there are none; "sum": the sum; '
        '"none": the per-target losses, shape (N, *spatial), ignored entries 0.'
    ),
    "label_smoothing": (
        "in [0, 1] (default 0.0: none): the one-hot target becomes ``(1 - ls) y + ls / C`` (Szegedy et al. 2016)."
    ),
    "num_classes": _NUM_CLASSES,
}

BCE_ARGS: dict[str, str] = {  # bce, bce_with_logits
    "weight": (
        "elementwise weight multiplying each element's loss, a tensor broadcastable to the input (a buffer, "
        "torch's ``weight``; not a per-class weight). None (default): unweighted."
    ),
    "reduction": '"mean" (default): the mean over all elements; "sum": the sum; "none": the input\'s shape.',
    "pos_weight": (
        "weight ``pw`` of the positive term, a tensor broadcastable to the input, e.g. (C,) for a multilabel "
        "input (N, C) (a buffer, torch's ``pos_weight``; > 1 favours recall). None (default): 1."
    ),
    "label_smoothing": "in [0, 1] (default 0.0: none): targets become ``y (1 - ls) + ls / 2``.",
}

POLY_ARGS: dict[str, str] = {
    "epsilon": (
        "coefficient of the ``(1 - p_t)`` term (default 1.0, the paper's); 0 gives exactly ``cross_entropy``; "
        "negative values are allowed (the paper explores them)."
    ),
    "weight": (
        "(C,) per-class weight (tensor or sequence, finite and >= 0), a buffer scaling both the CE and the poly "
        'term of each target; "mean" divides by the summed weights of the valid targets. None (default): every '
        "class weighs 1."
    ),
    "ignore_index": "target class index that counts nowhere (default -100, torch's); None: nothing is ignored.",
}

LOGIT_ADJUSTED_ARGS: dict[str, str] = {
    "prior": (
        "(C,) class counts or probabilities ``pi`` (sequence or tensor, finite, every entry > 0: give zero-count "
        "classes a pseudo-count), normalised to sum to 1 and kept as the buffers ``prior`` (the probabilities) "
        "and ``log_prior``; it sets ``num_classes`` to C. None (default): uniform, i.e. plain cross-entropy."
    ),
    "tau": "temperature of the adjustment ``x + tau log pi`` (default 1.0, the paper's); 0 gives plain CE.",
    "num_classes": (
        "expected number of classes C, checked against the input (and against ``prior``'s length at "
        "construction). None (default): taken from ``prior`` or the input."
    ),
}

QUALITY_ARGS: dict[str, str] = {  # varifocal and quality_focal
    "alpha": "weight of the negative elements (``q = 0``) (default 0.75), >= 0.",
    "gamma": "focusing exponent of the negatives, ``p^gamma`` (default 2.0), >= 0.",
    "iou_weighted": "True (default): a positive element is weighted by its IoU target ``q``; False: by 1.",
    "beta": "exponent of the modulating factor ``|y - s|^beta`` (default 2.0), >= 0; 0 gives plain BCE.",
    "reduction": (
        '"mean" (default): the sum of the (weighted) element losses divided by the number of elements, or by '
        'the forward ``avg_factor`` when given; "sum": the sum; "none": the per-element losses, the input\'s '
        "shape."
    ),
}

FCOS_ARGS: dict[str, str] = {
    "num_classes": (
        "number of classes C, >= 1, checked against dim 1 of every level's ``cls_scores`` (a ``LossInputError`` "
        "on a mismatch). None (default): taken from the logits."
    ),
    "focal_alpha": (
        "alpha in [0, 1] of the sigmoid focal classification term (default 0.25): positives weighted by alpha, "
        "negatives by ``1 - alpha``."
    ),
    "focal_gamma": "focusing exponent >= 0 of the focal classification term (default 2.0).",
    "cls_weight": "weight of the classification term in the total (default 1.0).",
    "reg_weight": "weight of the GIoU regression term in the total (default 1.0).",
    "centerness_weight": "weight of the centerness BCE term in the total (default 1.0).",
    "centerness_weighted_reg": (
        "True (default): the regression loss of each positive is weighted by its centerness target and divided "
        "by their sum (FCOS's official code); False: a plain mean over the positives."
    ),
}
