"""``losskit compare`` and the comparison runner, on tiny settings (seconds, not the default minute)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import losskit
from losskit.cli import main
from losskit.compare import (
    DATASETS,
    CompareSettings,
    Comparison,
    LossResult,
    SeedRun,
    fit_spec,
    get_task,
    judge,
    mean_std,
    read_loss_list,
    run_comparison,
    spec_label,
    task_params,
)
from losskit.compare.data import make_cracks, make_imbalanced_blobs
from losskit.compare.registration import make_pairs, registration_metrics, warp
from losskit.compare.specs import prepare_losses

PKG_ROOT = str(Path(losskit.__file__).resolve().parents[1])
TINY = ["--samples", "16", "--size", "16", "--epochs", "2", "--batch-size", "8"]


def _strip_timings(results: dict[str, Any]) -> dict[str, Any]:
    for r in results["results"]:
        for run in r["seeds"]:
            run.pop("ms_per_step"), run.pop("seconds")
    return results


def test_cli_writes_the_report_files(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (PKG_ROOT, os.environ.get("PYTHONPATH")) if p)}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "losskit", "compare", "--dataset", "cracks", "--losses", "cross_entropy,dice"]
    cmd += [*TINY, "--seeds", "2", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"results.md", "results.json", "curves.png", "losses.yaml"}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "results.json").read_text())
    assert data["task"] == "segmentation" and data["metric"] == "iou" and data["dataset"]["name"] == "cracks"
    assert data["settings"] == {
        "task": "segmentation",
        "dataset": "cracks",
        "data_dir": None,
        "seeds": 2,
        "seed": 0,
        "epochs": 2,
        "samples": 16,
        "size": 16,
        "batch_size": 8,
        "lr": data["settings"]["lr"],
        "threads": 1,
    }
    assert [r["label"] for r in data["results"]] == ["cross_entropy", "dice"]
    for r in data["results"]:
        assert r["error"] is None
        assert [run["seed"] for run in r["seeds"]] == [0, 1]  # every seed's figures are kept
        for run in r["seeds"]:
            assert set(run["metrics"]) == {"iou", "dice", "cldice", "recall", "final_train_loss"}
            assert len(run["history"]["iou"]) == len(run["history"]["train_loss"]) == 2
            assert run["ms_per_step"] > 0
        assert r["mean"]["iou"] == pytest.approx(sum(run["metrics"]["iou"] for run in r["seeds"]) / 2)
        assert r["config"]["num_classes"] == 2  # the task's parameter, declared by both
    md = (out / "results.md").read_text()
    assert "| loss | crack IoU | crack Dice | clDice | crack recall | final train loss | ms / step |" in md
    assert " ± " in md and "Verdict:" in md
    reproduce = next(line for line in md.splitlines() if line.startswith("Reproduce:"))
    assert "--dataset cracks --seeds 2 --seed 0 --epochs 2 --samples 16 --size 16" in reproduce
    assert "--losses cross_entropy,dice" in reproduce
    assert ("winner: " in proc.stdout) or ("no winner: " in proc.stdout)


def test_judge_names_a_winner_only_beyond_the_spread() -> None:
    assert judge({"a": [0.80, 0.82, 0.81], "b": [0.70, 0.71, 0.69]}).winner == "a"
    # Overlapping spreads: a tie of the top group, no winner.
    tied = judge({"a": [0.80, 0.70, 0.75], "b": [0.74, 0.76, 0.72], "c": [0.10, 0.11, 0.12]})
    assert tied.winner is None and tied.tied == ("a", "b") and "tied" in tied.reason
    # Two equal losses are not crowned.
    equal = judge({"a": [0.5, 0.6, 0.7], "b": [0.5, 0.6, 0.7]})
    assert equal.winner is None and set(equal.tied) == {"a", "b"}
    # One seed: no spread to judge a lead by.
    assert judge({"a": [0.9], "b": [0.1]}).winner is None
    assert judge({"a": [0.9, 0.9]}).winner is None  # nothing to compare with
    # Lower is better: the smallest mean leads.
    assert judge({"a": [1.0, 1.1], "b": [3.0, 3.1]}, higher_is_better=False).winner == "a"
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)


def test_two_equal_losses_are_not_crowned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--plain", "compare", "--dataset", "cracks", "--losses", "dice,dice,cross_entropy", *TINY]
    assert main([*args, "--seeds", "2", "--out", str(tmp_path), "--no-plot"]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["label"] for r in data["results"]] == ["dice", "dice#2", "cross_entropy"]
    assert data["results"][0]["seeds"][0]["metrics"] == data["results"][1]["seeds"][0]["metrics"]
    assert data["winner"] not in ("dice", "dice#2")
    if data["winner"] is None and "dice" in data["tied"]:
        assert "dice#2" in data["tied"]
        rows = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| dice")]
        assert len(rows) == 2 and all("≈" in row and "★" not in row for row in rows)


def test_winner_follows_the_verdict_and_skips_failed_losses() -> None:
    task = get_task("segmentation")
    dataset = DATASETS["cracks"]

    def comparison(*runs: tuple[float, ...]) -> Comparison:
        results = [
            LossResult(f"l{i}", None, [SeedRun(seed, metrics={"iou": v}) for seed, v in enumerate(values)])
            for i, values in enumerate(runs)
        ]
        return Comparison(task, dataset, {}, {}, results)

    assert comparison((0.2, 0.21), (0.7, 0.71), (0.5, 0.5)).winner == "l1"
    assert comparison((0.0, 0.0), (0.0, 0.0)).winner is None
    failed = comparison((0.3, 0.31), (0.9, 0.91), (0.1, 0.1))
    failed.results[1].runs[1].error = "FloatingPointError: nan"
    assert failed.winner == "l0" and failed.results[1].error == "seed 1: FloatingPointError: nan"


def test_deterministic_for_a_seed() -> None:
    settings = CompareSettings(
        dataset="cracks", losses=["cross_entropy", "dice"], epochs=2, samples=16, size=16, batch_size=8, seed=3, seeds=2
    )
    first = _strip_timings(run_comparison(settings).to_dict())
    second = _strip_timings(run_comparison(settings).to_dict())
    assert first == second
    other = _strip_timings(run_comparison(CompareSettings(**{**settings.__dict__, "seed": 4})).to_dict())
    assert other["results"][0]["seeds"][0]["history"] != first["results"][0]["seeds"][0]["history"]
    # Seeds 3 and 4 of the first run are different runs of the same data.
    runs = first["results"][0]["seeds"]
    assert runs[0]["history"]["train_loss"] != runs[1]["history"]["train_loss"]


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
        main(
            ["--plain", "compare", "--dataset", "cracks", "--config", str(cfg), *TINY, "--epochs", "1", "--seeds", "1"]
            + ["--out", str(out), "--no-plot"]
        )
        == 0
    )
    data = json.loads((out / "results.json").read_text())
    assert [r["label"] for r in data["results"]] == ["cross_entropy", "ce+dice", "bce_with_logits"]
    assert all(r["error"] is None for r in data["results"]), data["results"]
    combined = data["results"][1]["config"]
    dice = combined["losses"]["dice"]
    assert {**dice, **dice.get("params", {})}["num_classes"] == 2 and combined["weights"] == {"ce": 0.5, "dice": 0.5}
    assert "curves.png" not in {p.name for p in out.iterdir()}
    assert "ce+dice" in capsys.readouterr().out
    # The Reproduce line keeps the losses (a file written beside the results), and rerunning it gives the same run.
    reproduce = (out / "results.md").read_text().split("Reproduce: `")[1].split("`")[0]
    assert f"--config {out / 'losses.yaml'}" in reproduce
    again = tmp_path / "again"
    assert main(["--plain", *shlex.split(reproduce)[1:], "--out", str(again), "--no-plot"]) == 0
    rerun = json.loads((again / "results.json").read_text())
    assert _strip_timings(rerun)["results"] == _strip_timings(data)["results"]
    assert rerun["settings"] == data["settings"]


def test_bad_loss_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--plain", "compare", "--dataset", "cracks", "--losses", "cross_entropy,dcie", *TINY]
    assert main([*args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("losskit: error: ") and "Did you mean" in err
    assert not (tmp_path / "results.json").exists()


def test_classification_on_long_tailed_digits_through_the_cli(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    args = ["--plain", "compare", "--task", "classification", "--dataset", "digits", "--seeds", "2", "--epochs", "2"]
    args += ["--losses", "cross_entropy,logit_adjusted_cross_entropy", "--out", str(tmp_path), "--no-plot"]
    assert main(args) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["dataset"]["name"] == "digits" and data["dataset"]["real"] and "BSD-3" in data["dataset"]["source"]
    assert data["dataset"]["class_counts"] == [150, 97, 63, 41, 26, 17, 11, 7, 5, 3]  # imbalance ratio 50
    assert data["dataset"]["val"] == 240
    assert [r["error"] for r in data["results"]] == [None, None]
    assert set(data["results"][0]["mean"]) == {"macro_f1", "minority_recall", "accuracy", "final_train_loss"}
    # The training set's class statistics reach a loss that declares a prior.
    assert len(data["results"][1]["config"]["prior"]) == 10
    assert "macro-F1" in (tmp_path / "results.md").read_text()


def test_registration_through_the_cli(tmp_path: Path) -> None:
    pytest.importorskip("nilearn")
    args = ["--plain", "compare", "--task", "registration", "--seeds", "1", "--epochs", "1", "--samples", "16"]
    assert main([*args, "--size", "32", "--out", str(tmp_path), "--no-plot"]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["dataset"]["name"] == "mni152-pairs" and data["metric"] == "dice"
    assert data["lower_is_better"] == ["epe", "folding"]
    labels = [r["label"] for r in data["results"]]
    assert labels == ["mse", "lncc", "mutual_information", "lncc_dvf", "dice_smooth"]
    for r in data["results"]:
        assert r["error"] is None, r["error"]
        assert set(r["mean"]) == {"dice", "epe", "folding", "final_train_loss"}
        assert 0 <= r["mean"]["folding"] <= 1 and r["mean"]["epe"] > 0
    md = (tmp_path / "results.md").read_text()
    assert "end-point error (px) (lower is better)" in md and "one seed" in md


def test_registration_refuses_a_field_regulariser_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--plain", "compare", "--task", "registration", "--dataset", "cracks-pairs", "--losses", "mse,diffusion"]
    assert main([*args, *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "'diffusion' takes only (ddf)" in err and "lncc_dvf" in err
    assert not (tmp_path / "results.json").exists()


def test_registration_pairs_metrics_and_warp() -> None:
    images = make_cracks(4, 32, seed=0)
    x = (images.x - images.x.min()) / (images.x.max() - images.x.min())
    pairs = make_pairs(x, images.y, seed=1, magnitude=2.0)
    assert torch.allclose(warp(pairs.x[:, :1], pairs.y), pairs.x[:, 1:])  # fixed = moving warped by the true field
    perfect = registration_metrics(pairs.y, pairs)
    assert perfect["epe"] == 0 and perfect["folding"] == 0 and perfect["dice"] == 1.0
    identity = registration_metrics(torch.zeros_like(pairs.y), pairs)
    assert identity["epe"] > 0.5 and identity["dice"] < 1.0
    # A field that flips the map folds everywhere it is measured.
    h = 32
    flip = torch.stack([torch.zeros(h, h), -2.0 * torch.arange(h).float()[None, :].expand(h, h)])[None].expand(
        4, -1, -1, -1
    )
    assert registration_metrics(flip, pairs)["folding"] == 1.0


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
        main(
            ["compare", "--dataset", "cracks", "--losses", "cross_entropy", *TINY, "--epochs", "1", "--seeds", "2"]
            + ["--out", str(tmp_path), "--no-plot"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "━" in out and "4/4" in out  # a bar that reached its step count over both seeds


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
    # Segmentation on the synthetic cracks (fast), classification on the 10 classes of the real digits.
    size = {"segmentation": {"size": 16, "samples": 8, "dataset": "cracks"}, "classification": {"samples": 64}}[task]
    settings = CompareSettings(task=task, losses=[name], epochs=1, batch_size=8, seeds=1, **size)
    (result,) = run_comparison(settings).results
    assert result.error is None, result.error
    (run,) = result.runs
    assert all(torch.isfinite(torch.tensor(v)) for v in run.history["train_loss"]), run.history


def _write_pairs(root: Path, n: int = 6, size: int = 20, classes: int = 2, colour: bool = False) -> None:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        mask = torch.zeros(size, size, dtype=torch.uint8)
        for k in range(1, classes):
            r, c = torch.randint(0, size - 6, (2,), generator=g).tolist()
            mask[r : r + 5, c : c + 5] = k
        image = (mask.float() * 60 + torch.rand(size, size, generator=g) * 80).to(torch.uint8)
        pixels = image[..., None].expand(size, size, 3) if colour else image
        Image.fromarray(pixels.numpy()).save(root / "images" / f"case{i}.png")
        stored = mask * 255 if classes == 2 else mask  # binary as 0/255, multi-class as indices
        Image.fromarray(stored.numpy()).save(root / "masks" / f"case{i}.png")


@pytest.mark.parametrize(("classes", "colour"), [(2, False), (3, True)])
def test_own_data_folder_through_the_cli(tmp_path: Path, classes: int, colour: bool) -> None:
    pytest.importorskip("PIL")
    _write_pairs(tmp_path / "data", classes=classes, colour=colour)
    out = tmp_path / "out"
    args = ["--plain", "compare", "--data", str(tmp_path / "data"), "--losses", "cross_entropy,dice", "--seeds", "2"]
    assert main([*args, "--epochs", "1", "--size", "16", "--batch-size", "2", "--out", str(out), "--no-plot"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["dataset"]["name"] == "folder" and data["settings"]["data_dir"] == str(tmp_path / "data")
    assert (data["dataset"]["train"], data["dataset"]["val"]) == (5, 1)  # a fixed-seed 80/20 split
    assert len(data["dataset"]["class_counts"]) == classes
    assert all(r["error"] is None for r in data["results"])
    assert data["results"][1]["config"]["num_classes"] == classes
    assert f"--data {tmp_path / 'data'}" in (out / "results.md").read_text()


def _folder_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    args = ["--plain", "compare", "--data", str(tmp_path / "data"), "--losses", "dice", "--out", str(tmp_path / "o")]
    assert main(args) == 1
    return capsys.readouterr().err


def test_own_data_folder_that_does_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    (tmp_path / "data").mkdir()
    assert "expected a folder images/" in _folder_error(tmp_path, capsys)
    _write_pairs(tmp_path / "data2", n=3)
    (tmp_path / "data").rmdir()
    (tmp_path / "data2").rename(tmp_path / "data")
    (tmp_path / "data" / "masks" / "case1.png").rename(tmp_path / "data" / "masks" / "case1x.png")
    err = _folder_error(tmp_path, capsys)
    assert "no mask for case1" in err and "no image for case1x" in err
    (tmp_path / "data" / "masks" / "case1x.png").rename(tmp_path / "data" / "masks" / "case1.png")
    Image.fromarray(torch.full((20, 20), 128, dtype=torch.uint8).numpy()).save(
        tmp_path / "data" / "masks" / "case2.png"
    )
    assert "mask values must be class indices" in _folder_error(tmp_path, capsys)
    Image.fromarray(torch.zeros(10, 20, dtype=torch.uint8).numpy()).save(tmp_path / "data" / "masks" / "case2.png")
    assert "mask is 20x10, its image 20x20" in _folder_error(tmp_path, capsys)
    colour = torch.zeros(20, 20, 3, dtype=torch.uint8)
    colour[..., 0] = 255
    Image.fromarray(colour.numpy()).save(tmp_path / "data" / "masks" / "case2.png")
    assert "a mask must be single-channel" in _folder_error(tmp_path, capsys)
    assert main(["--plain", "compare", "--task", "classification", "--data", str(tmp_path / "data")]) == 1
    assert "cannot be used with --task classification" in capsys.readouterr().err


def test_unknown_task_or_dataset_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "compare", "--task", "segmentaton", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown comparison task 'segmentaton'; did you mean 'segmentation'?" in err and "registration" in err
    assert main(["--plain", "compare", "--task", "classification", "--dataset", "digit", "--out", str(tmp_path)]) == 1
    assert "did you mean 'digits'?" in capsys.readouterr().err
    assert main(["--plain", "compare", "--seeds", "0", "--out", str(tmp_path)]) == 1
    assert "--seeds must be between 1 and" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_list_shows_tasks_and_datasets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "compare", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("mni152", "cracks", "digits", "blobs", "mni152-pairs", "cracks-pairs", "registration", "--data DIR"):
        assert name in out


def test_missing_data_package_falls_back_to_synthetic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(losskit.compare.datasets.Dataset, "available", lambda self: not self.real)
    args = ["--plain", "compare", "--losses", "dice", *TINY, "--seeds", "1", "--out", str(tmp_path), "--no-plot"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "note: using the synthetic 'cracks' dataset: mni152 needs" in out
    assert "**Synthetic stand-in**" in (tmp_path / "results.md").read_text()


def test_labels_show_what_the_spec_sets() -> None:
    assert spec_label("tversky") == "tversky"
    assert spec_label({"name": "tversky", "alpha": 0.3, "beta": 0.7}) == "tversky(alpha=0.3, beta=0.7)"
    assert spec_label({"name": "focal", "params": {"gamma": 1}}) == "focal(gamma=1)"
    combined = {"losses": {"dice": "dice", "ce": "cross_entropy"}, "weights": [0.5, 1.0]}
    assert spec_label(combined) == "combined(0.5*dice+ce)"
    assert spec_label({"name": "combined", "losses": {"a": "dice", "b": "ce"}}) == "combined(a+b)"


def test_real_datasets_follow_their_recipe() -> None:
    pytest.importorskip("nilearn")
    from losskit.compare.real_data import load_digits_long_tailed, load_mni152_slices

    train, val = load_mni152_slices(32)
    assert train.x.shape[1:] == (1, 32, 32) and train.y.shape[1:] == (32, 32)
    assert len(train) > 150 and len(val) > 40
    share = train.y.float().mean().item()
    assert 0.1 < share < 0.25  # the grey-matter ribbon: rare and thin
    again, _ = load_mni152_slices(32)
    assert torch.equal(again.x, train.x)
    digits, digits_val = load_digits_long_tailed()
    counts = torch.bincount(digits.y).tolist()
    assert counts[0] / counts[-1] == 50 and torch.bincount(digits_val.y).tolist() == [24] * 10


def test_the_config_formats_of_docs_compare_md_load_and_build(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "compare.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 3
    expected = [
        ["cross_entropy", "tversky(alpha=0.3, beta=0.7)", "dice+ce"],
        ["focal_g1", "focal_g2"],
        ["dice", "lovasz"],
    ]
    for block, labels in zip(blocks, expected, strict=True):
        path = tmp_path / "losses.yaml"
        path.write_text(block, encoding="utf-8")
        cases = prepare_losses(read_loss_list(str(path)), num_classes=2, class_counts=[90, 10])
        assert [c.label for c in cases] == labels
    for name in DATASETS:  # every dataset is documented with its source
        assert f"`{name}`" in page


def test_a_real_dataset_asked_for_by_name_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from losskit.compare import real_data

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nilearn" else real_find_spec(name, *a)
    )
    real_data.mni152_volumes.cache_clear()
    args = ["--plain", "compare", "--dataset", "mni152", "--losses", "dice", "--out", str(tmp_path), "--no-plot"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "the 'mni152' dataset needs the nilearn package: pip install 'losskit[data]'" in err
    real_data.mni152_volumes.cache_clear()
