"""generalized_dice_focal (GeneralizedDiceFocalLoss): MONAI parity, check_loss, gradcheck, return_terms, errors."""

from __future__ import annotations

import warnings

import pytest
import torch
from monai.losses import GeneralizedDiceFocalLoss as MonaiGDFL

import losskit
from losskit.functional import generalized_dice_focal_loss, generalized_dice_loss, sigmoid_focal_loss
from losskit.testing import check_loss
from losskit.zoo.region_focal import GeneralizedDiceFocalLoss

OPTIONS = [
    {},
    {"w_type": "simple", "batch": True, "gamma": 1.5, "lambda_gdl": 0.3, "lambda_focal": 2.0},
    {"w_type": "uniform", "weight": [0.2, 1.0, 3.0]},
]


def _monai(x: torch.Tensor, y: torch.Tensor, **kw: object) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MonaiGDFL(**kw)(x, y)  # type: ignore[arg-type]


@pytest.mark.parametrize("options", OPTIONS)
def test_monai_parity_multiclass(device: torch.device, options: dict[str, object]) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 5, 6), generator=g)
    ours = GeneralizedDiceFocalLoss(**options)(x.to(device), y.to(device))  # type: ignore[arg-type]
    ref = _monai(x, y.unsqueeze(1), softmax=True, to_onehot_y=True, **options)
    torch.testing.assert_close(ours.cpu(), ref.to(ours.dtype), rtol=1e-6, atol=1e-7)


def test_monai_parity_multiclass_no_background(device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 4), generator=g)
    ours = generalized_dice_focal_loss(x.to(device), y.to(device), include_background=False, weight=[1.0, 2.0, 3.0])
    ref = _monai(x, y.unsqueeze(1), softmax=True, to_onehot_y=True, include_background=False, weight=[2.0, 3.0])
    assert isinstance(ours, torch.Tensor)
    torch.testing.assert_close(ours.cpu(), ref.to(ours.dtype), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("options", OPTIONS)
def test_monai_parity_multilabel(device: torch.device, options: dict[str, object]) -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (2, 3, 5, 6), generator=g).double()
    ours = GeneralizedDiceFocalLoss(mode="multilabel", **options)(x.to(device), t.to(device))  # type: ignore[arg-type]
    ref = _monai(x, t, sigmoid=True, **options)
    torch.testing.assert_close(ours.cpu(), ref.to(ours.dtype), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ["multiclass", "multilabel", "binary"])
def test_check_loss(mode: str) -> None:
    check_loss({"name": "generalized_dice_focal", "mode": mode}, compile=None)


@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
def test_gradcheck(mode: str) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    if mode == "multiclass":
        y = torch.randint(0, 3, (2, 3, 3), generator=g)
    else:
        y = torch.randint(0, 2, (2, 3, 3, 3), generator=g).double()
    loss = GeneralizedDiceFocalLoss(mode=mode, weight=[0.5, 1.0, 2.0])  # type: ignore[arg-type]
    assert torch.autograd.gradcheck(lambda a: loss(a, y), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_return_terms(device: torch.device, reduction: str) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 4, 4, generator=g).to(device).requires_grad_()
    y = torch.randint(0, 3, (2, 4, 4), generator=g).to(device)
    loss = GeneralizedDiceFocalLoss(lambda_gdl=0.7, lambda_focal=1.5, reduction=reduction)  # type: ignore[arg-type]
    total, terms = loss(x, y, return_terms=True)
    assert set(terms) == {"generalized_dice", "focal"}
    assert not any(t.requires_grad for t in terms.values())
    gdl = generalized_dice_loss(x, y, reduction=reduction)  # type: ignore[arg-type]
    onehot = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).float()
    focal = sigmoid_focal_loss(x, onehot, alpha=None, reduction=reduction)  # type: ignore[arg-type]
    torch.testing.assert_close(terms["generalized_dice"], gdl.detach())
    torch.testing.assert_close(terms["focal"], focal.detach())
    torch.testing.assert_close(total, 0.7 * gdl + 1.5 * focal)
    assert torch.equal(total, loss(x, y))
    total.backward()


def test_registry_and_errors() -> None:
    assert type(losskit.build_loss("GeneralizedDiceFocalLoss")) is GeneralizedDiceFocalLoss
    with pytest.raises(ValueError, match="did you mean"):
        GeneralizedDiceFocalLoss(w_type="squar")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lambda_gdl"):
        GeneralizedDiceFocalLoss(lambda_gdl=-1.0)
    with pytest.raises(ValueError, match="did you mean"):
        generalized_dice_focal_loss(torch.randn(1, 2, 3), torch.zeros(1, 3, dtype=torch.long), reduction="meen")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        GeneralizedDiceFocalLoss(reduction="none")  # type: ignore[arg-type]
