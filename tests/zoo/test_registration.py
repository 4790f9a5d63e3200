"""Registration losses: MONAI parity, gradchecks, edge cases, input errors and seed 002's training-loop contract."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit import LossInputError, build_loss, call_loss
from losskit.functional.deformation import jacobian_determinant
from losskit.functional.lncc import window_sum
from losskit.functional.mutual_information import mutual_information_loss
from losskit.testing import check_loss

NAMES = [
    "lncc",
    "ncc",
    "mutual_information",
    "bending_energy",
    "diffusion",
    "jacobian_folding",
    "lncc_dvf",
    "dice_smooth",
]
D64 = torch.float64


def _rand(*shape: int, seed: int = 0, dtype: torch.dtype = D64, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", message="Using a non-tuple sequence")  # MONAI's deform.py on torch >= 2.9


# ----------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    check_loss(name, compile=None)


def test_registered_names_and_aliases() -> None:
    pairs = {
        "LocalNormalizedCrossCorrelationLoss": "lncc",
        "LNCCLoss": "lncc",
        "GlobalNCCLoss": "ncc",
        "NCCLoss": "ncc",
        "MutualInformationLoss": "mutual_information",
        "GlobalMutualInformationLoss": "mutual_information",
        "BendingEnergyLoss": "bending_energy",
        "DiffusionLoss": "diffusion",
        "JacobianFoldingLoss": "jacobian_folding",
        "LNCCWithDVFSupervision": "lncc_dvf",
        "DiceSmoothLoss": "dice_smooth",
    }
    for alias, name in pairs.items():
        assert type(build_loss(alias)) is type(build_loss(name))
    listed = set(losskit.list_losses(task="registration"))
    assert {*NAMES, "mse"} <= listed


# ----------------------------------------------------------------------------------------------- LNCC
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kernel_type", ["rectangular", "triangular", "gaussian"])
@pytest.mark.parametrize("kernel_size", [3, 7])
def test_lncc_monai_parity(nd: int, kernel_type: str, kernel_size: int, device: torch.device) -> None:
    monai = pytest.importorskip("monai.losses")
    shape = (2, 2, *(7, 9, 6)[:nd]) if nd < 3 else (1, 2, 7, 5, 6)
    p, t = _rand(*shape, seed=1).requires_grad_(), _rand(*shape, seed=2)
    pd, td = p.detach().to(device).requires_grad_(), t.to(device)  # ours on the test device, MONAI's on CPU
    for reduction in ("mean", "sum", "none"):
        ref_mod = monai.LocalNormalizedCrossCorrelationLoss(nd, kernel_size, kernel_type, reduction=reduction)
        ours_mod = build_loss(
            {"name": "lncc", "kernel_size": kernel_size, "kernel_type": kernel_type, "reduction": reduction}
        )
        ref, ours = ref_mod(p, t), ours_mod(pd, td).cpu()
        assert ours.shape == ref.shape
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-10)
    (g_ref,) = torch.autograd.grad(ref_mod(p, t).sum(), p)
    (g_ours,) = torch.autograd.grad(ours_mod(pd, td).sum(), pd)
    torch.testing.assert_close(g_ours.cpu(), g_ref, rtol=1e-5, atol=1e-10)


def test_window_sum_equals_monai_separable_filtering(device: torch.device) -> None:
    layers = pytest.importorskip("monai.networks.layers")
    from losskit.functional.lncc import make_kernel_1d

    x = _rand(3, 1, 11, 6, 13, seed=4)
    for kernel_type in ("rectangular", "triangular", "gaussian"):
        for k in (1, 3, 7, 15):
            kernel = torch.tensor(make_kernel_1d(kernel_type, k), dtype=D64)
            ref = layers.separable_filtering(x, [kernel] * 3)
            ours = window_sum(x.to(device), k, kernel_type).cpu()  # MONAI's reference on CPU
            torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_lncc_squared_vs_signed(device: torch.device) -> None:
    a = _rand(2, 1, 10, 10, 10, seed=3, device=device)
    sq = build_loss({"name": "lncc", "kernel_size": 5})
    signed = build_loss({"name": "lncc", "kernel_size": 5, "squared": False})
    # MONAI's squared NCC scores an anti-correlated image as a perfect match (MONAI#8350); the signed one does not.
    assert float(sq(a, -a)) == pytest.approx(-1.0, abs=1e-6)
    assert float(signed(a, a)) == pytest.approx(-1.0, abs=1e-6)
    assert float(signed(a, -a)) == pytest.approx(1.0, abs=1e-6)
    assert float(signed(a, 3 * a)) == pytest.approx(
        -1.0, abs=1e-6
    )  # scale-invariant (zero padding breaks shift invariance at the border)


def test_lncc_constant_images_finite(device: torch.device) -> None:
    for squared in (True, False):
        loss = build_loss({"name": "lncc", "kernel_size": 3, "squared": squared, "reduction": "none"})
        p = torch.full((1, 1, 6, 6, 6), 0.5, requires_grad=True, device=device)
        v = loss(p, torch.full((1, 1, 6, 6, 6), 0.2, device=device))
        v.sum().backward()
        # flat windows give smooth_nr / smooth_dr = 0; border windows see the zero padding (MONAI), so they are not flat
        assert bool((v[..., 1:-1, 1:-1, 1:-1] == 0).all())
        assert torch.isfinite(v).all() and torch.isfinite(p.grad).all()


def test_lncc_none_shape_and_spatial_dims() -> None:
    p, t = _rand(2, 3, 8, 9, seed=1), _rand(2, 3, 8, 9, seed=2)
    assert build_loss({"name": "lncc", "reduction": "none"})(p, t).shape == (2, 3, 8, 9)
    build_loss({"name": "lncc", "spatial_dims": 2})(p, t)
    with pytest.raises(LossInputError, match="spatial_dims=3"):
        build_loss({"name": "lncc", "spatial_dims": 3})(p, t)


@pytest.mark.parametrize(
    "make",
    [
        lambda: build_loss("lncc")(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9)),  # shape mismatch
        lambda: build_loss("lncc")(torch.rand(1, 1, 4, 4, 4, 4), torch.rand(1, 1, 4, 4, 4, 4)),  # 4 spatial dims
        lambda: build_loss("lncc")(torch.rand(8), torch.rand(8)),  # no batch/channel
        lambda: build_loss("lncc")(torch.ones(1, 1, 8, 8, dtype=torch.long), torch.ones(1, 1, 8, 8, dtype=torch.long)),
        lambda: build_loss({"name": "lncc", "kernel_size": 4}),  # even kernel
        lambda: build_loss("ncc")(torch.rand(2, 3), torch.rand(2, 3)),  # no spatial dim
        lambda: build_loss("mutual_information")(torch.rand(2, 8), torch.rand(2, 9)),
        lambda: build_loss("bending_energy")(torch.rand(1, 2, 5, 5, 5)),  # C != spatial dims
        lambda: build_loss("diffusion")(torch.rand(1, 3, 5, 2, 5)),  # spatial size <= 2
        lambda: build_loss("jacobian_folding")(torch.rand(1, 1, 5)),  # 1-D DDF
        lambda: build_loss("jacobian_folding")(torch.rand(1, 3, 5, 5)),  # C != spatial dims
        lambda: build_loss("lncc_dvf")(
            torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5), torch.rand(1, 2, 5, 5), torch.rand(1, 2, 5, 4)
        ),
        lambda: build_loss("lncc_dvf")(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5), None, torch.rand(1, 2, 5, 5)),
        lambda: build_loss("dice_smooth")(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 6)),
    ],
)
def test_bad_input_raises_loss_input_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LossInputError):
        make()


def test_bad_options_raise_value_error() -> None:
    for spec in (
        {"name": "lncc", "kernel_type": "box"},
        {"name": "lncc", "spatial_dims": 4},
        {"name": "lncc", "smooth_dr": 0.0},
        {"name": "mutual_information", "kernel_type": "b-spline", "num_bins": 4},
        {"name": "mutual_information", "value_range": [1, 0]},
        {"name": "bending_energy", "reduction": "avg"},
        {"name": "dice_smooth", "epsilon": 0.0},
        {"name": "lncc_dvf", "dvf_weight": -1},
    ):
        with pytest.raises(ValueError):
            build_loss(spec)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.sampled_from([3, 5]), kt=st.sampled_from(["rectangular", "gaussian"]))
def test_lncc_range_property(seed: int, k: int, kt: str, device: torch.device) -> None:
    p, t = _rand(1, 1, 6, 7, seed=seed, device=device), _rand(1, 1, 6, 7, seed=seed + 1, device=device)
    sq = build_loss({"name": "lncc", "kernel_size": k, "kernel_type": kt, "reduction": "none"})(p, t)
    signed = build_loss({"name": "lncc", "kernel_size": k, "kernel_type": kt, "reduction": "none", "squared": False})(
        p, t
    )
    assert bool(((sq >= -1 - 1e-9) & (sq <= 0)).all())
    assert bool((signed.abs() <= 1 + 1e-9).all())
    torch.testing.assert_close(-(signed * signed), sq)  # squared form is the square of the signed one (smooth_nr=0)


# ----------------------------------------------------------------------------------------------- global NCC
def test_ncc_matches_corrcoef_and_constant_is_zero(device: torch.device) -> None:
    p, t = _rand(2, 3, 5, 6, seed=1, device=device), _rand(2, 3, 5, 6, seed=2, device=device)
    got = build_loss({"name": "ncc", "eps": 0.0, "reduction": "none"})(p, t)
    ref = torch.stack(
        [
            torch.stack([torch.corrcoef(torch.stack((p[b, c].flatten(), t[b, c].flatten())))[0, 1] for c in range(3)])
            for b in range(2)
        ]
    )
    torch.testing.assert_close(got, -ref)
    assert float(build_loss("ncc")(p, -2 * p + 1)) == pytest.approx(1.0, abs=1e-6)
    const = torch.full((1, 1, 4, 4), 3.0, requires_grad=True, device=device)
    v = build_loss("ncc")(const, _rand(1, 1, 4, 4, device=device).float())
    v.backward()
    assert float(v.detach()) == 0.0 and torch.isfinite(const.grad).all()


# ----------------------------------------------------------------------------------------------- mutual information
@pytest.mark.parametrize("kernel_type", ["gaussian", "b-spline"])
def test_mi_monai_parity(kernel_type: str, device: torch.device) -> None:
    monai = pytest.importorskip("monai.losses")
    p, t = _rand(3, 1, 6, 7, 5, seed=5), _rand(3, 1, 6, 7, 5, seed=6)
    t = 0.6 * p + 0.4 * t
    ours = build_loss({"name": "mutual_information", "kernel_type": kernel_type, "num_bins": 16, "reduction": "none"})(
        p.to(device), t.to(device)
    ).cpu()  # ours on the test device, MONAI's reference on CPU
    ref_mod = monai.GlobalMutualInformationLoss(kernel_type=kernel_type, num_bins=16, reduction="none")
    # MONAI's b-spline range spans the whole batch; ours is per sample, so compare sample by sample.
    ref = torch.cat([ref_mod(p[i : i + 1], t[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-9)
    if kernel_type == "gaussian":
        torch.testing.assert_close(ours, ref_mod(p, t), rtol=1e-5, atol=1e-9)
    # gradients, on the custom chunked backward as well as the plain path
    one = p[:1].clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(ref_mod(one, t[:1]).sum(), one)
    one_d, t1_d = p[:1].clone().to(device).requires_grad_(), t[:1].to(device)
    for chunk in (None, 37):
        ours_mod = build_loss(
            {"name": "mutual_information", "kernel_type": kernel_type, "num_bins": 16, "chunk_size": chunk}
        )
        (g_ours,) = torch.autograd.grad(ours_mod(one_d, t1_d), one_d)
        # MONAI builds its bin centres and sigma in float32 even for float64 inputs: gradients agree to ~1e-5
        torch.testing.assert_close(g_ours.cpu(), g_ref, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kernel_type", ["gaussian", "b-spline"])
def test_mi_chunked_equals_unchunked(kernel_type: str, device: torch.device) -> None:
    p = _rand(2, 1, 9, 9, seed=7, device=device).requires_grad_()
    t = _rand(2, 1, 9, 9, seed=8, device=device).requires_grad_()
    whole = mutual_information_loss(p, t, kernel_type=kernel_type, chunk_size=10_000)
    parts = mutual_information_loss(
        p, t, kernel_type=kernel_type, chunk_size=17
    )  # 81 voxels: 5 chunks, custom backward
    torch.testing.assert_close(parts, whole)
    g_whole = torch.autograd.grad(whole, (p, t), allow_unused=True)
    g_parts = torch.autograd.grad(parts, (p, t), allow_unused=True)
    for a, b in zip(g_parts, g_whole, strict=True):
        torch.testing.assert_close(a, torch.zeros_like(p) if b is None else b)


def test_mi_deviations_from_monai_are_fixed(device: torch.device) -> None:
    const = torch.full((1, 1, 5, 5), 0.3, dtype=D64, requires_grad=True, device=device)
    other = _rand(1, 1, 5, 5, seed=1, device=device)
    v = build_loss({"name": "mutual_information", "kernel_type": "b-spline"})(const, other)
    v.backward()
    assert torch.isfinite(v) and float(v.detach()) == pytest.approx(0.0, abs=1e-6)  # MONAI: NaN (0/0 bin size)
    assert torch.isfinite(const.grad).all()
    # per-sample range: a sample's value does not depend on the rest of the batch
    p, t = _rand(2, 1, 6, 6, seed=2, device=device), _rand(2, 1, 6, 6, seed=3, device=device)
    loss = build_loss({"name": "mutual_information", "kernel_type": "b-spline", "reduction": "none"})
    alone = loss(p[:1], t[:1])
    p2 = p.clone()
    p2[1] *= 10
    torch.testing.assert_close(loss(p2, t)[:1], alone)
    # value_range: intensities outside [0, 1] are not silently clamped when asked to rescale
    wide = build_loss({"name": "mutual_information", "value_range": None})
    torch.testing.assert_close(wide(p * 100 - 50, t), wide(p, t))
    ranged = build_loss({"name": "mutual_information", "value_range": [-50, 50]})
    torch.testing.assert_close(ranged(p * 100 - 50, t * 100 - 50), build_loss("mutual_information")(p, t))


# ----------------------------------------------------------------------------------------------- DDF regularisers
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("name", ["bending_energy", "diffusion"])
def test_ddf_regularisers_monai_parity(nd: int, name: str, device: torch.device) -> None:
    monai = pytest.importorskip("monai.losses")
    ref_cls = monai.BendingEnergyLoss if name == "bending_energy" else monai.DiffusionLoss
    u = torch.randn(2, nd, *(5, 6, 7)[:nd], dtype=D64, generator=torch.Generator().manual_seed(nd))
    for normalize in (False, True):
        for reduction in ("mean", "sum", "none"):
            ref = ref_cls(normalize=normalize, reduction=reduction)(u.clone())
            ours = build_loss({"name": name, "normalize": normalize, "reduction": reduction})(u.to(device)).cpu()
            assert ours.shape == ref.shape
            torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-10)


def test_ddf_regularisers_zero_and_affine(device: torch.device) -> None:
    grid = torch.stack(torch.meshgrid(*[torch.arange(6.0)] * 3, indexing="ij"))[None]
    affine = (
        torch.einsum("ij,bjxyz->bixyz", torch.tensor([[0.1, 0.2, 0.0], [0.0, -0.1, 0.3], [0.2, 0.0, 0.1]]), grid) + 1.5
    )
    assert float(build_loss("bending_energy")(affine.to(device))) == pytest.approx(0.0, abs=1e-10)
    assert float(build_loss("diffusion")(torch.zeros(1, 3, 5, 5, 5, device=device))) == 0.0
    assert float(build_loss("jacobian_folding")(torch.zeros(1, 3, 5, 5, 5, device=device))) == 0.0


def test_jacobian_determinant_and_folding(device: torch.device) -> None:
    grid2 = torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(6.0), indexing="ij"))[None]
    a = torch.tensor([[0.5, 0.2], [-0.3, 0.1]])
    u = torch.einsum("ij,bjxy->bixy", a, grid2)
    det = jacobian_determinant(u.to(device))
    assert det.shape == (1, 3, 4)
    torch.testing.assert_close(det, torch.full_like(det, float(torch.det(torch.eye(2) + a))))
    flip = torch.zeros(2, 3, 5, 5, 5)
    flip[:, 0] = -2 * torch.arange(5.0).view(5, 1, 1)  # x -> -x along axis 0: det = -1 everywhere
    flip = flip.to(device)
    assert float(build_loss("jacobian_folding")(flip)) == pytest.approx(1.0)
    assert build_loss({"name": "jacobian_folding", "reduction": "none"})(flip).shape == (2, 3, 3, 3)
    zeros = torch.zeros(1, 2, 4, 4, device=device)
    assert float(build_loss({"name": "jacobian_folding", "eps": 0.5})(zeros)) == 0.0
    assert float(build_loss({"name": "jacobian_folding", "eps": 1.5})(zeros)) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------- gradcheck
def _gradcheck_cases() -> list[tuple[str, dict, tuple]]:  # type: ignore[type-arg]
    img = lambda s: (_rand(1, 1, 4, 3, 4, seed=s),)  # noqa: E731
    pair = img(1) + img(2)
    small = (_rand(1, 1, 3, 3, 3, seed=1), _rand(1, 1, 3, 3, 3, seed=2))
    return [
        ("lncc", {"kernel_size": 3}, pair),
        ("lncc", {"kernel_size": 5, "kernel_type": "gaussian", "squared": False}, pair),
        ("lncc", {"kernel_size": 5, "kernel_type": "triangular"}, pair),
        ("ncc", {}, pair),
        ("mutual_information", {"num_bins": 6}, small),
        ("mutual_information", {"num_bins": 6, "chunk_size": 10}, small),
        ("mutual_information", {"kernel_type": "b-spline", "num_bins": 7, "chunk_size": 10}, small),
        ("bending_energy", {"normalize": True}, (torch.randn(1, 3, 4, 4, 4, dtype=D64),)),
        ("diffusion", {"normalize": True}, (torch.randn(1, 2, 4, 5, dtype=D64),)),
        (
            "jacobian_folding",
            {"eps": 0.3},
            (0.8 * torch.randn(1, 3, 4, 4, 4, dtype=D64, generator=torch.Generator().manual_seed(3)),),
        ),
        (
            "lncc_dvf",
            {"dvf_weight": 0.5},
            pair + (torch.randn(1, 3, 4, 3, 4, dtype=D64), torch.randn(1, 3, 4, 3, 4, dtype=D64)),
        ),
        ("dice_smooth", {}, pair + (torch.randn(1, 3, 4, 3, 4, dtype=D64),)),
    ]


@pytest.mark.parametrize("name, options, inputs", _gradcheck_cases())
def test_gradcheck(name: str, options: dict, inputs: tuple, device: torch.device) -> None:  # type: ignore[type-arg]
    loss = build_loss({"name": name, **options}).to(device)
    leaves = tuple(x.detach().clone().to(device).requires_grad_() for x in inputs)
    assert torch.autograd.gradcheck(lambda *xs: loss(*xs), leaves, eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------------------------- precision
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_finite(name: str, dtype: torch.dtype, device: torch.device) -> None:
    from losskit.testing.examples import example_for

    loss = build_loss(name).to(device)
    ex = example_for(loss, torch.Generator().manual_seed(0))
    args = tuple(a.to(device, dtype) for a in ex.args)
    kwargs = {k: v.to(device, dtype) for k, v in ex.kwargs.items()}
    ref = loss(*(a.to(device) for a in ex.args), **{k: v.to(device) for k, v in ex.kwargs.items()})
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = loss(*args, **kwargs)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert float(out) == pytest.approx(float(ref), rel=0.05, abs=0.05)


# ----------------------------------------------------------------------------------------------- seed 002
class _SeedDiceSmooth(torch.nn.Module):
    """Seed 002's example loss, transcribed: the reference for ``dice_smooth``."""

    def forward(self, warped, fixed, pred_dvf=None, gt_dvf=None):  # type: ignore[no-untyped-def]
        inter = (warped * fixed).sum()
        dice = 1 - (2 * inter + 1e-5) / (warped.sum() + fixed.sum() + 1e-5)
        total = 1.0 * dice
        if pred_dvf is not None:
            smooth = sum(torch.diff(pred_dvf, dim=d).pow(2).mean() for d in (2, 3, 4))
            total = total + 0.01 * smooth
        return total


def _batch(seed: int = 0, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    fixed = torch.rand(2, 1, 8, 8, 8, generator=g)
    warped = (fixed + 0.2 * torch.rand(2, 1, 8, 8, 8, generator=g)).clamp(0, 1).to(device).requires_grad_()
    ddf = (0.3 * torch.randn(2, 3, 8, 8, 8, generator=g)).to(device).requires_grad_()
    gt = (0.3 * torch.randn(2, 3, 8, 8, 8, generator=g)).to(device)
    return warped, fixed.to(device), ddf, gt


@pytest.mark.parametrize(
    "config",
    [
        {"name": "mse"},
        {"name": "lncc"},
        {"name": "lncc", "kernel_size": 9},
        {"name": "lncc_dvf"},
        {"name": "lncc_dvf", "dvf_weight": 0.1, "kernel_size": 5},
        {"name": "dice_smooth", "dice_weight": 1.0, "smooth_weight": 0.01},
    ],
)
@pytest.mark.parametrize("with_gt", [True, False])
def test_seed002_training_loop_call(config: dict, with_gt: bool, device: torch.device) -> None:  # type: ignore[type-arg]
    loss_fn = build_loss(dict(config)).to(device)
    warped, fixed, ddf, gt = _batch(device=device)
    out = call_loss(loss_fn, warped, fixed, pred_dvf=ddf, gt_dvf=gt if with_gt else None)
    assert out.dim() == 0 and torch.isfinite(out)
    out.backward()
    assert warped.grad is not None and torch.isfinite(warped.grad).all()
    name = config["name"]
    if name == "lncc_dvf":
        sim = build_loss({"name": "lncc", "kernel_size": config.get("kernel_size", 3)})(warped, fixed)
        expected = sim + (config.get("dvf_weight", 1.0) * F.mse_loss(ddf, gt) if with_gt else 0.0)
        torch.testing.assert_close(out, expected)
        assert (ddf.grad is not None) == with_gt
    if name == "dice_smooth":
        torch.testing.assert_close(out, _SeedDiceSmooth()(warped, fixed, ddf, gt))
        assert ddf.grad is not None and torch.isfinite(ddf.grad).all()


def test_seed002_yaml_config_and_terms(device: torch.device) -> None:
    pytest.importorskip("omegaconf")
    from omegaconf import OmegaConf

    cfg = OmegaConf.create("loss:\n  name: dice_smooth\n  dice_weight: 1.0\n  smooth_weight: 0.01\n")
    loss_fn = build_loss(OmegaConf.to_container(cfg.loss))
    warped, fixed, ddf, gt = _batch(1, device=device)
    torch.testing.assert_close(
        call_loss(loss_fn, warped, fixed, pred_dvf=ddf, gt_dvf=gt), _SeedDiceSmooth()(warped, fixed, ddf)
    )
    total, terms = build_loss({"name": "lncc_dvf"})(warped, fixed, ddf, gt, return_terms=True)
    assert set(terms) == {"lncc", "dvf"} and not terms["dvf"].requires_grad
    torch.testing.assert_close(total, terms["lncc"] + terms["dvf"], check_dtype=False)
    _, terms = build_loss({"name": "lncc_dvf"})(warped, fixed, ddf, return_terms=True)
    assert float(terms["dvf"]) == 0.0 and terms["dvf"].device == warped.device
    total, terms = build_loss({"name": "dice_smooth"})(warped, fixed, return_terms=True)
    assert float(terms["smooth"]) == 0.0 and set(terms) == {"dice", "smooth"}


def test_amp_safe_raises_smoothing_floors() -> None:
    loss = build_loss({"name": "lncc", "amp_safe": True})
    assert (loss.smooth_nr, loss.smooth_dr) == losskit.validate_smoothing_params(0.0, 1e-5)
    ds = build_loss({"name": "dice_smooth", "amp_safe": True})
    assert ds.smooth_dr == pytest.approx(1e-2)
    empty = torch.zeros(1, 1, 4, 4)
    assert float(build_loss("dice_smooth")(empty, empty)) == pytest.approx(0.0, abs=1e-6)


def test_lncc_double_backward(device: torch.device) -> None:
    p, t = _rand(1, 1, 5, 4, seed=1, device=device).requires_grad_(), _rand(1, 1, 5, 4, seed=2, device=device)

    for kernel_type in ("rectangular", "gaussian"):
        loss = build_loss({"name": "lncc", "kernel_size": 3, "kernel_type": kernel_type})
        assert torch.autograd.gradgradcheck(lambda x: loss(x, t), (p,), eps=1e-6, atol=1e-5)
