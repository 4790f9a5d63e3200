"""Every usage example of the four seed documents, translated to losskit's API (see README's mapping table).

The seeds are the documentation of four real loss registries (shared/seeds/). Where a seed registers its own
class under a name losskit's zoo now ships (seed 000's DiceLoss, seed 001's focal_tversky, seed 003's
VAELoss), the seed's project would own that name: those tests run in a registry scope without the built-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import losskit
from losskit import build_loss, call_loss, describe_loss, has_loss, list_losses, loss_info, register_loss


def _list_with_tags() -> dict[str, tuple[str, ...]]:
    """Seed 000's ``list_with_tags()``; a plugin that fails to import is reported by name, with no tags."""
    out: dict[str, tuple[str, ...]] = {}
    for name in list_losses():
        try:
            out[name] = describe_loss(name).tags
        except losskit.RegistrationError:
            out[name] = ()
    return out


def _without(*names: str) -> None:
    for name in names:
        if has_loss(name):
            losskit.unregister_loss(name)


# ------------------------------------------------------------------------------------------ seed 000
class TestSeed000ClassRegistryWithTags:
    def test_register_list_filter_get_instantiate(self, scoped_registry: losskit.Registry) -> None:
        _without("weighted_mse_loss", "DiceLoss", "focal_loss", "combined_dice_bce", "CombinedDiceBCE", "BadLoss")

        @register_loss("weighted_mse_loss", tags=["regression"])
        class WeightedMSELoss(nn.Module):
            def __init__(self, weight: float = 1.0) -> None:
                super().__init__()
                self.weight = weight

            def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                return (F.mse_loss(predictions, targets, reduction="none") * self.weight).mean()

        @register_loss(tags=["segmentation", "dice"])
        class DiceLoss(nn.Module):
            def __init__(self, smooth: float = 1.0) -> None:
                super().__init__()
                self.smooth = smooth

            def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                p, t = predictions.reshape(-1), targets.reshape(-1)
                return 1.0 - (2.0 * (p * t).sum() + self.smooth) / (p.sum() + t.sum() + self.smooth)

        @register_loss(name="focal_loss", tags=["segmentation", "imbalanced"])
        class FocalLoss(nn.Module):
            def __init__(self, alpha: float = 1.0, gamma: float = 2.0, reduction: str = "mean") -> None:
                super().__init__()
                self.alpha, self.gamma, self.reduction = alpha, gamma, reduction

            def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                ce = F.cross_entropy(predictions, targets, reduction="none")
                return (self.alpha * (1 - torch.exp(-ce)) ** self.gamma * ce).mean()

        # loss_registry.list() / list_with_tags() / filter_by_tag() / get()
        assert {"weighted_mse_loss", "DiceLoss", "focal_loss"} <= set(list_losses())
        with_tags = _list_with_tags()
        assert with_tags["DiceLoss"] == ("segmentation", "dice")
        assert set(list_losses(tag="segmentation")) >= {"DiceLoss", "focal_loss"}
        assert "weighted_mse_loss" in list_losses(task="regression")  # a task name given as a tag counts
        assert losskit.LOSSES.get("DiceLoss") is DiceLoss
        for loss_name in list_losses(tag="segmentation"):  # seed 000: get each one and read its doc
            loss_class = losskit.LOSSES.get(loss_name)
            assert isinstance(loss_class, type) and (loss_class.__doc__ is None or isinstance(loss_class.__doc__, str))
        # YAML of seed 000, _target_ naming registered names, a CombinedLoss with weights
        loss = build_loss(
            {
                "_target_": "CombinedLoss",
                "losses": {
                    "dice": {"_target_": "DiceLoss", "smooth": 1.0},
                    "focal": {"_target_": "focal_loss", "alpha": 1.0, "gamma": 2.0},
                },
                "weights": [0.5, 0.5],
            }
        )
        assert isinstance(loss.terms["dice"], DiceLoss) and isinstance(loss.terms["focal"], FocalLoss)
        # The seed's DiceLoss takes one probability channel and its FocalLoss multiclass logits, so its own
        # combination cannot share one input: call each term as the seed's tests do.
        probs, mask = torch.rand(2, 1, 8, 8), torch.randint(0, 2, (2, 8, 8)).float()
        assert torch.isfinite(loss.terms["dice"](probs, mask))
        assert torch.isfinite(loss.terms["focal"](torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))))
        single = build_loss({"losses": {"dice": {"_target_": "DiceLoss", "smooth": 1.0}}, "weights": [0.5]})
        total, terms = single(probs, mask, return_terms=True)
        torch.testing.assert_close(total, 0.5 * terms["dice"])

    def test_the_yaml_file_of_seed_000(self, tmp_path: Path) -> None:
        path = tmp_path / "dice_focal.yaml"
        path.write_text(
            "defaults:\n  - base_loss\n\nloss:\n  _target_: CombinedLoss\n  losses:\n    dice:\n"
            "      _target_: DiceLoss\n      smooth: 1.0\n    focal:\n      _target_: focal_loss\n      alpha: 1.0\n"
            "      gamma: 2.0\n  weights: [0.5, 0.5]\n"
        )
        loss = build_loss(str(path))
        assert isinstance(loss, losskit.CombinedLoss) and loss.weights == [0.5, 0.5]
        total = loss(torch.randn(2, 2, 8, 8), torch.randint(0, 2, (2, 8, 8)))
        assert total.dim() == 0 and torch.isfinite(total)

    def test_builtins_named_by_seed_000_exist(self) -> None:
        for name in (
            "DiceLoss",
            "focal_loss",
            "weighted_mse_loss",
            "combined_dice_bce",
            "CombinedDiceBCE",
            "WeightedMSELoss",
        ):
            assert has_loss(name), name

    def test_seed_000_dice_tests_hold_for_the_builtin(self) -> None:
        # seed 000's DiceLoss takes probabilities of one binary channel
        dice = build_loss("DiceLoss", smooth=1.0, mode="binary", from_logits=False)
        assert dice(torch.ones(2, 1, 4, 4), torch.ones(2, 1, 4, 4)).item() < 0.1
        assert dice(torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)).item() > 0.9
        out = dice(torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4)).float())  # (N,C,H,W) vs (N,H,W)
        assert isinstance(out, torch.Tensor)
        with pytest.raises(ValueError, match=r"(?i)shape"):
            dice(torch.rand(2, 1, 4, 4), torch.rand(3, 4, 4))

    def test_combined_dice_bce_and_weighted_mse(self) -> None:
        combo = build_loss("combined_dice_bce", dice_weight=0.5, bce_weight=0.5)
        assert torch.isfinite(combo(torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 1, 8, 8)).float()))
        wmse = build_loss("weighted_mse_loss", weight=2.0)
        x, y = torch.randn(4, 3), torch.randn(4, 3)
        torch.testing.assert_close(wmse(x, y), 2.0 * F.mse_loss(x, y))


# ------------------------------------------------------------------------------------------ seed 001
class TestSeed001AutoTimm:
    def test_list_available_losses_by_task(self) -> None:
        assert set(list_losses(task="segmentation")) >= {
            "combined_segmentation",
            "dice",
            "focal_pixelwise",
            "mask",
            "tversky",
        }
        assert set(list_losses(task="detection")) >= {"centerness", "fcos", "focal", "giou"}
        assert set(list_losses(task="classification")) >= {"bce", "bce_with_logits", "cross_entropy", "mse", "nll"}
        all_names = list_losses()
        for name in [
            "bce",
            "bce_with_logits",
            "centerness",
            "combined_segmentation",
            "cross_entropy",
            "dice",
            "fcos",
            "focal",
            "focal_pixelwise",
            "giou",
            "mask",
            "mse",
            "nll",
            "tversky",
        ]:
            assert name in all_names

    def test_registry_operations(self) -> None:
        assert has_loss("dice") and not has_loss("my_custom_loss")
        info = loss_info()
        assert {"classification", "detection", "segmentation"} <= set(info)
        dice = build_loss("dice", num_classes=10, smooth=1.0)
        assert isinstance(dice, nn.Module)
        combined = build_loss("combined_segmentation", num_classes=19, ce_weight=0.5, dice_weight=1.5, ignore_index=255)
        logits, labels = torch.randn(2, 19, 8, 8), torch.randint(0, 19, (2, 8, 8))
        labels[0, 0, 0] = 255
        assert torch.isfinite(combined(logits, labels))
        with pytest.raises(ValueError):  # get_loss raises ValueError on unknown names
            build_loss("not_a_loss")

    def test_register_custom_loss_with_alias(self, scoped_registry: losskit.Registry) -> None:
        _without("focal_tversky")

        class FocalTverskyLoss(nn.Module):
            def __init__(
                self,
                num_classes: int,
                alpha: float = 0.7,
                beta: float = 0.3,
                gamma: float = 0.75,
                ignore_index: int = 255,
            ) -> None:
                super().__init__()
                self.num_classes, self.alpha, self.beta, self.gamma, self.ignore_index = (
                    num_classes,
                    alpha,
                    beta,
                    gamma,
                    ignore_index,
                )

            def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                probs = F.softmax(logits, dim=1)
                valid = (targets != self.ignore_index).unsqueeze(1).float()
                onehot = F.one_hot(targets.clamp(0, self.num_classes - 1), self.num_classes).permute(0, 3, 1, 2).float()
                probs, onehot = probs * valid, onehot * valid
                tp = (probs * onehot).sum(dim=(2, 3))
                fp = (probs * (1 - onehot)).sum(dim=(2, 3))
                fn = ((1 - probs) * onehot).sum(dim=(2, 3))
                return torch.pow(1 - tp / (tp + self.alpha * fn + self.beta * fp + 1e-7), self.gamma).mean()

        register_loss("focal_tversky", FocalTverskyLoss, alias="ft", tasks=["segmentation"])
        loss = build_loss("ft", num_classes=2)  # SemanticSegmentor(loss_fn="ft") builds it by alias
        assert isinstance(loss, FocalTverskyLoss) and "focal_tversky" in list_losses(task="segmentation")
        assert torch.isfinite(loss(torch.randn(2, 2, 8, 8), torch.randint(0, 2, (2, 8, 8))))
        with pytest.raises(losskit.ConfigError, match="num_classes"):
            build_loss("ft")  # autotimm would raise a bare TypeError here

    def test_class_balanced_ce_example(self, scoped_registry: losskit.Registry) -> None:
        class ClassBalancedCrossEntropy(nn.Module):
            def __init__(self, class_weights: torch.Tensor) -> None:
                super().__init__()
                self.ce = nn.CrossEntropyLoss(weight=class_weights)

            def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                return self.ce(input, target)

        register_loss("balanced_ce", ClassBalancedCrossEntropy)
        loss = build_loss("balanced_ce", class_weights=[1.0, 2.0, 1.5, 3.0, 2.5])  # list -> tensor from the annotation
        assert torch.equal(loss.ce.weight, torch.tensor([1.0, 2.0, 1.5, 3.0, 2.5]))

    def test_models_take_a_name_or_an_instance(self) -> None:
        custom = nn.CrossEntropyLoss(label_smoothing=0.1)
        assert build_loss(custom) is custom
        assert isinstance(build_loss("cross_entropy"), nn.CrossEntropyLoss)
        focal = build_loss("focal", alpha=0.3, gamma=2.5)  # ObjectDetector(cls_loss_fn=FocalLoss(alpha=0.3, gamma=2.5))
        giou = build_loss("giou")
        assert focal.gamma == 2.5 and isinstance(giou, nn.Module) and isinstance(build_loss("mask"), nn.Module)
        for name in ["dice", "focal_pixelwise", "combined_segmentation"]:  # example 1: comparing losses
            assert isinstance(build_loss(name, **({"num_classes": 19} if name != "focal_pixelwise" else {})), nn.Module)


# ------------------------------------------------------------------------------------------ seed 002
class TestSeed002FactoryRegistry:
    def test_factory_registration_and_name_config(self, scoped_registry: losskit.Registry) -> None:
        class MyCustomLoss(nn.Module):
            def __init__(self, mse_weight: float = 1.0, l1_weight: float = 0.5) -> None:
                super().__init__()
                self.mse_weight, self.l1_weight = mse_weight, l1_weight

            def forward(self, warped: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
                return self.mse_weight * F.mse_loss(warped, fixed) + self.l1_weight * F.l1_loss(warped, fixed)

        @register_loss("my_custom_loss")
        def create_my_custom_loss(mse_weight: float = 1.0, l1_weight: float = 0.5, **_: Any) -> nn.Module:
            return MyCustomLoss(mse_weight=mse_weight, l1_weight=l1_weight)

        loss = build_loss({"name": "my_custom_loss", "mse_weight": 1.0, "l1_weight": 0.5})
        assert isinstance(loss, MyCustomLoss) and loss.l1_weight == 0.5
        w, f, ddf, gt = (torch.randn(1, 1, 4, 4, 4) for _ in range(4))
        assert torch.isfinite(call_loss(loss, w, f, pred_dvf=ddf, gt_dvf=gt))  # the 4-input call, dropped cleanly

    def test_builtins_and_training_loop_contract(self) -> None:
        g = torch.Generator().manual_seed(0)
        warped, fixed = torch.rand(1, 1, 8, 8, 8, generator=g), torch.rand(1, 1, 8, 8, 8, generator=g)
        ddf, gt = torch.randn(1, 3, 8, 8, 8, generator=g) * 0.1, torch.randn(1, 3, 8, 8, 8, generator=g) * 0.1
        for spec in ["lncc", "mse", "lncc_dvf", {"name": "dice_smooth", "dice_weight": 1.0, "smooth_weight": 0.01}]:
            loss = build_loss(spec)
            value = call_loss(loss, warped, fixed, pred_dvf=ddf, gt_dvf=gt)
            assert value.dim() == 0 and torch.isfinite(value), spec
            without_gt = call_loss(loss, warped, fixed, pred_dvf=ddf, gt_dvf=None)
            assert torch.isfinite(without_gt)

    def test_validate_smoothing_params(self) -> None:
        assert losskit.validate_smoothing_params(1e-5, 1e-5) == (1e-4, 1e-2)
        assert losskit.validate_smoothing_params(0.5, 0.5) == (0.5, 0.5)
        with pytest.raises(ValueError):
            losskit.validate_smoothing_params(-1.0, 1e-2)


# ------------------------------------------------------------------------------------------ seed 003
class TestSeed003FunctionRegistry:
    @staticmethod
    def _batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(0)
        out = {
            "predictions": torch.randn(4, 6, generator=g),
            "mu": torch.randn(4, 2, generator=g),
            "logvar": torch.randn(4, 2, generator=g) * 0.1,
        }
        return out, {"predictions": torch.randn(4, 6, generator=g), "numerical": None, "categorical": None}

    def test_function_registration_and_class_params_config(self, scoped_registry: losskit.Registry) -> None:
        _without("VAELoss")

        @register_loss("VAELoss")
        def vae_loss(model_output, targets, beta=1.0, reconstruction_weight=1.0, **kwargs):  # type: ignore[no-untyped-def]
            recon = F.mse_loss(model_output["predictions"], targets["predictions"])
            kl = -0.5 * torch.sum(1 + model_output["logvar"] - model_output["mu"].pow(2) - model_output["logvar"].exp())
            return reconstruction_weight * recon + beta * kl / model_output["mu"].size(0)

        out, tgt = self._batch()
        train = build_loss({"class": "VAELoss", "params": {"beta": 1.0}})
        val = build_loss({"class": "VAELoss", "params": {"beta": 0.5}})
        a, b = train(out, tgt), val(out, tgt)
        assert isinstance(a, torch.Tensor) and a.dim() == 0 and not torch.allclose(a, b)
        loss_fn = losskit.LOSSES["VAELoss"]  # `LOSSES["VAELoss"]` gives the function itself
        torch.testing.assert_close(loss_fn(out, tgt, beta=1.0), a)

    def test_builtin_vae_and_sae_with_dicts(self) -> None:
        out, tgt = self._batch()
        train = build_loss({"class": "VAELoss", "params": {"beta": 1.0, "reconstruction_weight": 1.0}})
        val = build_loss({"class": "VAELoss", "params": {"beta": 0.5}})
        a, b = train(out, tgt), val(out, tgt)
        assert a.dim() == 0 and isinstance(a, torch.Tensor) and not torch.allclose(a, b)
        sae = build_loss({"class": "SAELoss", "params": {"sparsity_weight": 0.01}})
        latents = torch.relu(torch.randn(4, 16))
        value = sae({"predictions": out["predictions"], "latents": latents}, tgt)
        assert value.dim() == 0 and torch.isfinite(value)
