"""``losskit compare`` and the comparison runner, on tiny settings (seconds, not the default minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import losskit
from losskit.cli import main
from losskit.compare import CompareSettings, fit_spec, run_comparison, task_params, write_all
from losskit.compare.data import make_cracks, make_imbalanced_blobs

PKG_ROOT = str(Path(losskit.__file__).resolve().parents[1])
TINY = ["--samples", "16", "--size", "16", "--epochs", "2", "--batch-size", "8"]


def _strip_timings(results: dict[str, Any]) -> dict[str, Any]:
    for r in results["results"]:
        r.pop("ms_per_step"), r.pop("seconds")
    return results


def test_cli_writes_the_three_files(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (PKG_ROOT, os.environ.get("PYTHONPATH")) if p)}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "losskit", "compare", "--losses", "cross_entropy,dice", *TINY, "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"results.md", "results.json", "curves.png"}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "results.json").read_text())
    assert data["task"] == "segmentation" and data["metric"] == "iou"
    assert data["settings"] == {
        "task": "segmentation",
        "epochs": 2,
        "seed": 0,
        "samples": 16,
        "size": 16,
        "batch_size": 8,
        "lr": data["settings"]["lr"],
        "threads": 1,
    }
    assert [r["label"] for r in data["results"]] == ["cross_entropy", "dice"]
    for r in data["results"]:
        assert r["error"] is None
        assert set(r["metrics"]) == {"iou", "dice", "recall"}
        assert len(r["history"]["iou"]) == len(r["history"]["train_loss"]) == 2
        assert r["ms_per_step"] > 0 and r["config"]["num_classes"] == 2  # the task's parameter, declared by both
    md = (out / "results.md").read_text()
    assert "| loss | final train loss | crack IoU | crack Dice | ms / step |" in md
    ious = [r["metrics"]["iou"] for r in data["results"]]
    if len(set(ious)) > 1:  # two epochs on 16 images may leave both at 0: a tie has no winner
        assert data["winner"] == data["results"][ious.index(max(ious))]["label"] and "★" in md
    else:
        rows = [line for line in md.splitlines() if line.startswith(("| cross_entropy", "| dice"))]
        assert data["winner"] is None and len(rows) == 2 and not any("★" in row for row in rows)
    assert "winner" in proc.stdout


def test_winner_is_the_best_primary_metric_and_ties_have_none() -> None:
    from losskit.compare import Comparison, LossResult, get_task

    task = get_task("segmentation")

    def comparison(*ious: float) -> Comparison:
        results = [LossResult(f"l{i}", None, 0.1, {"iou": v, "dice": v, "recall": v}) for i, v in enumerate(ious)]
        return Comparison(task, {}, {}, results)

    assert comparison(0.2, 0.7, 0.5).winner == "l1"
    assert comparison(0.0, 0.0).winner is None
    failed = comparison(0.3, 0.9)
    failed.results[1].error = "FloatingPointError: nan"
    assert failed.winner == "l0"


def test_deterministic_for_a_seed() -> None:
    settings = CompareSettings(losses=["cross_entropy", "dice"], epochs=2, samples=16, size=16, batch_size=8, seed=3)
    first = _strip_timings(run_comparison(settings).to_dict())
    second = _strip_timings(run_comparison(settings).to_dict())
    assert first == second
    other = _strip_timings(run_comparison(CompareSettings(**{**settings.__dict__, "seed": 4})).to_dict())
    assert other["results"][0]["history"]["train_loss"] != first["results"][0]["history"]["train_loss"]


def test_config_path_with_combined_and_one_hot_losses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "losses.yaml"
    cfg.write_text(
        "- cross_entropy\n"
        "- label: ce+dice\n"
        "  losses:\n    ce: {name: cross_entropy}\n    dice: {name: dice}\n  weights: {ce: 0.5, dice: 0.5}\n"
        "- {name: bce_with_logits}\n"  # declares float targets only: trained on one-hot masks
    )
    out = tmp_path / "out"
    assert (
        main(["--plain", "compare", "--config", str(cfg), *TINY, "--epochs", "1", "--out", str(out), "--no-plot"]) == 0
    )
    data = json.loads((out / "results.json").read_text())
    assert [r["label"] for r in data["results"]] == ["cross_entropy", "ce+dice", "bce_with_logits"]
    assert all(r["error"] is None for r in data["results"]), data["results"]
    combined = data["results"][1]["config"]
    dice = combined["losses"]["dice"]
    assert {**dice, **dice.get("params", {})}["num_classes"] == 2 and combined["weights"] == {"ce": 0.5, "dice": 0.5}
    assert "curves.png" not in {p.name for p in out.iterdir()}
    assert "ce+dice" in capsys.readouterr().out


def test_bad_loss_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "compare", "--losses", "cross_entropy,dcie", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("losskit: error: ") and "Did you mean" in err
    assert not (tmp_path / "results.json").exists()


def test_classification_task(tmp_path: Path) -> None:
    settings = CompareSettings(
        task="classification", losses=["cross_entropy", "logit_adjusted_cross_entropy"], epochs=1, samples=200
    )
    result = run_comparison(settings)
    assert [r.error for r in result.results] == [None, None]
    assert set(result.results[0].metrics) == {"macro_f1", "minority_recall", "accuracy"}
    # The training set's class statistics reach a loss that declares a prior.
    assert len(result.results[1].config["prior"]) == 4
    paths = write_all(result, tmp_path, curves=False)
    assert "macro-F1" in paths["markdown"].read_text()


def test_task_params_follow_declared_parameters() -> None:
    class Declares(nn.Module):
        def __init__(self, num_classes: int | None = None, mode: str = "binary") -> None:
            super().__init__()

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return input.mean()

    class Silent(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return input.mean()

    with losskit.temporary_loss("declares_tp", Declares), losskit.temporary_loss("silent_tp", Silent):
        assert task_params("declares_tp", num_classes=2) == {"num_classes": 2, "mode": "multiclass"}
        assert task_params("silent_tp", num_classes=2) == {}
        # A value the spec sets is kept; combined specs are fitted term by term.
        spec = {"losses": {"a": {"name": "declares_tp", "num_classes": 5}, "b": "silent_tp"}}
        assert fit_spec(spec, num_classes=2) == {
            "losses": {"a": {"name": "declares_tp", "num_classes": 5, "mode": "multiclass"}, "b": {"name": "silent_tp"}}
        }


def test_datasets_are_imbalanced_and_seeded() -> None:
    a, b = make_cracks(8, 32, seed=1), make_cracks(8, 32, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    share = make_cracks(32, 64, seed=0).y.float().mean().item()
    assert 0.01 < share < 0.03  # about 2 % foreground
    blobs = make_imbalanced_blobs(1000, seed=0)
    counts = torch.bincount(blobs.y)
    assert counts.argmax() == 0 and counts.min() < 0.1 * counts.sum()


def test_rich_progress_bars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    assert (
        main(["compare", "--losses", "cross_entropy", *TINY, "--epochs", "1", "--out", str(tmp_path), "--no-plot"]) == 0
    )
    out = capsys.readouterr().out
    assert "━" in out and "2/2" in out  # a bar that reached its step count


def _task_builtins(task: str) -> list[str]:
    from tests.policy._cases import builtin_names

    return sorted(set(losskit.list_losses(task=task)) & set(builtin_names()))


@pytest.mark.parametrize(
    ("task", "name"),
    [("segmentation", n) for n in _task_builtins("segmentation")]
    + [("classification", n) for n in _task_builtins("classification")],
)
def test_every_builtin_of_a_task_trains_in_the_runner(task: str, name: str) -> None:
    # A loss registered for a task must run in that task's comparison with only the parameters the runner
    # fills in (num_classes, mode, class statistics): a new built-in that cannot is caught here.
    size = {"segmentation": {"size": 16, "samples": 8}, "classification": {"samples": 64}}[task]
    settings = CompareSettings(task=task, losses=[name], epochs=1, batch_size=8, **size)
    (result,) = run_comparison(settings).results
    assert result.error is None, result.error
    assert all(torch.isfinite(torch.tensor(v)) for v in result.history["train_loss"]), result.history
