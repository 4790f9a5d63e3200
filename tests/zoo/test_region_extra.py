"""generalized_wasserstein_dice, unified_focal, nacl: MONAI parity (float64), check_loss, gradcheck, edge cases,
bad input."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from monai.losses import AsymmetricUnifiedFocalLoss as MonaiUnified
from monai.losses import GeneralizedWassersteinDiceLoss as MonaiGWDL
from monai.losses import NACLLoss as MonaiNACL

import losskit
from losskit.functional import (
    cross_entropy_loss,
    generalized_wasserstein_dice_loss,
    nacl_loss,
    unified_focal_loss,
)
from losskit.testing import check_loss
from losskit.zoo.region_extra import AsymmetricUnifiedFocalLoss, GeneralizedWassersteinDiceLoss, NACLLoss

SPATIAL = [(5, 6), (3, 4, 5)]
DIST = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5], [2.0, 0.5, 0.0]]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _quiet(fn: Any, *args: Any) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: torch.Tensor = fn(*args)
    return out


def _close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(ours.cpu(), ref.to(ours.dtype), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------- wasserstein


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighting_mode", ["default", "GDL"])
@pytest.mark.parametrize("spatial", SPATIAL)
def test_gwdl_monai_parity(device: torch.device, spatial: tuple[int, ...], weighting_mode: str, reduction: str) -> None:
    g = _gen(0)
    x = torch.randn(2, 3, *spatial, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, *spatial), generator=g)
    m = torch.tensor(DIST, dtype=torch.float64)
    loss = GeneralizedWassersteinDiceLoss(DIST, weighting_mode=weighting_mode, reduction=reduction)  # type: ignore[arg-type]
    ours = loss.to(device)(x.to(device), y.to(device))
    ref = MonaiGWDL(m, weighting_mode=weighting_mode, reduction=reduction)(x, y)
    _close(ours, ref)
    # the (N, 1, *) label map and a tensor dist_matrix give the same value
    again = generalized_wasserstein_dice_loss(
        x.to(device),
        y.unsqueeze(1).to(device),
        dist_matrix=m.to(device),
        weighting_mode=weighting_mode,  # type: ignore[arg-type]
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(again, ours)


def test_gwdl_default_matrix_is_the_01_distance(device: torch.device) -> None:
    g = _gen(1)
    x = torch.randn(2, 4, 5, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 5, 5), generator=g)
    ours = generalized_wasserstein_dice_loss(x.to(device), y.to(device))
    _close(ours, MonaiGWDL(1.0 - torch.eye(4, dtype=torch.float64))(x, y))


def test_gwdl_perfect_prediction_is_zero() -> None:
    # MONAI's docstring example: saturated correct logits give 0
    x = torch.tensor([[1000.0, 0, 0], [0, 1000.0, 0], [0, 0, 1000.0]]).T.reshape(1, 3, 3)
    y = torch.tensor([[0, 1, 2]])
    loss = generalized_wasserstein_dice_loss(x, y, dist_matrix=[[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]])
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_gwdl_ignore_index_equals_the_kept_voxels(device: torch.device) -> None:
    g = _gen(2)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 5, 6), generator=g)
    y_ign = y.clone()
    y_ign[:, 4] = 255
    modes: tuple[Any, ...] = ("default", "GDL")
    for mode in modes:
        ours = generalized_wasserstein_dice_loss(
            x.to(device),
            y_ign.to(device),
            dist_matrix=DIST,
            weighting_mode=mode,
            ignore_index=255,
            reduction="none",
        )
        ref = MonaiGWDL(torch.tensor(DIST, dtype=torch.float64), weighting_mode=mode, reduction="none")
        _close(ours, ref(x[:, :, :4], y[:, :4]))


@pytest.mark.parametrize("weighting_mode", ["default", "GDL"])
def test_gwdl_gradcheck(weighting_mode: str) -> None:
    g = _gen(3)
    x = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, 3, 3), generator=g)
    loss = GeneralizedWassersteinDiceLoss(DIST, weighting_mode=weighting_mode)  # type: ignore[arg-type]
    assert torch.autograd.gradcheck(lambda a: loss(a, y), (x,))


def test_gwdl_dist_matrix_checked_at_construction() -> None:
    bad = {
        "square": [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]],
        "finite": [[0.0, float("inf")], [1.0, 0.0]],
        ">= 0": [[0.0, -1.0], [1.0, 0.0]],
        "diagonal": [[0.5, 1.0], [1.0, 0.0]],
        "positive entry": [[0.0, 0.0], [0.0, 0.0]],
    }
    for what, m in bad.items():
        with pytest.raises(ValueError, match="generalized_wasserstein_dice") as info:
            GeneralizedWassersteinDiceLoss(m)
        assert what in str(info.value)
    with pytest.raises(ValueError, match="did you mean 'GDL'"):
        GeneralizedWassersteinDiceLoss(weighting_mode="GDl")  # type: ignore[arg-type]
    loss = GeneralizedWassersteinDiceLoss(torch.tensor(DIST))
    assert loss.num_classes == 3 and loss.dist_matrix is not None and "dist_matrix" in loss.state_dict()


def test_gwdl_bad_input() -> None:
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(losskit.LossInputError, match="generalized_wasserstein_dice.*integer class indices"):
        generalized_wasserstein_dice_loss(x, torch.rand(2, 3, 4, 4))
    with pytest.raises(losskit.LossInputError, match="generalized_wasserstein_dice.*num_classes=3"):
        GeneralizedWassersteinDiceLoss(DIST)(torch.randn(2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(losskit.LossInputError, match="dist_matrix is 3 x 3 for an input with 4 classes"):
        generalized_wasserstein_dice_loss(
            torch.randn(2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), dist_matrix=torch.tensor(DIST)
        )
    with pytest.raises(losskit.LossInputError, match="generalized_wasserstein_dice.*out of range"):
        generalized_wasserstein_dice_loss(x, torch.full((2, 4, 4), 3))
    with pytest.raises(losskit.LossInputError, match="generalized_wasserstein_dice.*incompatible shapes"):
        generalized_wasserstein_dice_loss(x, torch.zeros(2, 5, 4, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- unified focal

UNIFIED_OPTIONS = [{}, {"weight": 0.2, "gamma": 0.3, "delta": 0.6}, {"weight": 1.0, "gamma": 1.0, "delta": 0.5}]


def _ours(options: dict[str, Any]) -> dict[str, Any]:
    return {("lambda_focal" if k == "weight" else k): v for k, v in options.items()}


@pytest.mark.parametrize("options", UNIFIED_OPTIONS)
@pytest.mark.parametrize("spatial", SPATIAL)
def test_unified_focal_monai_parity_two_channels(
    device: torch.device, spatial: tuple[int, ...], options: dict[str, Any]
) -> None:
    g = _gen(4)
    x = torch.randn(2, 2, *spatial, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (2, 1, *spatial), generator=g)
    p = torch.softmax(x, 1)
    ref = _quiet(MonaiUnified(to_onehot_y=True, **options), p, y)
    _close(AsymmetricUnifiedFocalLoss(**_ours(options))(x.to(device), y.to(device)), ref)  # logits
    probs = unified_focal_loss(p.to(device), y.to(device), from_logits=False, **_ours(options))
    assert isinstance(probs, torch.Tensor)
    _close(probs, ref)


@pytest.mark.parametrize("options", UNIFIED_OPTIONS)
@pytest.mark.parametrize("spatial", SPATIAL)
def test_unified_focal_monai_parity_binary(
    device: torch.device, spatial: tuple[int, ...], options: dict[str, Any]
) -> None:
    g = _gen(5)
    x = torch.randn(2, 1, *spatial, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (2, 1, *spatial), generator=g).double()
    p = torch.sigmoid(x)
    ref = _quiet(MonaiUnified(**options), p, t)
    _close(AsymmetricUnifiedFocalLoss(mode="binary", **_ours(options))(x.to(device), t.to(device)), ref)
    loss = AsymmetricUnifiedFocalLoss(mode="binary", from_logits=False, **_ours(options))
    _close(loss(p.to(device), t.squeeze(1).to(device)), ref)  # an (N, *) target of an (N, 1, *) input


def test_unified_focal_saturated_probabilities_are_clamped_as_monai() -> None:
    p = torch.tensor([[[[0.0, 1.0, 0.3]]]], dtype=torch.float64)
    t = torch.tensor([[[[1.0, 1.0, 0.0]]]], dtype=torch.float64)
    ref = _quiet(MonaiUnified(), p, t)
    _close(unified_focal_loss(p, t, mode="binary", from_logits=False), ref)  # type: ignore[arg-type]


def test_unified_focal_terms_and_many_classes(device: torch.device) -> None:
    g = _gen(6)
    x = torch.randn(2, 4, 5, 5, generator=g).to(device).requires_grad_()
    y = torch.randint(0, 4, (2, 5, 5), generator=g).to(device)
    loss = AsymmetricUnifiedFocalLoss(lambda_focal=0.3, reduction="sum")
    total, terms = loss(x, y, return_terms=True)
    assert set(terms) == {"focal", "focal_tversky"} and not any(v.requires_grad for v in terms.values())
    torch.testing.assert_close(total, 0.3 * terms["focal"] + 0.7 * terms["focal_tversky"])
    assert torch.equal(total, loss(x, y))
    total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_unified_focal_perfect_prediction_has_finite_gradient() -> None:
    # (1 - TI)^(1 - gamma) and (1 - p0)^gamma have infinite slopes at 0: a saturated perfect prediction must not
    # give a NaN gradient
    y = torch.tensor([[[0, 1], [1, 0]]])
    x = (torch.nn.functional.one_hot(y, 2).movedim(-1, 1).double() * 200 - 100).requires_grad_()
    out = unified_focal_loss(x, y)
    assert isinstance(out, torch.Tensor)
    out.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert float(out.detach()) == pytest.approx(0.0, abs=1e-6)


def test_unified_focal_ignore_index_equals_the_kept_voxels(device: torch.device) -> None:
    g = _gen(7)
    x = torch.randn(2, 2, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (2, 5, 6), generator=g)
    y_ign = y.clone()
    y_ign[:, 0] = 255
    ours = unified_focal_loss(x.to(device), y_ign.to(device), ignore_index=255)
    assert isinstance(ours, torch.Tensor)
    _close(ours, _quiet(MonaiUnified(to_onehot_y=True), torch.softmax(x[:, :, 1:], 1), y[:, None, 1:]))
    xb, tb = x[:, :1], y.unsqueeze(1).double()
    tb_ign = tb.clone()
    tb_ign[:, :, 0] = 255.0
    ours = unified_focal_loss(xb.to(device), tb_ign.to(device), mode="binary", ignore_index=255)
    assert isinstance(ours, torch.Tensor)
    _close(ours, _quiet(MonaiUnified(), torch.sigmoid(xb[:, :, 1:]), tb[:, :, 1:]))


@pytest.mark.parametrize("mode", ["multiclass", "binary"])
def test_unified_focal_gradcheck(mode: str) -> None:
    g = _gen(8)
    c = 3 if mode == "multiclass" else 1
    x = torch.randn(2, c, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y: torch.Tensor = torch.randint(0, 3, (2, 3, 3), generator=g)
    if mode == "binary":
        y = torch.randint(0, 2, (2, 1, 3, 3), generator=g).double()
    loss = AsymmetricUnifiedFocalLoss(mode=mode)  # type: ignore[arg-type]
    assert torch.autograd.gradcheck(lambda a: loss(a, y), (x,))


def test_unified_focal_options_and_bad_input() -> None:
    for key, value in (("gamma", 1.5), ("delta", -0.1), ("lambda_focal", 2.0), ("epsilon", -1.0)):
        with pytest.raises(ValueError, match=f"unified_focal.*{key}"):
            AsymmetricUnifiedFocalLoss(**{key: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="did you mean 'binary'"):
        AsymmetricUnifiedFocalLoss(mode="binar")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AsymmetricUnifiedFocalLoss(reduction="none")  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match="unified_focal.*incompatible shapes"):
        unified_focal_loss(torch.randn(2, 1, 4, 4), torch.rand(2, 2, 4, 4), mode="binary")
    with pytest.raises(losskit.LossInputError, match="unified_focal.*out of range"):
        unified_focal_loss(torch.randn(2, 2, 4, 4), torch.full((2, 4, 4), 2))
    with pytest.raises(losskit.LossInputError, match="unified_focal.*num_classes=2"):
        AsymmetricUnifiedFocalLoss(num_classes=2)(torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- nacl

NACL_OPTIONS = [
    {},
    {"kernel_size": 5, "distance_type": "l2", "alpha": 0.3},
    {"kernel_size": 4},
    {"kernel_ops": "gaussian", "sigma": 0.7},
    {"kernel_ops": "gaussian", "sigma": 1.3, "distance_type": "l2"},
]


@pytest.mark.parametrize("options", NACL_OPTIONS)
@pytest.mark.parametrize("spatial", [(7, 6), (5, 4, 6)])
def test_nacl_monai_parity(device: torch.device, spatial: tuple[int, ...], options: dict[str, Any]) -> None:
    g = _gen(9)
    x = torch.randn(2, 3, *spatial, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (2, *spatial), generator=g)
    ours = NACLLoss(dim=len(spatial), **options)(x.to(device), y.to(device))
    ref = MonaiNACL(classes=3, dim=len(spatial), **options)(x, y)
    _close(ours, ref)  # MONAI smooths a float32 one-hot: agreement to ~1e-9


def test_nacl_terms(device: torch.device) -> None:
    g = _gen(10)
    x = torch.randn(2, 3, 6, 6, generator=g).to(device).requires_grad_()
    y = torch.randint(0, 3, (2, 6, 6), generator=g).to(device)
    total, terms = NACLLoss(alpha=0.5)(x, y, return_terms=True)
    assert set(terms) == {"cross_entropy", "calibration"}
    torch.testing.assert_close(terms["cross_entropy"], cross_entropy_loss(x, y).detach())
    torch.testing.assert_close(total, terms["cross_entropy"] + 0.5 * terms["calibration"])
    total.backward()


def test_nacl_ignore_index(device: torch.device) -> None:
    g = _gen(11)
    x = torch.randn(2, 3, 6, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
    y = torch.randint(0, 3, (2, 6, 6), generator=g).to(device)
    y[:, :, 0] = 255
    total, terms = NACLLoss(ignore_index=255)(x, y, return_terms=True)
    torch.testing.assert_close(terms["cross_entropy"], cross_entropy_loss(x, y, ignore_index=255).detach())
    total.backward()
    assert x.grad is not None and (x.grad[:, :, :, 0] == 0).all()  # ignored voxels get no gradient


@pytest.mark.parametrize("kernel_ops", ["mean", "gaussian"])
def test_nacl_gradcheck(kernel_ops: str) -> None:
    g = _gen(12)
    x = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, 4, 4), generator=g)
    loss = NACLLoss(kernel_ops=kernel_ops, distance_type="l2")  # type: ignore[arg-type]
    assert torch.autograd.gradcheck(lambda a: loss(a, y), (x,))


def test_nacl_options_and_bad_input() -> None:
    for key, value in (("kernel_size", 0), ("alpha", -1.0), ("sigma", 0.0), ("dim", 4)):
        with pytest.raises(ValueError, match=f"nacl.*{key}"):
            NACLLoss(**{key: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="did you mean 'gaussian'"):
        NACLLoss(kernel_ops="gausian")  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match="nacl.*3 spatial dims"):
        NACLLoss(dim=3)(torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(losskit.LossInputError, match="nacl"):
        nacl_loss(torch.randn(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))  # 1-D: no 2-D/3-D filter
    with pytest.raises(losskit.LossInputError, match="nacl.*out of range"):
        nacl_loss(torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), 3))


# ---------------------------------------------------------------------------------------------- shared


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "generalized_wasserstein_dice", "dist_matrix": DIST, "weighting_mode": "GDL"},
        {"name": "unified_focal"},
        {"name": "unified_focal", "mode": "binary"},
        {"name": "nacl", "kernel_ops": "gaussian"},
    ],
)
def test_check_loss(spec: dict[str, Any]) -> None:
    check_loss(spec, compile=None)


@pytest.mark.parametrize("name", ["generalized_wasserstein_dice", "unified_focal", "nacl"])
def test_empty_batch_and_all_ignored(device: torch.device, name: str) -> None:
    loss = losskit.build_loss(name, ignore_index=255).to(device)
    x = torch.randn(0, 3, 4, 4, device=device, requires_grad=True)
    out = loss(x, torch.zeros(0, 4, 4, dtype=torch.long, device=device))
    assert float(out.detach()) == 0.0
    out.backward()
    x = torch.randn(2, 3, 4, 4, device=device, requires_grad=True)
    out = loss(x, torch.full((2, 4, 4), 255, device=device))
    assert float(out.detach()) == 0.0
    out.backward()
    assert x.grad is not None and (x.grad == 0).all()


def test_aliases() -> None:
    assert type(losskit.build_loss("GeneralizedWassersteinDiceLoss")) is GeneralizedWassersteinDiceLoss
    assert type(losskit.build_loss("AsymmetricUnifiedFocalLoss")) is AsymmetricUnifiedFocalLoss
    assert type(losskit.build_loss("NACLLoss")) is NACLLoss


@pytest.mark.parametrize(
    "module",
    [
        "losskit.functional.wasserstein_dice",
        "losskit.functional.unified_focal",
        "losskit.functional.nacl",
        "losskit.zoo.region_extra",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, module


def test_repr_rebuilds() -> None:
    for loss in (
        GeneralizedWassersteinDiceLoss(DIST, weighting_mode="GDL", smooth_nr=0.0),
        AsymmetricUnifiedFocalLoss(mode="binary", gamma=0.25, reduction="sum"),
        NACLLoss(kernel_ops="gaussian", sigma=2.0, dim=3),
    ):
        rebuilt = losskit.build_loss(losskit.to_config(loss))
        assert repr(rebuilt) == repr(loss)
