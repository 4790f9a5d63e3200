"""Issue 8 for the regression, metric-learning, distillation, generative and registration losses: every one has a
functional form that checks its options (did-you-mean) and tensors (``LossInputError``), any integer label dtype
gives the same result, every choice is a ``Literal``, and the losses made of terms follow the one per-term protocol.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
import torch

import losskit
import losskit.functional as LF
from losskit import ConfigError, LossInputError
from losskit.compose.terms import accepts_return_terms
from losskit.registration import LOSSES

from .test_policy_regression_metric_registration import DEVICE, METRIC, MINE, TERMS, _example, _total

# ------------------------------------------------------------------------------------------------ functional forms
FUNCTIONAL = {
    "mse": "mse_loss",
    "l1": "l1_loss",
    "smooth_l1": "smooth_l1_loss",
    "huber": "huber_loss",
    "gaussian_nll": "gaussian_nll_loss",
    "poisson_nll": "poisson_nll_loss",
    "weighted_mse": "weighted_mse_loss",
    "log_cosh": "log_cosh_loss",
    "charbonnier": "charbonnier_loss",
    "quantile": "quantile_loss",
    "barron": "barron_loss",
    "contrastive": "contrastive_loss",
    "triplet": "triplet_loss",
    "info_nce": "info_nce_loss",
    "supcon": "supcon_loss",
    "multi_similarity": "multi_similarity_loss",
    "arcface": "arcface_loss",
    "kl_div": "kl_div_loss",
    "kd": "kd_loss",
    "feature_distillation": "feature_distillation_loss",
    "vae": "vae_loss",
    "sae": "sae_loss",
    "vq": "vq_loss",
    "adversarial": "adversarial_loss",
    "lncc": "lncc_loss",
    "ncc": "global_ncc_loss",
    "mutual_information": "mutual_information_loss",
    "lncc_dvf": "lncc_dvf_loss",
    "dice_smooth": "dice_smooth_loss",
    "bending_energy": "bending_energy_loss",
    "diffusion": "diffusion_loss",
    "jacobian_folding": "jacobian_folding_loss",
}


def _functional_args(name: str, loss: torch.nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]]:
    ex = _example(loss)
    args, kwargs = tuple(ex.args), dict(ex.kwargs)
    if name == "arcface":
        args = (*args, loss.weight)
    if name in ("vae", "sae"):
        out, tgt = args
        extra = (out["mu"], out["logvar"]) if name == "vae" else (out["latents"],)
        args = (out["predictions"], tgt["predictions"], *extra)
    return args, kwargs


def test_every_loss_has_a_functional_form() -> None:
    assert sorted(FUNCTIONAL) == sorted(MINE)
    for name, fn in FUNCTIONAL.items():
        assert fn in LF.__all__, name


@pytest.mark.parametrize("name", MINE)
def test_functional_form_rejects_a_misspelled_reduction(name: str) -> None:
    """Was: 13 functional forms took ``reduction="meen"`` silently (the metric and generative ones among them)."""
    fn = getattr(LF, FUNCTIONAL[name])
    if "reduction" not in inspect.signature(fn).parameters:
        pytest.skip(f"{name} has no reduction")
    args, kwargs = _functional_args(name, losskit.build_loss(name).to(DEVICE))
    default = inspect.signature(fn).parameters["reduction"].default
    with pytest.raises(ValueError, match=rf"{default[:4]}.*did you mean '{default}'"):
        fn(*args, **kwargs, reduction=default[:-1] + default[-1] * 2)
    assert torch.isfinite(_total(fn(*args, **kwargs)))


@pytest.mark.parametrize(
    ("fn", "args", "option", "bad", "good"),
    [
        (LF.triplet_loss, (torch.randn(6, 4), torch.arange(6) % 2), "mining", "batchhard", "batch_hard"),
        (LF.lncc_loss, (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)), "kernel_type", "gausian", "gaussian"),
        (
            LF.mutual_information_loss,
            (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)),
            "kernel_type",
            "bspline",
            "b-spline",
        ),
        (
            LF.vae_loss,
            (torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 3), torch.randn(2, 3)),
            "reconstruction",
            "msee",
            "mse",
        ),
        (LF.sae_loss, (torch.randn(2, 4), torch.randn(2, 4), torch.rand(2, 6)), "normalize", "inputs", "input"),
        (LF.adversarial_loss, (torch.randn(2, 1, 4, 4),), "mode", "hingee", "hinge"),
        (LF.kd_loss, (torch.randn(2, 5), torch.randn(2, 5)), "reduction", "batchmaen", "batchmean"),
        (LF.kl_div_loss, (torch.randn(2, 5).log_softmax(1), torch.rand(2, 5)), "reduction", "batchmaen", "batchmean"),
    ],
)
def test_functional_form_rejects_a_misspelled_choice(
    fn: Any, args: tuple[Any, ...], option: str, bad: str, good: str
) -> None:
    with pytest.raises(ValueError, match=rf"{option}.*did you mean '{good}'"):
        fn(*args, **{option: bad})


@pytest.mark.parametrize(
    ("fn", "args", "loss_name"),
    [
        (LF.mse_loss, (torch.randn(4, 8), torch.randn(4, 7)), "mse"),
        (LF.l1_loss, (torch.randn(4, 8), torch.randn(8)), "l1"),
        (LF.kl_div_loss, (torch.randn(4, 5), torch.randn(4, 6)), "kl_div"),
        (LF.contrastive_loss, (torch.randn(4, 8), torch.randn(4)), "contrastive"),
        (LF.info_nce_loss, (torch.randn(4, 8), torch.randn(4, 7)), "info_nce"),
        (LF.multi_similarity_loss, (torch.randn(4, 8, 2), torch.arange(4)), "multi_similarity"),
        (LF.arcface_loss, (torch.randn(4, 8), torch.arange(4), torch.randn(5, 7)), "arcface"),
        (LF.arcface_loss, (torch.randn(4, 8), torch.tensor([0, 1, 2, 9]), torch.randn(5, 8)), "arcface"),
        (LF.kd_loss, (torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 7])), "kd"),
        (LF.feature_distillation_loss, (torch.randn(4, 5), torch.randn(4, 6)), "feature_distillation"),
        (LF.vae_loss, (torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 3), torch.randn(3, 3)), "vae"),
        (LF.vq_loss, (torch.randn(2, 4), torch.randn(2, 5)), "vq"),
        (LF.adversarial_loss, ([],), "adversarial"),
        (LF.lncc_dvf_loss, (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), None, torch.randn(1, 2, 8, 8)), "lncc_dvf"),
        (LF.dice_smooth_loss, (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 7)), "dice_smooth"),
        (LF.mutual_information_loss, (torch.rand(2, 0), torch.rand(2, 0)), "mutual_information"),
    ],
)
def test_functional_form_checks_its_tensors(fn: Any, args: tuple[Any, ...], loss_name: str) -> None:
    with pytest.raises(LossInputError, match=rf"^{loss_name}: "):
        fn(*args)


# ------------------------------------------------------------------------------------------------ labels
INT_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


@pytest.mark.parametrize("name", METRIC)
def test_any_integer_label_dtype_gives_the_same_result(name: str) -> None:
    """Was: arcface raised torch's ``gather(): Expected dtype int64 for index`` for int32/uint8 labels."""
    loss = losskit.build_loss(name, **({"embedding_size": 8, "num_classes": 4} if name == "arcface" else {}))
    x = torch.randn(12, 8, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(12) % 4
    ref = loss(x, labels)
    for dtype in INT_DTYPES:
        torch.testing.assert_close(loss(x, labels.to(dtype)), ref)


def test_kd_labels_of_any_integer_dtype_and_all_ignored() -> None:
    s, t, y = torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 4, 2, 1])
    kd = losskit.build_loss("kd", alpha=0.3)
    ref = kd(s, t, y)
    for dtype in INT_DTYPES:
        torch.testing.assert_close(kd(s, t, y.to(dtype)), ref)
    ignored = torch.full((4,), -100)
    s = s.requires_grad_()
    out = kd(s, t, ignored)  # the CE term of an all-ignored batch is 0, not NaN
    torch.testing.assert_close(out, 0.3 * kd(s, t))
    out.backward()
    assert torch.isfinite(s.grad).all()


# ------------------------------------------------------------------------------------------------ config surface
def _choice_params(fn: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(fn)
    return {p.name: hints.get(p.name) for p in inspect.signature(fn).parameters.values() if isinstance(p.default, str)}


@pytest.mark.parametrize("name", MINE)
def test_every_choice_parameter_is_a_literal(name: str) -> None:
    obj = LOSSES.get(name)
    for fn in (obj.__init__, getattr(LF, FUNCTIONAL[name])):
        for param, hint in _choice_params(fn).items():
            assert typing.get_origin(hint) is typing.Literal, f"{name}.{param}: {hint}"


@pytest.mark.parametrize(
    ("name", "option", "bad"),
    [
        ("triplet", "mining", "batchhard"),
        ("lncc", "kernel_type", "gausian"),
        ("vae", "reconstruction", "msee"),
        ("arcface", "margin_unit", "degree"),
        ("kd", "reduction", "batchmaen"),
        ("mse", "reduction", "meen"),
    ],
)
def test_misspelled_choice_is_a_config_error(name: str, option: str, bad: str) -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        losskit.build_loss({"name": name, option: bad})


def test_gather_loss_scale_is_checked() -> None:
    from losskit.distributed import GatherLoss

    with pytest.raises(ValueError, match="did you mean 'gradient'"):
        GatherLoss("supcon", scale="gradiant")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ per-term protocol
@pytest.mark.parametrize("name", sorted(TERMS))
def test_return_terms_is_a_forward_argument(name: str) -> None:
    """Was: lncc_dvf and dice_smooth took ``return_terms`` in the constructor only (two private ``_terms`` twins)."""
    loss = losskit.build_loss(name).to(DEVICE)
    assert accepts_return_terms(loss)
    assert "return_terms" not in inspect.signature(type(loss).__init__).parameters
    ex = _example(loss)
    total = loss(*ex.args, **ex.kwargs)
    same, terms = loss(*ex.args, **ex.kwargs, return_terms=True)
    assert isinstance(total, torch.Tensor)
    torch.testing.assert_close(same, total)
    assert set(terms) == TERMS[name] and all(not v.requires_grad for v in terms.values())
    fn = getattr(LF, FUNCTIONAL[name])
    args, kwargs = _functional_args(name, loss)
    f_total, f_terms = fn(*args, **kwargs, return_terms=True)
    assert set(f_terms) == TERMS[name]


def test_private_twins_are_gone() -> None:
    from losskit.zoo import generative, image_registration

    for module in (generative, image_registration):
        assert not hasattr(module, "_terms") and not hasattr(module, "_smoothing")
