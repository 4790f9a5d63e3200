"""linear_kd and linear_jsd (issue 13): values and student gradients equal the unfused computation (float64), the
teacher gets no gradient, memory stays chunk-sized, the zoo's edge cases, bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.functional import kd_loss, linear_jsd_loss, linear_kd_loss
from losskit.testing import check_loss
from losskit.zoo.large_output import LinearJSDLoss, LinearKDLoss

from .test_large_output import _MaxNumel

IGNORE = -100
Inputs = tuple[Any, ...]  # student hidden, weight, bias, teacher hidden, weight, bias, target


def _inputs(rows: tuple[int, ...] = (9,), hs: int = 5, ht: int = 6, v: int = 13, dtype: Any = torch.float64) -> Inputs:
    g = torch.Generator().manual_seed(0)
    student_h = torch.randn(*rows, hs, generator=g, dtype=dtype).requires_grad_()
    student_w = torch.randn(v, hs, generator=g, dtype=dtype).requires_grad_()
    student_b = torch.randn(v, generator=g, dtype=dtype).requires_grad_()
    teacher_h = torch.randn(*rows, ht, generator=g, dtype=dtype).requires_grad_()
    teacher_w = torch.randn(v, ht, generator=g, dtype=dtype).requires_grad_()
    teacher_b = torch.randn(v, generator=g, dtype=dtype)
    target = torch.randint(0, v, rows, generator=g)
    if target.numel() > 2:
        target.view(-1)[2] = IGNORE
    return student_h, student_w, student_b, teacher_h, teacher_w, teacher_b, target


def jsd_reference(s: torch.Tensor, u: torch.Tensor, beta: float, temperature: float) -> torch.Tensor:
    """TRL's ``generalized_jsd_loss`` per row, written out (p the teacher's, q the student's tempered softmax)."""
    log_q, log_p = F.log_softmax(s / temperature, -1), F.log_softmax(u / temperature, -1)
    if beta == 0:
        return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(-1)
    if beta == 1:
        return F.kl_div(log_p, log_q, reduction="none", log_target=True).sum(-1)
    log_m = torch.logsumexp(torch.stack([log_q + math.log(1 - beta), log_p + math.log(beta)]), 0)
    kl_p = F.kl_div(log_m, log_p, reduction="none", log_target=True).sum(-1)
    kl_q = F.kl_div(log_m, log_q, reduction="none", log_target=True).sum(-1)
    return beta * kl_p + (1 - beta) * kl_q


def unfused(kind: str, x: Inputs, target: torch.Tensor | None, reduction: str, **o: Any) -> torch.Tensor:
    """The unfused computation on ``F.linear`` logits: the soft term per row, the CE mixed in over the kept rows."""
    sh, sw, sb, th, tw, tb, _ = x
    s, u = F.linear(sh, sw, sb), F.linear(th, tw, tb).detach()
    temperature = o.get("temperature", 4.0 if kind == "kd" else 1.0)
    if kind == "kd":
        soft = temperature**2 * (
            F.softmax(u / temperature, -1) * (F.log_softmax(u / temperature, -1) - F.log_softmax(s / temperature, -1))
        ).sum(-1)
    else:
        soft = jsd_reference(s, u, o.get("beta", 0.5), temperature)
    if target is None:
        rows, valid = soft, torch.ones(soft.shape, dtype=torch.bool)
    else:
        valid = target != IGNORE
        ce = F.cross_entropy(s.flatten(0, -2), torch.where(valid, target, 0).flatten(), reduction="none")
        alpha = o.get("alpha", 0.5)
        rows = torch.where(valid, alpha * soft + (1 - alpha) * ce.reshape(soft.shape), 0.0)
    rows = torch.as_tensor(rows)
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.sum() / valid.sum()


CASES = [
    ("kd", {}),
    ("kd", {"temperature": 1.0, "alpha": 0.2}),
    ("jsd", {}),
    ("jsd", {"beta": 0.0, "temperature": 2.0}),
    ("jsd", {"beta": 0.3, "alpha": 0.9}),
    ("jsd", {"beta": 1.0}),
]


def _call(kind: str, x: Inputs, target: torch.Tensor | None, bias: bool, **o: Any) -> torch.Tensor:
    sh, sw, sb, th, tw, tb, _ = x
    fn: Any = linear_kd_loss if kind == "kd" else linear_jsd_loss
    biases: dict[str, Any] = {"student_bias": sb, "teacher_bias": tb} if bias else {}
    out: torch.Tensor = fn(sh, sw, th, tw, target, **biases, **o)
    return out


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
@pytest.mark.parametrize(("kind", "options"), CASES)
@pytest.mark.parametrize("with_target", [False, True])
@pytest.mark.parametrize("chunk_size", [2, None])
def test_values_and_student_gradients_equal_the_unfused_computation(
    reduction: str, kind: str, options: dict[str, Any], with_target: bool, chunk_size: int | None
) -> None:
    x = _inputs(rows=(3, 3))
    target = x[-1] if with_target else None
    ours = _call(kind, x, target, True, reduction=reduction, chunk_size=chunk_size, **options)
    ref = unfused(kind, x, target, reduction, **options)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-12)
    upstream = torch.rand(ref.shape, dtype=ref.dtype, generator=torch.Generator().manual_seed(1))
    student = [x[0], x[1], x[2]]
    got = torch.autograd.grad((ours * upstream).sum(), student)
    want = torch.autograd.grad((ref * upstream).sum(), student)
    for name, a, e in zip(("hidden", "weight", "bias"), got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-12, msg=f"grad of the student's {name}")


def test_linear_kd_is_kd_on_the_logits_without_a_target() -> None:
    sh, sw, sb, th, tw, tb, _ = _inputs()
    for reduction in ("batchmean", "sum", "none"):
        ours = LinearKDLoss(temperature=3.0, reduction=reduction, chunk_size=4)(sh, sw, th, tw, None, sb, tb)
        ref = kd_loss(F.linear(sh, sw, sb), F.linear(th, tw, tb), temperature=3.0, reduction=reduction)
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-12)


def test_the_teacher_gets_no_gradient_and_no_bias_works() -> None:
    sh, sw, _, th, tw, _, target = _inputs()
    for loss in (LinearKDLoss(), LinearJSDLoss(beta=0.2)):
        out = loss(sh, sw, th, tw, target)
        grads = torch.autograd.grad(out, (sh, sw, th, tw), allow_unused=True)
        assert grads[2] is None and grads[3] is None and grads[0] is not None and grads[1] is not None
        torch.testing.assert_close(
            out,
            unfused(
                "kd" if isinstance(loss, LinearKDLoss) else "jsd",
                (sh, sw, None, th, tw, None, target),
                target,
                "batchmean",
                **({"beta": 0.2} if isinstance(loss, LinearJSDLoss) else {}),
            ),
        )


@pytest.mark.parametrize("kind", ["kd", "jsd"])
def test_gradcheck(kind: str) -> None:
    sh, sw, sb, th, tw, tb, target = _inputs(rows=(4,), hs=3, ht=2, v=5)
    fn = linear_kd_loss if kind == "kd" else linear_jsd_loss

    def f(sh: torch.Tensor, sw: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
        extra: dict[str, Any] = {"beta": 0.3} if kind == "jsd" else {}
        return fn(sh, sw, th, tw, target, student_bias=sb, teacher_bias=tb, temperature=2.0, chunk_size=3, **extra)

    # the second backward of gradcheck recomputes (another summation order than the forward's): nondet_tol
    assert torch.autograd.gradcheck(f, (sh, sw, sb), nondet_tol=1e-12)


@pytest.mark.parametrize("kind", ["kd", "jsd"])
def test_bf16_autocast_within_the_unfused_bf16_error(kind: str) -> None:
    ours_err, unfused_err = [], []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        sh, th = torch.randn(256, 32, generator=g), torch.randn(256, 48, generator=g)
        sw, tw = torch.randn(500, 32, generator=g) / 4, torch.randn(500, 48, generator=g) / 4
        target = torch.randint(0, 500, (256,), generator=g)
        x = (sh, sw, None, th, tw, None, target)
        exact = unfused(
            kind, tuple(t.double() if t is not None and t.is_floating_point() else t for t in x), target, "batchmean"
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = _call(kind, x, target, False, chunk_size=64)
            ref = unfused(kind, x, target, "batchmean")
        assert ours.dtype == torch.float32
        ours_err.append((ours.double() - exact).abs().item())
        unfused_err.append((ref.double() - exact).abs().item())
    assert max(ours_err) <= 2 * max(unfused_err), (ours_err, unfused_err)


@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
@pytest.mark.parametrize("loss", [LinearKDLoss, LinearJSDLoss])
def test_all_ignored_and_empty_are_zero_with_zero_gradient(loss: Any, reduction: str) -> None:
    for rows in ((6,), (0,)):
        sh, sw, sb, th, tw, tb, target = _inputs(rows=rows)
        out = loss(reduction=reduction)(sh, sw, th, tw, torch.full_like(target, IGNORE), sb, tb)
        assert out.item() == 0 and out.requires_grad
        torch.autograd.backward(out)
        assert all(t.grad is not None and (t.grad == 0).all() for t in (sh, sw, sb))


@pytest.mark.parametrize("kind", ["kd", "jsd"])
def test_never_holds_the_logits(kind: str) -> None:
    n, hdim, v = 256, 8, 512
    sh, sw, sb, th, tw, tb, target = _inputs(rows=(n,), hs=hdim, ht=hdim, v=v, dtype=torch.float32)
    with _MaxNumel() as seen:
        torch.autograd.backward(_call(kind, (sh, sw, sb, th, tw, tb, target), target, True, chunk_size=16))
    assert seen.largest <= max(16 * v, v * hdim, n * hdim), seen.largest


def test_nan_in_gives_nan_out_and_check_loss() -> None:
    sh, sw, sb, th, tw, tb, target = _inputs()
    sh.detach()[0, 0] = float("nan")
    assert torch.isnan(linear_kd_loss(sh, sw, th, tw)) and torch.isnan(linear_jsd_loss(sh, sw, th, tw, target))
    check_loss("linear_kd", dynamic=False)  # the row-chunk loop follows N (test_conformance)
    check_loss("linear_jsd", dynamic=False)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (lambda sh, sw, th, tw, t: (sh, sw[:, :-1], th, tw, t), "matching H"),
        (lambda sh, sw, th, tw, t: (sh, sw, th[:-1], tw, t), "match the student's"),
        (lambda sh, sw, th, tw, t: (sh, sw, th, tw[:-1], t), "match the student's"),
        (lambda sh, sw, th, tw, t: (sh, sw, th, tw, t[:-1]), "expected target of shape"),
        (lambda sh, sw, th, tw, t: (sh, sw, th, tw, torch.where(t == IGNORE, t, 13)), "out of range for 13 classes"),
        (lambda sh, sw, th, tw, t: (sh, sw, th, tw, t.float()), "integer class indices"),
    ],
    ids=["H", "teacher-rows", "teacher-vocab", "target-shape", "label-range", "float-target"],
)
@pytest.mark.parametrize("kind", ["kd", "jsd"])
def test_bad_input_names_the_loss(kind: str, case: Any, message: str) -> None:
    sh, sw, _, th, tw, _, target = (t.detach() if t.is_floating_point() else t for t in _inputs())
    fn = linear_kd_loss if kind == "kd" else linear_jsd_loss
    with pytest.raises(losskit.LossInputError, match=f"linear_{kind}") as info:
        fn(*case(sh, sw, th, tw, target))
    assert message in str(info.value)


@pytest.mark.parametrize(
    "options", [{"temperature": 0.0}, {"alpha": 1.5}, {"chunk_size": 0}, {"reduction": "batchmaen"}, {"beta": 2.0}]
)
def test_bad_options_are_value_errors(options: dict[str, Any]) -> None:
    sh, sw, _, th, tw, _, _ = _inputs()
    with pytest.raises(ValueError, match="linear_jsd"):
        linear_jsd_loss(sh, sw, th, tw, **options)
    with pytest.raises(ValueError, match="linear_jsd"):
        LinearJSDLoss(**options)
    if "beta" not in options:
        with pytest.raises(ValueError, match="linear_kd"):
            LinearKDLoss(**options)
