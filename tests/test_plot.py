"""``losskit plot``: pictures of the losses and their gradients, and the catalogue's family plots (issue 16)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from losskit.cli import main
from losskit.cli.catalogue import FAMILY_PLOTS, render_catalogue
from losskit.plotting import PlotError, loss_curves, parse_value, parse_vary

pytest.importorskip("matplotlib")


def _png_is_a_picture(path: Path) -> None:
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 0
    image = imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert float(image[..., :3].std()) > 0.01, "the picture is blank"


def test_focal_vary_redraws_the_focal_loss_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "focal.png"
    assert main(["plot", "focal", "--vary", "gamma=0,0.5,1,2,5", "--out", str(out)]) == 0
    _png_is_a_picture(out)
    assert f"wrote {out} (5 curves" in capsys.readouterr().out


def test_robust_regression_losses_default_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "mse,l1,huber,log_cosh,barron"]) == 0
    _png_is_a_picture(tmp_path / "mse-l1-huber-log_cosh-barron.png")
    assert main(["plot", "focal"]) == 0
    assert (tmp_path / "focal.png").is_file()


def test_focal_with_gamma_0_and_no_alpha_is_cross_entropy() -> None:
    curves = loss_curves(["focal"], ("gamma", [0, 2]), points=41, params={"alpha": None})
    assert curves.axis == "probability" and [c.label for c in curves.curves] == ["gamma=0", "gamma=2"]
    assert curves.title == "focal (alpha=none): loss vs probability of the true class"
    plain, focused = curves.curves
    for p, value, grad in zip(plain.x, plain.value, plain.grad, strict=True):
        assert value == pytest.approx(-math.log(p), rel=1e-4, abs=1e-5)
        assert grad == pytest.approx(-1 / p, rel=1e-3)
    for p, value in zip(focused.x, focused.value, strict=True):  # FL = -(1 - p)^gamma log p
        assert value == pytest.approx(-((1 - p) ** 2) * math.log(p), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name", ["cross_entropy", "nll", "bce", "bce_with_logits"])
def test_classification_losses_are_minus_log_p(name: str) -> None:
    (curve,) = loss_curves([name], points=21).curves
    for p, value, grad in zip(curve.x, curve.value, curve.grad, strict=True):
        assert value == pytest.approx(-math.log(p), rel=1e-4, abs=1e-5)
        assert grad == pytest.approx(-1 / p, rel=1e-3)


def test_dense_dice_on_balanced_classes_is_one_minus_p() -> None:
    (curve,) = loss_curves(["dice"], points=21).curves
    for p, value, grad in zip(curve.x, curve.value, curve.grad, strict=True):
        assert value == pytest.approx(1 - p, abs=1e-4)
        assert grad == pytest.approx(-1.0, abs=1e-3)


def test_regression_gradients() -> None:
    curves = loss_curves(["mse", "l1", "huber"], points=61)
    assert curves.axis == "residual" and curves.x_label.startswith("residual")
    mse, l1, huber = curves.curves
    for r, value, grad in zip(mse.x, mse.value, mse.grad, strict=True):
        assert value == pytest.approx(r * r, abs=1e-5) and grad == pytest.approx(2 * r, abs=1e-5)
    for r, value, grad in zip(l1.x, l1.value, l1.grad, strict=True):
        assert value == pytest.approx(abs(r), abs=1e-5)
        if abs(r) > 1e-6:
            assert grad == pytest.approx(math.copysign(1.0, r))
    for r, grad in zip(huber.x, huber.grad, strict=True):  # delta = 1: r inside, sign(r) outside
        assert grad == pytest.approx(max(-1.0, min(1.0, r)), abs=1e-5)


def test_several_losses_and_vary_draw_each_combination(tmp_path: Path) -> None:
    curves = loss_curves(["focal", "focal_pixelwise"], ("gamma", [0, 2]), points=5)
    assert [c.label for c in curves.curves] == [
        "focal, gamma=0",
        "focal, gamma=2",
        "focal_pixelwise, gamma=0",
        "focal_pixelwise, gamma=2",
    ]
    out = tmp_path / "both.png"
    assert main(["plot", "focal,focal_pixelwise", "--vary", "gamma=0,2", "--points", "11", "--out", str(out)]) == 0
    _png_is_a_picture(out)


def test_values_parse_like_a_config_file() -> None:
    assert parse_vary("gamma=0,0.5,1e-3,true,none,mean") == ("gamma", [0, 0.5, 0.001, True, None, "mean"])
    assert parse_value("null") is None and parse_value("2") == 2
    with pytest.raises(PlotError, match="PARAM=v1,v2"):
        parse_vary("gamma")


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("losskit: error: ") and "\n" not in err, err
    return err


def test_bad_parameter_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error(capsys, ["plot", "focal", "--vary", "gama=0,1", "--out", str(tmp_path / "x.png")])
    assert "'gama'" in err and "Did you mean 'gamma'" in err
    err = _error(capsys, ["plot", "mse,l1", "--vary", "gamma=0,1", "--out", str(tmp_path / "x.png")])
    assert "'mse' has no parameter 'gamma'" in err
    err = _error(capsys, ["plot", "focl", "--out", str(tmp_path / "x.png")])
    assert "Did you mean 'focal'" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("name", "says"), [("giou", "predicted boxes"), ("kd", "teacher_logits"), ("deep_supervision", "list")]
)
def test_undrawable_loss_says_why(capsys: pytest.CaptureFixture[str], name: str, says: str) -> None:
    err = _error(capsys, ["plot", name])
    assert f"cannot plot '{name}'" in err and "probability of the true class" in err and says in err


def test_mixing_axes_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, ["plot", "mse,focal"])
    assert "different x axes" in err and "focal: probability" in err and "mse: residual" in err


def test_without_matplotlib_plot_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes its import fail
    err = _error(capsys, ["plot", "focal"])
    assert err == "losskit: error: plot needs matplotlib: pip install 'losskit[cli]'"


def test_docs_writes_one_plot_per_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "docs" / "losses.md"
    assert main(["docs", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert set(FAMILY_PLOTS) >= {"classification", "segmentation", "regression"}
    for family in FAMILY_PLOTS:
        _png_is_a_picture(out.parent / "plots" / f"{family}.png")
        heading = f"## {family.capitalize()}\n"
        section = text[text.index(heading) : text.index("\n## ", text.index(heading) + 1)]
        assert f"](plots/{family}.png)" in section
    assert text == render_catalogue()
    monkeypatch.chdir(tmp_path)  # the markdown on stdout: no pictures written anywhere
    assert main(["docs"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]
