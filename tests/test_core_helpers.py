"""The one-per-job helpers of the functional core: choices, labels, dense targets, class weights, precision."""

from __future__ import annotations

import pytest
import torch

from losskit import LossInputError
from losskit.functional._checks import as_class_weight, check_choice, check_labels, check_probabilities, ignored_mask
from losskit.functional._precision import float32_loss


def test_check_choice_names_loss_choices_and_closest() -> None:
    with pytest.raises(
        ValueError,
        match=r"dice_loss: reduction must be one of 'mean', 'sum', 'none', got 'meen'; "
        r"did you mean 'mean'\?",
    ):
        check_choice("dice_loss", "reduction", "meen", ("mean", "sum", "none"))
    with pytest.raises(ValueError, match="got 3"):
        check_choice("dice_loss", "mode", 3, ("binary", "multiclass"))


def test_ignore_index_outside_the_label_dtype_matches_nothing() -> None:
    # uint8 == -100 would wrap -100 to 156 and silently ignore a real label 156
    labels = torch.tensor([0, 1, 156], dtype=torch.uint8)
    assert ignored_mask(labels, -100) is None
    assert ignored_mask(labels, 156).tolist() == [False, False, True]
    with pytest.raises(LossInputError, match="class label 156"):
        check_labels("x", labels, 3, ignore_index=-100)
    check_labels("x", torch.tensor([0, 2, 255], dtype=torch.uint8), 3, ignore_index=255)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
def test_check_labels_takes_every_integer_dtype(dtype: torch.dtype) -> None:
    check_labels("x", torch.tensor([0, 1, 2], dtype=dtype), 3)
    with pytest.raises(LossInputError, match="out of range"):
        check_labels("x", torch.tensor([0, 1, 3], dtype=dtype), 3)


def test_check_probabilities_refuses_a_0_255_mask() -> None:
    with pytest.raises(LossInputError, match=r"values in \[0, 1\].*got 255"):
        check_probabilities("dice", torch.tensor([0.0, 255.0]))
    check_probabilities("dice", torch.tensor([0.0, 0.5, 1.0]))
    check_probabilities("dice", torch.tensor([0.0, 255.0]), ignore_index=255)


def test_as_class_weight_from_lists_and_bad_values() -> None:
    assert as_class_weight("ce", [1, 2.5]).tolist() == [1.0, 2.5]  # type: ignore[union-attr]
    assert as_class_weight("ce", None) is None
    for bad in ([1.0, float("inf")], [1.0, -1.0], [[1.0]], "1,2", [True, 1.0]):
        with pytest.raises(ValueError, match="ce: weight"):
            as_class_weight("ce", bad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_float32_loss_runs_statistics_in_float32_under_autocast(dtype: torch.dtype) -> None:
    @float32_loss
    def gram_sum(x: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
        return (x @ x.T).sum() + sum(e.sum() for e in extra)

    x = torch.full((64, 4096), 2.0)
    with torch.autocast("cpu", dtype=dtype):
        out = gram_sum(x, [x[:1].to(dtype)])
    assert out.dtype == torch.float32
    assert out == 64 * 64 * 4096 * 4 + 4096 * 2  # 2^30: overflows fp16, and bf16 would round it
