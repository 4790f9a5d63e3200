"""The ``losskit`` command line, driven through its real entry points (``main([...])`` and ``python -m``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

import losskit
from losskit.cli import main

# Whichever losskit is under test (installed or the source tree), the child processes import the same one.
PKG_ROOT = str(Path(losskit.__file__).resolve().parents[1])


def run_cli(
    *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (PKG_ROOT, os.environ.get("PYTHONPATH")) if p)}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "losskit", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def builtins() -> list[str]:
    from losskit.cli.inspect_cmds import is_builtin

    return [n for n in losskit.list_losses() if is_builtin(n)]


# ------------------------------------------------------------------------------------------ failure cases


@pytest.mark.parametrize(
    ("name", "typo", "right"),
    [("cross_entropy", "label_smothing", "label_smoothing"), ("dice", "smoth", "smooth")],
)
def test_check_misspelled_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, typo: str, right: str
) -> None:
    # In-process main() (the entry point's own code); the child-interpreter path is covered by the -I tests.
    if not losskit.has_loss(name):
        pytest.skip(f"{name} is not registered in this build")
    cfg = tmp_path / "loss.yaml"
    cfg.write_text(f"loss:\n  name: {name}\n  {typo}: 1.0\n")
    assert main(["check", str(cfg)]) == 1
    out, err = capsys.readouterr()
    assert f"Did you mean {right!r}" in err
    assert err.startswith("losskit: error: ")
    assert "Traceback" not in err + out


def test_check_misspelled_loss_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "loss.yaml"
    cfg.write_text("losses:\n  a: {name: dcie}\n  b: cross_entropy\nweights: [1, 1]\n")
    assert main(["check", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "unknown loss 'dcie'" in err and "Did you mean" in err
    assert "Traceback" not in err


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "loss.yaml"
    cfg.write_text("name: dcie\n")
    assert main(["--debug", "check", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "UnknownLossError" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["info"]) == 2
    assert main(["info", "no_such_loss_xyz"]) == 1
    assert "losskit: error: unknown loss" in capsys.readouterr().err
    assert main(["check", "/nonexistent/loss.yaml"]) == 1
    assert "losskit: error:" in capsys.readouterr().err


# --------------------------------------------------------------------------- every built-in, in-process


def test_list_info_check_every_builtin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = builtins()
    assert main(["--plain", "list"]) == 0
    listed = capsys.readouterr().out
    for name in names:
        assert f"\n{name} " in listed or listed.startswith(f"{name} ")
    for name in names:
        assert main(["--plain", "info", name]) == 0, name
        text = capsys.readouterr().out
        assert "Parameters" in text and "Example config" in text, name
        assert main(["info", name, "--config"]) == 0
        config_text = capsys.readouterr().out
        spec = yaml.safe_load(config_text)
        losskit.build_loss(spec["loss"])  # the printed config really builds
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(config_text)
        code = main(["--plain", "check", str(cfg)])
        captured = capsys.readouterr()
        assert code == 0, f"{name}: {captured.err}"
        assert "OK" in captured.out and "total" in captured.out


def test_list_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--names", "--task", "classification"]) == 0
    names = capsys.readouterr().out.split()
    assert names == losskit.list_losses(task="classification")
    assert main(["list", "--names", "*entropy*"]) == 0
    assert "cross_entropy" in capsys.readouterr().out.split()


def test_check_every_spec_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = {
        "name": "name: cross_entropy\nlabel_smoothing: 0.1\n",
        "type": "type: ce\n",
        "target": "_target_: CrossEntropyLoss\n",
        "dotted": "_target_: torch.nn.SmoothL1Loss\nbeta: 0.5\n",
        "class": "class: cross_entropy\nparams: {label_smoothing: 0.2}\n",
        "loss_key": "loss:\n  name: cross_entropy\n",
        # Term weights in "weights" (an inline "weight" on cross_entropy is ambiguous: it has a class weight).
        "combined": "loss:\n  losses:\n    ce: {name: cross_entropy}\n    smooth: {name: ce, label_smoothing: 0.1}\n"
        "  weights: {ce: 0.3, smooth: 0.7}\n",
    }
    for key, text in docs.items():
        cfg = tmp_path / f"{key}.yaml"
        cfg.write_text(text)
        assert main(["--plain", "check", str(cfg)]) == 0, (key, capsys.readouterr().err)
        out = capsys.readouterr().out
        assert "Resolved config" in out and "OK" in out
        if key == "combined":  # one value per term, then the total
            assert "\nce " in out and "\nsmooth " in out and "\ntotal " in out


def test_rich_output_when_forced(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rich")
    assert main(["list"]) == 0
    assert "│" not in capsys.readouterr().out  # not a terminal: plain text, greppable
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["info", "cross_entropy", "--no-source"]) == 0
    assert "│" in capsys.readouterr().out  # a rich table


# ----------------------------------------------------------------------------------- user-registered loss

PLUGIN = textwrap.dedent(
    '''
    """A user's own loss, registered on import."""
    import torch
    from torch import nn
    import losskit

    @losskit.register_loss("mine", aliases=["MyLoss"], tasks=["regression"])
    class MyLoss(nn.Module):
        """Mean absolute error, scaled: my project's loss."""

        def __init__(self, scale: float = 2.0, smooth: float = 0.0) -> None:
            super().__init__()
            self.scale, self.smooth = scale, smooth

        def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.scale * (input - target).abs().mean() + self.smooth
    '''
)


def test_user_registered_loss(
    tmp_path: Path,
    scoped_registry: losskit.Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "myplugin.py").write_text(PLUGIN)
    (tmp_path / "mine.yaml").write_text("loss: {name: mine, scale: 3.0}\n")
    (tmp_path / "bad.yaml").write_text("loss: {name: mine, smoth: 1.0}\n")
    # The real entry point once (python -m losskit, a fresh interpreter): --import, a typo, a clean one-line error.
    proc = run_cli("-I", "myplugin", "check", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "Did you mean 'smooth'" in proc.stderr and "Traceback" not in proc.stderr
    # The rest in-process (the same main(); a child interpreter per call made this the suite's slowest test).
    # --import puts the cwd on sys.path, as a console script needs: undone after, with the module and its loss.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert main(["--plain", "--import", "myplugin", "list", "--task", "regression"]) == 0
        assert "mine" in capsys.readouterr().out
        assert main(["--plain", "-I", "myplugin", "info", "MyLoss"]) == 0
        out = capsys.readouterr().out
        assert "scale" in out and "my project's loss" in out
        assert main(["--plain", "-I", "myplugin", "check", "mine.yaml"]) == 0
        out = capsys.readouterr().out
        assert "scale: 3.0" in out and "OK" in out
        # Registered by the calling program (imported above), then the CLI called in-process (the embedding use).
        assert main(["info", "mine", "--config"]) == 0
        assert yaml.safe_load(capsys.readouterr().out) == {"loss": {"name": "mine", "scale": 2.0, "smooth": 0.0}}
    finally:
        sys.modules.pop("myplugin", None)


def test_import_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--import", "no_such_module_here", "list"]) == 2
    assert capsys.readouterr().err.startswith("losskit: error: --import no_such_module_here")


def test_docs_command_writes_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "losses.md"
    assert main(["docs", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Loss catalogue") and "### `cross_entropy`" in text


def test_without_the_cli_extra() -> None:
    """rich and matplotlib missing: list/info/check fall back to plain text, compare says what to install."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["rich"] = None; sys.modules["matplotlib"] = None   # makes their import fail
        from losskit.cli import main
        assert main(["info", "cross_entropy", "--no-source"]) == 0
        assert main(["check", "cross_entropy"]) == 0
        raise SystemExit(main(["compare", "--epochs", "1"]))
        """
    )
    env = {**os.environ, "PYTHONPATH": PKG_ROOT, "FORCE_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Parameters" in proc.stdout and "OK" in proc.stdout
    assert proc.stderr.strip() == (
        "losskit: error: compare needs matplotlib for curves.png: pip install 'losskit[cli]' (or pass --no-plot)"
    )


def test_bench_forwards_to_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "run.py").write_text("import sys; raise SystemExit(len(sys.argv[1:]) + 40)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--", "--quick", "--only", "dice"]) == 43  # three arguments reached the script


# ------------------------------------------------------------------------ tools that tell the truth (issue 8)


@pytest.mark.parametrize(
    ("option", "typo", "right"), [("--task", "segmantation", "segmentation"), ("--tag", "imbalancd", "imbalanced")]
)
def test_list_unknown_task_or_tag_is_an_error(
    capsys: pytest.CaptureFixture[str], option: str, typo: str, right: str
) -> None:
    # Was: "0 losses" and exit code 0.
    code = main(["list", option, typo])
    out, err = capsys.readouterr()
    assert code == 1, out
    assert f"Did you mean {right!r}" in err and "Known" in err
    assert "Traceback" not in err and out == ""


def test_info_shows_the_docstring_once_and_each_parameter(tmp_path: Path) -> None:
    (tmp_path / "documented.py").write_text(
        textwrap.dedent(
            '''
        from typing import Literal
        import torch
        from torch import nn
        import losskit

        @losskit.register_loss("documented_loss")
        class Documented(nn.Module):
            """A loss with a documented signature.

            Longer explanation of what it does.

            Args:
                margin: distance the negatives are pushed
                    beyond the positives.
                reduction: how the batch is reduced.
            """

            def __init__(self, margin: float = 1.0, reduction: Literal["mean", "sum", "none"] = "mean") -> None:
                super().__init__()
                self.margin, self.reduction = margin, reduction

            def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                return (input - target).abs().mean() * self.margin
        '''
        )
    )
    proc = run_cli("--plain", "-I", "documented", "info", "documented_loss", "--no-source", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("A loss with a documented signature.") == 1  # was printed twice (summary + doc)
    assert out.count("Longer explanation") == 1
    assert "distance the negatives are pushed beyond the positives." in out  # parsed from Args:, joined
    assert "how the batch is reduced." in out
    assert out.count("'mean' | 'sum' | 'none'") == 1 and "Literal" not in out  # the choices, once
    assert "Args:" not in out  # shown per parameter, not again in the docstring


def test_check_with_user_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plain", "check", "dice", "--shape", "input=2,3,16,16"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "float32[2, 3, 16, 16], int64[2, 16, 16]" in out and "target (2, 16, 16): follows input" in out
    assert main(["--plain", "check", "dice", "--shape", "inpt=2,3"]) == 1
    assert "unknown input 'inpt'" in capsys.readouterr().err
    assert main(["--plain", "check", "dice", "--shape", "input"]) == 1
    assert "expected NAME=D1,D2" in capsys.readouterr().err


def test_check_reports_a_crashing_loss_as_failed(tmp_path: Path) -> None:
    (tmp_path / "crashing.py").write_text(
        textwrap.dedent(
            """
        import torch
        from torch import nn
        import losskit

        @losskit.register_loss("crashing_loss")
        class Crashing(nn.Module):
            def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                return (input @ torch.ones(3, 3)).mean()
        """
        )
    )
    proc = run_cli("--plain", "-I", "crashing", "check", "crashing_loss", cwd=tmp_path)
    assert proc.returncode == 1
    assert "FAILED: the loss raised RuntimeError: mat1 and mat2" in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def _term_rows(out: str) -> list[str]:
    """The term names in ``check``'s value table (the rows above ``total``)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("term ")) + 2  # header, then the rule
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("total "))
    return [line.split()[0] for line in lines[start:end]]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("dice_ce", ["dice", "ce"]),  # built-in losses made of terms, not only CombinedLoss
        ("vae", ["reconstruction", "kl"]),
        ("cross_entropy", []),  # a plain loss: the total alone
        # A combined loss reports its own terms' terms, nested.
        ("loss:\n  losses:\n    seg: dice_ce\n    ce: cross_entropy\n", ["seg", "seg.dice", "seg.ce", "ce"]),
    ],
)
def test_check_shows_the_terms_of_every_loss_made_of_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, expected: list[str]
) -> None:
    if "\n" in spec:
        (tmp_path / "loss.yaml").write_text(spec)
        spec = str(tmp_path / "loss.yaml")
    assert main(["--plain", "check", spec]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert _term_rows(out) == expected and "OK" in out


def test_check_shows_a_user_loss_terms_and_fails_a_broken_protocol(
    scoped_registry: losskit.Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from torch import nn

    from losskit.compose import with_terms

    @losskit.register_loss("user_l1_l2")
    class L1L2(nn.Module):
        def forward(self, input: torch.Tensor, target: torch.Tensor, return_terms: bool = False) -> object:
            l1, l2 = (input - target).abs().mean(), (input - target).pow(2).mean()
            return with_terms(l1 + l2, {"l1": l1, "l2": l2}, return_terms)

    @losskit.register_loss("user_says_terms")
    class SaysTerms(nn.Module):  # takes return_terms but ignores it
        def forward(self, input: torch.Tensor, target: torch.Tensor, return_terms: bool = False) -> torch.Tensor:
            return (input - target).abs().mean()

    @losskit.register_loss("user_nan_term")
    class NanTerm(nn.Module):  # a finite total hiding a NaN term is not a passed check
        def forward(self, input: torch.Tensor, target: torch.Tensor, return_terms: bool = False) -> object:
            good = (input - target).abs().mean()
            return with_terms(good, {"good": good, "bad": good * float("nan")}, return_terms)

    assert main(["--plain", "check", "user_l1_l2"]) == 0, capsys.readouterr().err
    assert _term_rows(capsys.readouterr().out) == ["l1", "l2"]
    assert main(["--plain", "check", "user_says_terms"]) == 1
    assert "FAILED: return_terms=True gave Tensor, expected (total, {term: value})" in capsys.readouterr().out
    assert main(["--plain", "check", "user_nan_term"]) == 1
    assert "FAILED: the loss is not finite" in capsys.readouterr().out


def test_check_budget_constant_matches_the_library() -> None:
    from losskit import cli
    from losskit.testing import MAX_EXAMPLE_ELEMENTS

    assert cli.MAX_EXAMPLE_ELEMENTS == MAX_EXAMPLE_ELEMENTS


def test_check_caps_example_inputs_in_a_memory_limited_child(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9 item 7: ``num_classes: 250000000`` made 8 GB of example inputs. Now refused, nothing allocated."""
    cfg = tmp_path / "big.yaml"
    cfg.write_text("loss:\n  name: cross_entropy\n  num_classes: 250000000\n")
    limit = 3 * 2**30  # address space: torch's import needs ~0.6 GB, the old inputs needed 8 GB
    code = (
        f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
        "from losskit.cli import main; sys.exit(main(['--plain', 'check', sys.argv[1]]))"
    )
    env = {**os.environ, "PYTHONPATH": PKG_ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "over the budget of 16,777,216 elements" in proc.stderr and "nothing was allocated" in proc.stderr
    assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr
    # The budget on the command line is honoured (and a small config still passes under the default); in-process.
    small = tmp_path / "small.yaml"
    small.write_text("loss:\n  name: cross_entropy\n  num_classes: 1000\n")
    assert main(["--plain", "check", str(small), "--max-elements", "100"]) == 1
    assert "over the budget of 100 elements" in capsys.readouterr().err
    assert main(["--plain", "check", str(small)]) == 0, capsys.readouterr().err
