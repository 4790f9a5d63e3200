"""``make demo`` end to end, shortened (``examples/demo.py --quick``: one seed, one epoch per comparison)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_demo_writes_the_real_data_comparisons_and_a_plot(tmp_path: Path) -> None:
    for module in ("matplotlib", "rich", "nilearn", "nibabel", "sklearn"):
        pytest.importorskip(module)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "compare-results"
    for task, dataset in (("segmentation", "mni152"), ("classification", "digits")):
        folder = out / task
        assert {p.name for p in folder.iterdir()} == {"results.md", "results.json", "curves.png", "losses.yaml"}
        data = json.loads((folder / "results.json").read_text())
        assert data["dataset"]["name"] == dataset and data["dataset"]["real"]
        assert all(r["error"] is None for r in data["results"])
        assert f"compare-results/{task}/results.md" in proc.stdout  # the demo says where the results are
    assert "has_loss('scaled_l1') -> True" in proc.stdout
    assert (out / "focal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
