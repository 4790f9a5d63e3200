"""A short tour of losskit (``make demo``): register, list, build, combine, call, then compare losses.

Run from a checkout: ``python examples/demo.py`` (add ``--quick`` for a seconds-long comparison). The comparisons
read real data shipped inside installed packages (``pip install 'losskit[cli,data]'``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a checkout without an install works too

import losskit  # noqa: E402


#: The demo's segmentation losses: the task's defaults less the two slowest to train (lovasz, cldice), so that
#: ``make demo`` stays within its time budget on two cores.
SEGMENTATION_LOSSES = "cross_entropy,dice,focal_pixelwise,combined_segmentation"


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> int:
    quick = "--quick" in sys.argv
    g = torch.Generator().manual_seed(0)

    step("Register your own loss (a decorator, under the name you give)")

    @losskit.register_loss("scaled_l1", tasks=["regression"], tags=["demo"], override=True)
    class ScaledL1(nn.Module):
        """Mean absolute error times ``scale``."""

        def __init__(self, scale: float = 1.0) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.scale * (input - target).abs().mean()

    print("has_loss('scaled_l1') ->", losskit.has_loss("scaled_l1"))

    step("List and describe")
    print("segmentation losses:", ", ".join(losskit.list_losses(task="segmentation")))
    print("matching '*dice*':   ", ", ".join(losskit.list_losses("*dice*")))
    info = losskit.describe_loss("scaled_l1")
    print(f"describe_loss('scaled_l1'): params {[(p.name, p.default) for p in info.params]}, summary {info.summary!r}")

    step("Build from a dict, with a typo caught before anything is constructed")
    loss = losskit.build_loss({"name": "scaled_l1", "scale": 2.0})
    print("built:", loss, "-> to_config:", losskit.to_config(loss))
    try:
        losskit.build_loss({"name": "scaled_l1", "scael": 2.0})
    except losskit.ConfigError as exc:
        print("ConfigError:", exc)

    step("Build from a YAML file (safe loading; a top-level 'loss:' key is fine)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loss.yaml"
        path.write_text("loss:\n  name: cross_entropy\n  label_smoothing: 0.1\n")
        print(path.read_text().rstrip())
        ce = losskit.build_loss(str(path))
        print("built:", ce)

    step("A CombinedLoss that reports each term")
    combined = losskit.CombinedLoss({"ce": "cross_entropy", "smoothed": {"name": "ce", "label_smoothing": 0.2}}, weights=[0.7, 0.3])
    logits, labels = torch.randn(4, 3, generator=g), torch.randint(0, 3, (4,), generator=g)
    total, terms = combined(logits, labels, return_terms=True)
    print(f"total {total.item():.4f} = " + " + ".join(f"{w:g} * {n} ({v.item():.4f})" for (n, v), w in zip(terms.items(), combined.weights)))

    step("call_loss passes only the named inputs a loss accepts")
    pred, target = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    value = losskit.call_loss(loss, pred, target=target, ddf=torch.zeros(4, 8))  # ddf is not for this loss: dropped
    print(f"call_loss(scaled_l1, pred, target=..., ddf=...) = {value.item():.4f}")
    losskit.unregister_loss("scaled_l1")

    from losskit.cli import main as cli

    out = Path("compare-results")
    step("Draw a loss: focal loss against the probability of the true class, one curve per gamma (Fig. 1 of the paper)")
    code = cli(["plot", "focal", "--vary", "gamma=0,0.5,1,2,5", "--set", "alpha=null", "--out", str(out / "focal.png")])
    if code:
        return code

    # Real data from installed packages (the [data] extra), three seeds each: the table shows mean ± std and
    # names a best loss only when its lead is larger than that spread.
    # Two threads (a laptop has them; the run's default is one, for figures that match on any machine): the
    # segmentation comparison trains 12 tiny U-Nets, about 100 s on two cores.
    seeds = ["--seeds", "1", "--epochs", "1"] if quick else ["--seeds", "3", "--threads", "2"]
    runs = {
        "segmentation": (
            "Compare segmentation losses on the grey-matter ribbon of the MNI152 brain template (thin, ~16%)",
            ["--task", "segmentation", "--dataset", "mni152", "--losses", SEGMENTATION_LOSSES],
        ),
        "classification": (
            "Compare classification losses on long-tailed handwritten digits (150 down to 3 images per class)",
            ["--task", "classification", "--dataset", "digits"],
        ),
    }
    written = []
    for name, (title, args) in runs.items():
        step(title)
        code = cli(["compare", *args, *seeds, "--out", str(out / name)])
        if code:
            return code
        written.append(out / name)
    print("\nResults:")
    for folder in written:
        print(f"  {folder / 'results.md'} (table), {folder / 'results.json'} (every seed), {folder / 'curves.png'} (plot)")
    print(f"  {out / 'focal.png'} (the focal loss drawn)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
