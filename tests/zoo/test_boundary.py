"""Distance transform (scipy parity) and the distance-transform losses hausdorff_dt, log_hausdorff_dt and boundary
(MONAI parity, check_loss, gradcheck, bad input, edge cases)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from monai.losses import BoundaryLoss as MonaiBoundary
from monai.losses import HausdorffDTLoss as MonaiHausdorff
from monai.losses import LogHausdorffDTLoss as MonaiLogHausdorff
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from losskit import LossInputError, build_loss
from losskit.functional import boundary_loss, distance_transform, hausdorff_dt_loss, log_hausdorff_dt_loss
from losskit.testing import check_loss

NAMES = ["hausdorff_dt", "log_hausdorff_dt", "boundary"]
FUNCS = {"hausdorff_dt": hausdorff_dt_loss, "log_hausdorff_dt": log_hausdorff_dt_loss, "boundary": boundary_loss}
MONAI = {"hausdorff_dt": MonaiHausdorff, "log_hausdorff_dt": MonaiLogHausdorff, "boundary": MonaiBoundary}
SHAPES = [(3, 4, 17, 19), (2, 3, 9, 10, 11)]  # 2-D and 3-D


# ------------------------------------------------------------------------------------------ the transform
def _scipy(m: np.ndarray, sampling: Any, two_sided: bool) -> np.ndarray:
    """scipy per map, with losskit's documented convention for a map without the other class (0)."""
    if m.all() or (two_sided and not m.any()):
        return np.zeros(m.shape)
    out: np.ndarray = distance_transform_edt(m, sampling=sampling)
    return out + distance_transform_edt(~m, sampling=sampling) if two_sided else out


@pytest.mark.parametrize(
    ("spatial", "sampling"),
    [((7, 9), None), ((30, 41), (1.5, 0.7)), ((9, 11, 13), (2.0, 1.0, 0.5)), ((1, 50), None), ((5, 4, 3, 6), 0.5)],
)
@pytest.mark.parametrize("density", [0.01, 0.4, 0.97])
@pytest.mark.parametrize("two_sided", [False, True])
def test_distance_transform_matches_scipy(
    spatial: tuple[int, ...], sampling: Any, density: float, two_sided: bool, device: torch.device
) -> None:
    rng = np.random.default_rng(len(spatial) + int(100 * density))
    m = rng.random((5, *spatial)) < density
    m[0] = True  # no zero at all
    m[1] = False  # no foreground at all
    m[2] = True
    m[2].flat[rng.integers(m[2].size)] = False  # a single zero: distances across the whole map
    got = distance_transform(
        torch.from_numpy(m).to(device),
        sampling=sampling,
        spatial_dims=len(spatial),
        dtype=torch.float64,
        two_sided=two_sided,
    )
    assert got.device.type == device.type and got.shape == m.shape
    want = np.stack([_scipy(mb, sampling, two_sided) for mb in m])
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12, atol=1e-12)


def test_distance_transform_examples_and_dtypes() -> None:
    m = torch.ones(3, 4, dtype=torch.uint8)
    m[0, 0] = 0
    want = distance_transform_edt(m.numpy())
    np.testing.assert_allclose(distance_transform(m).numpy(), want, rtol=1e-6)  # float32 by default
    assert distance_transform(m).dtype == torch.float32
    assert distance_transform(m.double()).dtype == torch.float64
    assert distance_transform(torch.zeros(2, 0, 3), spatial_dims=2).shape == (2, 0, 3)
    assert distance_transform(torch.zeros(0, 5, 5), spatial_dims=2).shape == (0, 5, 5)
    torch.testing.assert_close(distance_transform(torch.zeros(4, 4)), torch.zeros(4, 4))  # all zeros: 0
    torch.testing.assert_close(distance_transform(torch.ones(4, 4)), torch.zeros(4, 4))  # no zero: 0 by convention
    x = torch.rand(2, 8, 8, requires_grad=True)
    assert not distance_transform(x, spatial_dims=2).requires_grad


def test_distance_transform_large_objects_are_exact() -> None:
    """A disk and a thin ring: distances far beyond the first window (the rerun path)."""
    yy, xx = np.mgrid[:64, :80]
    r = np.hypot(yy - 30, xx - 41)
    masks = np.stack([r < 25, (r > 20) | (r < 3), r > 1])
    for sampling in ((1.0, 1.3), (0.5, 0.5)):  # the float path, and the integer (int16) one of isotropic spacing
        got = distance_transform(torch.from_numpy(masks), spatial_dims=2, dtype=torch.float64, sampling=sampling)
        want = np.stack([distance_transform_edt(mb, sampling=sampling) for mb in masks])
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    corner = np.ones((2, 12, 12), dtype=bool)  # whole-map windows of the uint8 path: d^2 = 242 > its cap
    corner[0, 0, 0] = False
    corner[1, 11, 0] = False
    got = distance_transform(torch.from_numpy(corner), spatial_dims=2, dtype=torch.float64)
    np.testing.assert_allclose(got.numpy(), np.stack([distance_transform_edt(m) for m in corner]), rtol=1e-12)
    cube = np.ones((1, 9, 10, 11), dtype=bool)
    cube[0, 0, 0, 0] = False
    got = distance_transform(torch.from_numpy(cube), spatial_dims=3, dtype=torch.float64)
    np.testing.assert_allclose(got.numpy()[0], distance_transform_edt(cube[0]), rtol=1e-12)
    line = np.ones((2, 3, 300), dtype=bool)  # distances beyond the int16 path's radius (127): the float path
    line[0, 1, 0] = False
    line[1, 2, 299] = False
    got = distance_transform(torch.from_numpy(line), spatial_dims=2, dtype=torch.float64)
    np.testing.assert_allclose(got.numpy(), np.stack([distance_transform_edt(m) for m in line]), rtol=1e-12)


def test_distance_transform_bad_input() -> None:
    with pytest.raises(LossInputError, match="distance_transform"):
        distance_transform(np.zeros((3, 3)))  # type: ignore[arg-type]
    with pytest.raises(LossInputError, match="distance_transform.*at least 3 dims"):
        distance_transform(torch.zeros(4, 4), spatial_dims=3)
    with pytest.raises(ValueError, match="distance_transform: sampling needs 2"):
        distance_transform(torch.zeros(4, 4), sampling=(1.0, 2.0, 3.0), spatial_dims=2)
    with pytest.raises(ValueError, match="distance_transform: sampling must be"):
        distance_transform(torch.zeros(4, 4), sampling=0.0)
    with pytest.raises(ValueError, match="distance_transform: dtype"):
        distance_transform(torch.zeros(4, 4), dtype=torch.int64)


# ------------------------------------------------------------------------------------------ the losses
def _case(shape: tuple[int, ...], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    y[0] = 1  # a sample whose masks have one class only (MONAI: no boundary, a zero map)
    dense = torch.randint(0, 2, shape, generator=g).double()
    return x, y, dense


def _monai(name: str, x: Tensor, y: Tensor, **kw: Any) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: Tensor = MONAI[name](**kw)(x, y)
    return out


# MONAI computes its maps in float32: parity to float32 rounding of the distances
TOL = dict(rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_check_loss(name: str, mode: str) -> None:
    check_loss({"name": name, "mode": mode}, compile=None)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [False, True])
def test_monai_parity_multiclass(
    name: str, shape: tuple[int, ...], include_background: bool, batch: bool, device: torch.device
) -> None:
    x, y, _ = _case(shape)
    extra: dict[str, Any] = {} if name == "boundary" else {"alpha": 1.5}
    for reduction in ("mean", "sum", "none"):
        opts: dict[str, Any] = dict(include_background=include_background, batch=batch, reduction=reduction, **extra)
        got = FUNCS[name](x.to(device), y.to(device), **opts).cpu()
        want = _monai(name, x, y[:, None], softmax=True, to_onehot_y=True, **opts)
        torch.testing.assert_close(got, want.reshape(got.shape), **TOL)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_monai_parity_sigmoid_and_probabilities(name: str, shape: tuple[int, ...], device: torch.device) -> None:
    x, y, t = _case(shape, seed=1)
    f = FUNCS[name]
    got = f(x.to(device), t.to(device), mode="multilabel", reduction="none").cpu()
    want = _monai(name, x, t, sigmoid=True, include_background=True, reduction="none")
    torch.testing.assert_close(got, want.reshape(got.shape), **TOL)  # type: ignore[arg-type]
    want = _monai(name, x[:, :1], t[:, :1], sigmoid=True)
    for xb, tb in ((x[:, :1], t[:, :1]), (x[:, 0], t[:, 0])):  # binary with and without the channel dim
        torch.testing.assert_close(f(xb.to(device), tb.to(device), mode="binary").cpu(), want, **TOL)  # type: ignore[arg-type]
    p = torch.softmax(x, 1)
    got = f(p.to(device), y.to(device), from_logits=False).cpu()
    want = _monai(name, p, y[:, None], to_onehot_y=True, include_background=True)
    torch.testing.assert_close(got, want, **TOL)  # type: ignore[arg-type]


def test_sampling_scales_the_maps() -> None:
    """Anisotropic spacing reaches the transform: the loss equals one computed from scipy's maps."""
    x, y, _ = _case((2, 3, 12, 13), seed=4)
    y[0] = torch.randint(0, 3, (12, 13), generator=torch.Generator().manual_seed(9))
    sp = (2.0, 0.5)
    p = torch.softmax(x, 1)
    t = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).double()
    fields = [
        torch.from_numpy(np.stack([[_scipy(m[c], sp, True) for c in range(3)] for m in mask.numpy()]))
        for mask in (p > 0.5, t > 0.5)
    ]
    want = ((p - t) ** 2 * (fields[0] ** 2 + fields[1] ** 2)).flatten(2).mean(2).mean()
    torch.testing.assert_close(hausdorff_dt_loss(x, y, sampling=sp), want, rtol=1e-12, atol=1e-12)
    assert build_loss({"name": "boundary", "sampling": [2.0, 0.5]})(x, y).isfinite()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("spatial", [(5, 6), (3, 4, 4)])
def test_gradcheck(name: str, mode: str, spatial: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(3)
    c = 1 if mode == "binary" else 3
    x = torch.randn(2, c, *spatial, generator=g, dtype=torch.float64, requires_grad=True)
    y: Tensor
    if mode == "multiclass":
        y = torch.randint(0, c, (2, *spatial), generator=g)
    else:
        y = torch.randint(0, 2, x.shape, generator=g).double()
    f, m = FUNCS[name], mode
    # the maps are piecewise constant in the input (a threshold): gradcheck sees the smooth part, away from 0.5
    assert torch.autograd.gradcheck(lambda a: f(a, y, mode=m), (x,), fast_mode=True)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_names_the_loss(name: str) -> None:
    f = FUNCS[name]
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(LossInputError, match=f"{name}_loss"):
        f(x, torch.randint(0, 3, (2, 7, 8)))  # wrong spatial shape
    with pytest.raises(LossInputError, match=f"{name}_loss"):
        f(torch.randn(2, 3, 8), torch.randint(0, 3, (2, 8)))  # 1-D spatial
    with pytest.raises(LossInputError, match=f"{name}_loss"):
        f(x, torch.rand(2, 8, 8))  # float indices in multiclass mode
    with pytest.raises(ValueError, match=f"{name}_loss: sampling"):
        f(x, torch.randint(0, 3, (2, 8, 8)), sampling=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="did you mean"):
        f(x, torch.randint(0, 3, (2, 8, 8)), reduction="meen")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        build_loss({"name": name, "sampling": -1.0})
    if name != "boundary":
        for alpha in (float("nan"), 0.0, True):
            with pytest.raises(ValueError, match="alpha"):
                build_loss({"name": name, "alpha": alpha})


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_and_nan(name: str, device: torch.device) -> None:
    x = torch.randn(0, 3, 8, 8, device=device, requires_grad=True)
    y = torch.zeros(0, 8, 8, dtype=torch.long, device=device)
    out = FUNCS[name](x, y)
    assert out.item() == 0.0
    out.backward()
    assert x.grad is not None and (x.grad == 0).all()
    assert FUNCS[name](x, y, reduction="none").shape == (0, 3)
    xn = torch.randn(2, 3, 8, 8, device=device)
    xn[0, 1, 2, 3] = float("nan")
    assert FUNCS[name](xn, torch.randint(0, 3, (2, 8, 8), device=device)).isnan()


def test_perfect_prediction_and_signs() -> None:
    """Hausdorff: 0 for a perfect prediction. Boundary: negative when the probability sits inside the object."""
    y = torch.zeros(1, 24, 24, dtype=torch.long)
    y[0, 6:18, 6:18] = 1
    perfect = torch.nn.functional.one_hot(y, 2).movedim(-1, 1).double()
    assert hausdorff_dt_loss(perfect, y, from_logits=False) == 0
    assert boundary_loss(perfect, y, from_logits=False, include_background=False) < 0
    assert boundary_loss(1 - perfect, y, from_logits=False, include_background=False) > 0
