"""Self-supervised and vision-language losses (barlow_twins, vicreg, negative_cosine, dcl, siglip, dino): parity with
MONAI ``BarlowTwinsLoss`` and with the authors' / lightly / open_clip formulas rewritten here independently, the
DINO centre (EMA, eval freeze, state_dict and pickle round trips, two training steps then restore), gradcheck,
check_loss and bad input. The 2-process gloo equivalence through ``GatherLoss`` is in
tests/test_distributed_self_supervised.py."""

from __future__ import annotations

import io
import math
import pickle
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from monai.losses.barlow_twins import BarlowTwinsLoss as MonaiBarlowTwins
from torch import Tensor, nn

import losskit
from losskit import LossInputError, build_loss
from losskit.functional import self_supervised as SS
from losskit.functional import vision_language as VL
from losskit.testing import check_loss
from losskit.zoo.self_supervised import DINOLoss, SigLipLoss

NAMES = ("barlow_twins", "vicreg", "negative_cosine", "dcl", "siglip", "dino")


def _views(n: int = 8, d: int = 6, seed: int = 0, noise: float = 0.5) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    return a, a + noise * torch.randn(n, d, generator=g, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- references


def _vicreg_ref(x: Tensor, y: Tensor, sim: float, std: float, cov: float, gamma: float, eps: float) -> list[Tensor]:
    """facebookresearch/vicreg main_vicreg.py ``VICReg.forward`` (gamma made a parameter), with its terms."""
    n, d = x.shape
    repr_loss = F.mse_loss(x, y)
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    std_x, std_y = torch.sqrt(x.var(dim=0) + eps), torch.sqrt(y.var(dim=0) + eps)
    std_loss = torch.mean(F.relu(gamma - std_x)) / 2 + torch.mean(F.relu(gamma - std_y)) / 2
    cov_x, cov_y = (x.T @ x) / (n - 1), (y.T @ y) / (n - 1)

    def off_diagonal(m: Tensor) -> Tensor:
        return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()

    cov_loss = off_diagonal(cov_x).pow(2).sum().div(d) + off_diagonal(cov_y).pow(2).sum().div(d)
    return [sim * repr_loss + std * std_loss + cov * cov_loss, repr_loss, std_loss, cov_loss]


def _dcl_lightly(out0: Tensor, out1: Tensor, temperature: float, sigma: float | None) -> Tensor:
    """lightly ``DCLLoss`` / ``DCLWLoss`` (single process): both directions averaged, boolean-mask negatives."""
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)

    def one(a: Tensor, b: Tensor) -> Tensor:
        n = a.shape[0]
        sim_00 = a @ a.T / temperature
        sim_01 = a @ b.T / temperature
        positive = -sim_01.diag()
        if sigma is not None:
            w = 2 - n * F.softmax((a.detach() * b.detach()).sum(1) / sigma, dim=0)
            positive = positive * w
        off = ~torch.eye(n, dtype=torch.bool)
        neg = torch.cat([sim_01[off].view(n, -1), sim_00[off].view(n, -1)], dim=1)
        return (positive + torch.logsumexp(neg, dim=1)).mean()

    return 0.5 * (one(out0, out1) + one(out1, out0))


def _dcl_authors(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """Yeh et al.'s ``DCL.__call__`` (one direction, on normalised inputs; SMALL_NUM = log(1e-45))."""
    cross = z1 @ z2.t()
    positive = -torch.diag(cross) / temperature
    neg_similarity = torch.cat((z1 @ z1.t(), cross), dim=1) / temperature
    neg_mask = torch.eye(z1.size(0), dtype=z1.dtype).repeat(1, 2)
    return (positive + torch.logsumexp(neg_similarity + neg_mask * math.log(1e-45), dim=1)).mean()


def _siglip_open_clip(img: Tensor, txt: Tensor, logit_scale: Tensor, logit_bias: Tensor) -> Tensor:
    """open_clip ``SigLipLoss._loss`` with ``logit_scale`` already exponentiated (as open_clip's model passes it)."""
    logits = logit_scale * img @ txt.T + logit_bias
    labels = 2 * torch.eye(img.shape[0], dtype=img.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / img.shape[0]


def _dino_authors(student: Tensor, teacher: Tensor, center: Tensor, ncrops: int, s_t: float, t_t: float) -> Tensor:
    """facebookresearch/dino ``DINOLoss.forward`` at a fixed teacher temperature (2 global teacher crops)."""
    student_out = (student / s_t).chunk(ncrops)
    teacher_out = F.softmax((teacher - center) / t_t, dim=-1).detach().chunk(2)
    total, n_terms = torch.zeros((), dtype=student.dtype), 0
    for iq, q in enumerate(teacher_out):
        for v in range(len(student_out)):
            if v == iq:
                continue
            total = total + torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1).mean()
            n_terms += 1
    return total / n_terms


# ---------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("lambd", [5e-3, 0.1, 0.0])
def test_barlow_twins_matches_monai(lambd: float) -> None:
    x, y = _views(16, 5)
    want = MonaiBarlowTwins(lambd=lambd)(x, y)
    # MONAI multiplies by lambd as a float32 tensor (0.1 -> 0.10000000149): 1e-7, not float64's 1e-10
    torch.testing.assert_close(build_loss("barlow_twins", lambd=lambd)(x, y), want, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(losskit.build_loss("BarlowTwinsLoss", lambd=lambd)(x, y), want, rtol=1e-7, atol=1e-12)
    exact = MonaiBarlowTwins(lambd=0.125)(x, y)  # a float32-exact lambd: float64 agreement
    torch.testing.assert_close(build_loss("barlow_twins", lambd=0.125)(x, y), exact, rtol=1e-12, atol=1e-12)


def test_barlow_twins_perfect_views_are_near_zero() -> None:
    x, _ = _views(64, 4)
    x = torch.linalg.qr(x - x.mean(0))[0]  # decorrelated features: C ~ identity
    assert float(build_loss("barlow_twins")(x, x)) < 1e-2


@pytest.mark.parametrize(
    "opts", [{}, {"sim_coeff": 1.0, "var_coeff": 3.0, "cov_coeff": 0.5, "gamma": 2.0, "eps": 1e-3}]
)
def test_vicreg_matches_the_authors_code(opts: dict[str, Any]) -> None:
    x, y = _views(12, 5)
    full = {"sim_coeff": 25.0, "var_coeff": 25.0, "cov_coeff": 1.0, "gamma": 1.0, "eps": 1e-4, **opts}
    total, inv, var, cov = _vicreg_ref(x, y, *full.values())
    got, terms = build_loss("vicreg", **opts)(x, y, return_terms=True)
    torch.testing.assert_close(got, total, rtol=1e-10, atol=1e-12)
    for name, want in (("invariance", inv), ("variance", var), ("covariance", cov)):
        torch.testing.assert_close(terms[name], want, rtol=1e-10, atol=1e-12)
    assert not any(t.requires_grad for t in terms.values())


def test_negative_cosine_matches_lightly_and_stops_the_gradient() -> None:
    p, z = _views(6, 4)
    p, z = p.requires_grad_(), z.clone().requires_grad_()
    out = build_loss("negative_cosine")(p, z)
    torch.testing.assert_close(out, -F.cosine_similarity(p, z.detach(), dim=1, eps=1e-8).mean())
    out.backward()
    assert z.grad is None and p.grad is not None
    z.grad = None
    build_loss("negative_cosine", stop_gradient=False)(p, z).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_negative_cosine_symmetric_is_simsiam() -> None:
    p, z = _views(8, 4)  # rows 0-3 view 1, rows 4-7 view 2

    def d(a: Tensor, b: Tensor) -> Tensor:
        return -F.cosine_similarity(a, b, dim=1).mean()

    want = 0.5 * d(p[:4], z[4:]) + 0.5 * d(p[4:], z[:4])
    torch.testing.assert_close(build_loss("negative_cosine", symmetric=True)(p, z), want)
    none = build_loss("negative_cosine", symmetric=True, reduction="none")(p, z)
    assert none.shape == (8,)
    torch.testing.assert_close(none.mean(), want)


@pytest.mark.parametrize("sigma", [None, 0.5])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_dcl_matches_lightly(temperature: float, sigma: float | None) -> None:
    x, y = _views(7, 5, noise=1.0)
    got = build_loss("dcl", temperature=temperature, sigma=sigma)(x, y)
    torch.testing.assert_close(got, _dcl_lightly(x, y, temperature, sigma), rtol=1e-10, atol=1e-12)


def test_dcl_is_the_mean_of_the_authors_two_directions() -> None:
    x, y = _views(6, 4, noise=1.0)
    u, v = F.normalize(x, dim=1), F.normalize(y, dim=1)
    want = 0.5 * (_dcl_authors(u, v, 0.1) + _dcl_authors(v, u, 0.1))
    torch.testing.assert_close(build_loss("dcl")(x, y), want, rtol=1e-10, atol=1e-12)
    none = build_loss("dcl", reduction="none")(x, y)
    assert none.shape == (12,)
    torch.testing.assert_close(none[:6].mean(), _dcl_authors(u, v, 0.1), rtol=1e-10, atol=1e-12)


def test_dcl_one_sample_has_no_negative_and_gives_zero() -> None:
    x, y = _views(1, 4)
    x.requires_grad_()
    out = build_loss("dcl")(x, y)
    out.backward()
    assert out == 0 and x.grad is not None and (x.grad == 0).all()


@pytest.mark.parametrize("normalize", [True, False])
def test_siglip_matches_open_clip(normalize: bool) -> None:
    img, txt = _views(6, 5, noise=1.0)
    loss = cast(SigLipLoss, build_loss("siglip", normalize=normalize).double())
    with torch.no_grad():
        loss.logit_scale.fill_(1.3)
        loss.logit_bias.fill_(-2.0)
    a, b = (F.normalize(img, dim=1), F.normalize(txt, dim=1)) if normalize else (img, txt)
    want = _siglip_open_clip(
        a, b, torch.tensor(1.3, dtype=torch.float64).exp(), torch.tensor(-2.0, dtype=torch.float64)
    )
    torch.testing.assert_close(loss(img, txt), want, rtol=1e-10, atol=1e-12)
    none = build_loss("siglip", reduction="none").double()(img, txt)
    assert none.shape == (6, 6)


def test_siglip_temperature_and_bias_are_learnable_parameters() -> None:
    loss = build_loss("SigLipLoss")
    names = {n: p for n, p in loss.named_parameters()}
    assert set(names) == {"logit_scale", "logit_bias"}
    torch.testing.assert_close(names["logit_scale"].detach(), torch.tensor(math.log(10.0)))
    torch.testing.assert_close(names["logit_bias"].detach(), torch.tensor(-10.0))
    img, txt = _views(5, 4)
    loss(img.float(), txt.float()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad) and p.grad != 0 for p in loss.parameters())
    assert set(loss.state_dict()) == {"logit_scale", "logit_bias"}


def test_dino_matches_the_authors_code_multi_crop() -> None:
    g = torch.Generator().manual_seed(3)
    n, k = 5, 7
    student = [torch.randn(n, k, generator=g, dtype=torch.float64) for _ in range(4)]  # 2 global + 2 local crops
    teacher = [torch.randn(n, k, generator=g, dtype=torch.float64) for _ in range(2)]
    center = torch.randn(1, k, generator=g, dtype=torch.float64)
    want = _dino_authors(torch.cat(student), torch.cat(teacher), center, 4, 0.1, 0.04)
    torch.testing.assert_close(VL.dino_loss(student, teacher, center), want, rtol=1e-10, atol=1e-12)
    loss = cast(DINOLoss, build_loss("dino", output_dim=k).double())
    loss.center.copy_(center)
    torch.testing.assert_close(loss(student, teacher), want, rtol=1e-10, atol=1e-12)
    # the authors' update_center: EMA of the mean over every teacher output
    torch.testing.assert_close(loss.center, center * 0.9 + torch.cat(teacher).mean(0, keepdim=True) * 0.1)


def test_dino_two_tensors_are_one_pair() -> None:
    s, t = _views(4, 6)
    want = -(F.softmax(t / 0.04, dim=1) * F.log_softmax(s / 0.1, dim=1)).sum(1).mean()
    torch.testing.assert_close(VL.dino_loss(s, t), want)


# ---------------------------------------------------------------------------------------------- DINO state


def _dino_steps(loss: nn.Module, seeds: list[int], k: int) -> list[Tensor]:
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        student = nn.Parameter(torch.randn(6, k, generator=g))
        teacher = [torch.randn(6, k, generator=g) + 2.0, torch.randn(6, k, generator=g) + 2.0]
        value = loss([student, student.flip(0)], teacher)
        value.backward()
        out.append(value.detach())
    return out


def test_dino_state_dict_after_two_steps_restores_the_next_value() -> None:
    k = 8
    loss = cast(DINOLoss, build_loss("dino", output_dim=k))
    _dino_steps(loss, [0, 1], k)
    assert loss.center.abs().sum() > 0  # the centre moved
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_loss("dino", output_dim=k)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(fresh.center, loss.center)
    next_value = _dino_steps(loss, [2], k)[0]
    torch.testing.assert_close(_dino_steps(fresh, [2], k)[0], next_value)
    # a fresh build without the state gives another value (the test can fail)
    assert not torch.allclose(_dino_steps(build_loss("dino", output_dim=k), [2], k)[0], next_value)
    restored = pickle.loads(pickle.dumps(loss))
    torch.testing.assert_close(restored.center, loss.center)
    assert "center" in loss.state_dict()


def test_dino_centre_frozen_in_eval_and_on_empty_batch() -> None:
    loss = cast(DINOLoss, build_loss("dino", output_dim=4))
    loss.eval()
    loss(torch.randn(3, 4), torch.randn(3, 4) + 5)
    assert (loss.center == 0).all()
    loss.train()
    loss(torch.randn(0, 4), torch.randn(0, 4))
    assert (loss.center == 0).all() and torch.isfinite(loss.center).all()
    loss(torch.randn(3, 4), torch.full((3, 4), 5.0))
    torch.testing.assert_close(loss.center, torch.full((1, 4), 0.5))


# ---------------------------------------------------------------------------------------------- generic


@pytest.mark.parametrize("name", NAMES)
def test_check_loss(name: str) -> None:
    report = check_loss(name)
    assert "deterministic" in report.passed and "pickle and state_dict round trip" in report.passed


def _gradcheck_cases() -> list[Any]:
    return [
        pytest.param(lambda a, b: SS.barlow_twins_loss(a, b, lambd=0.3), id="barlow_twins"),
        pytest.param(lambda a, b: SS.vicreg_loss(a, b, gamma=2.0), id="vicreg"),
        pytest.param(lambda a, b: SS.negative_cosine_loss(a, b, stop_gradient=False, symmetric=False), id="neg_cos"),
        pytest.param(lambda a, b: SS.dcl_loss(a, b, temperature=0.5), id="dcl"),
        pytest.param(lambda a, b: VL.siglip_loss(a, b, torch.tensor(0.5, dtype=a.dtype), -1.0), id="siglip"),
    ]


def test_gradcheck_dino_student() -> None:
    """The teacher gets no gradient by design (stop-gradient): gradcheck the student."""
    s, t = _views(5, 3, noise=1.0)
    fn = lambda a: VL.dino_loss([a, a.flip(0)], [t, t.flip(0)], t.mean(0), student_temperature=0.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (s.requires_grad_(),))


def test_dclw_gradient_matches_lightly() -> None:
    """DCLW's weight is a constant (lightly detaches it), so finite differences cannot check it: compare the
    autograd gradient with the reference's instead."""
    x, y = _views(6, 4, noise=1.0)
    grads = []
    for fn in (lambda a, b: SS.dcl_loss(a, b, sigma=0.5), lambda a, b: _dcl_lightly(a, b, 0.1, 0.5)):
        a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
        fn(a, b).backward()  # type: ignore[no-untyped-call]
        grads.append((a.grad, b.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", _gradcheck_cases())
def test_gradcheck(fn: Any) -> None:
    x, y = _views(5, 3, noise=1.0)
    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), y.requires_grad_()))


def test_gradcheck_siglip_parameters() -> None:
    x, y = _views(4, 3, noise=1.0)
    t, b = torch.tensor(0.3, dtype=torch.float64), torch.tensor(-1.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(VL.siglip_loss, (x, y, t.requires_grad_(), b.requires_grad_()))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_names_the_loss(name: str) -> None:
    opts: dict[str, Any] = {"output_dim": 4} if name == "dino" else {}
    loss = build_loss(name, **opts)
    x = torch.randn(6, 4)
    for bad in ((x, torch.randn(6, 5)), (x[None], x[None]), (x, torch.ones(6, 4, dtype=torch.long))):
        with pytest.raises(LossInputError, match=name):
            loss(*bad)


@pytest.mark.parametrize("name", ["barlow_twins", "vicreg"])
def test_one_sample_cannot_be_standardised(name: str) -> None:
    with pytest.raises(LossInputError, match=f"{name}.*at least 2"):
        build_loss(name)(torch.randn(1, 4), torch.randn(1, 4))


def test_option_errors() -> None:
    for name, opts in (
        ("barlow_twins", {"lambd": -1.0}),
        ("vicreg", {"eps": 0.0}),
        ("dcl", {"sigma": 0.0}),
        ("dino", {"center_momentum": 1.5}),
        ("negative_cosine", {"reduction": "meen"}),
    ):
        with pytest.raises(ValueError, match=name):
            build_loss(name, **opts)
    with pytest.raises(LossInputError, match="symmetric"):
        build_loss("negative_cosine", symmetric=True)(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(LossInputError, match="dino"):
        build_loss("dino", output_dim=4)([torch.randn(3, 4)], [torch.randn(3, 4), torch.randn(3, 4)])


def test_task_and_aliases() -> None:
    assert set(NAMES) <= set(losskit.list_losses(task="self_supervised"))
    for alias, name in (
        ("BarlowTwinsLoss", "barlow_twins"),
        ("VICRegLoss", "vicreg"),
        ("SigLipLoss", "siglip"),
        ("NegativeCosineSimilarity", "negative_cosine"),
        ("DCLLoss", "dcl"),
        ("DINOLoss", "dino"),
    ):
        assert build_loss(alias).loss_name == name
