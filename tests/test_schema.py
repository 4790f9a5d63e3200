"""Issue 15: the JSON Schema of loss configs: valid, in step with docs/, and agreeing with build_loss."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")

import losskit  # noqa: E402
from losskit.cli import main  # noqa: E402
from losskit.cli.inspect_cmds import example_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = losskit.config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _builds(spec: Any) -> bool:
    try:
        losskit.build_loss(spec)
    except losskit.LossKitError:
        return False
    return True


def test_docs_schema_file_is_current() -> None:
    on_disk = json.loads((ROOT / "docs" / "losskit.schema.json").read_text(encoding="utf-8"))
    assert on_disk == losskit.config_schema(builtin_only=True), "docs/losskit.schema.json is stale: run `make docs`"


def _loss_list_specs(data: Any) -> list[Any]:
    """The specs of a ``losskit compare --config`` file (docs/compare.md): a list, ``{losses: [...]}`` or
    ``{label: spec}``, each item without its report ``label``."""
    if isinstance(data, dict) and isinstance(data.get("losses"), list):
        data = data["losses"]
    items = data if isinstance(data, list) else list(data.values())
    return [{k: v for k, v in item.items() if k != "label"} if isinstance(item, dict) else item for item in items]


def _yaml_blocks() -> list[tuple[str, Any]]:
    found = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)):
            data = yaml.safe_load(block)
            if doc.name == "compare.md":  # lists of loss specs for `losskit compare --config`: check each spec
                found += [(f"{doc.name}[{i}][{j}]", spec) for j, spec in enumerate(_loss_list_specs(data))]
            else:
                found.append((f"{doc.name}[{i}]", data))
    return found


def _python_specs() -> list[tuple[str, Any]]:
    """Literal first arguments of build_loss(...) calls in the docs' python blocks."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for node in ast.walk(ast.parse(block)):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", getattr(node.func, "id", "")) == "build_loss"
                ):
                    if node.args and not node.keywords:
                        try:
                            found.append((f"{doc.name}: {ast.unparse(node)[:60]}", ast.literal_eval(node.args[0])))
                        except ValueError:
                            pass
    return [(where, spec) for where, spec in found if not (isinstance(spec, str) and spec.endswith(".yaml"))]


def test_every_example_config_in_the_docs_validates(validator: Any) -> None:
    blocks = _yaml_blocks()
    assert len(blocks) >= 3
    for where, spec in blocks:
        assert not list(validator.iter_errors(spec)), where
        assert _builds(spec), where
    specs = _python_specs()
    assert len(specs) >= 3
    for where, spec in specs:
        assert (not list(validator.iter_errors(spec))) == _builds(spec), where


@pytest.mark.parametrize(
    "name", [e.name for e in losskit.LOSSES.entries() if e.name != "combined" and e.source.startswith("losskit.")]
)
def test_every_loss_example_config_validates(validator: Any, name: str) -> None:
    config = example_config(name)
    assert not list(validator.iter_errors(config)), [e.message for e in validator.iter_errors(config)][:3]


GOOD = [
    "dice",
    "DiceLoss",
    {"name": "dice", "smooth": 0.5, "reduction": "sum"},
    {"class": "VAELoss", "params": {"beta": 0.5}},
    {"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5},
    {"type": "focal", "gamma": 2},
    {"class_path": "dice", "init_args": {"smooth": 0.5}},
    {"losses": {"dice": {"_target_": "dice"}, "ce": "cross_entropy"}, "weights": [0.5, 0.5]},
    {"losses": {"a": {"name": "mse", "weight": 0.5}, "b": "l1"}},
    {"losses": {"a": "mse", "b": "l1"}, "weights": {"b": {"schedule": "step", "start": 1, "milestones": [3]}}},
    {"losses": {"a": "mse", "b": "l1"}, "weighting": "dwa", "temperature": 1.5},
    {"name": "vae", "beta": {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 100}},
    {"loss": {"name": "focal", "gamma": 2.0}},
]
BAD = [
    "dcie",  # misspelled name
    {"name": "dice", "smoth": 0.5},  # misspelled parameter
    {"class_path": "dice", "init_args": {"smoth": 0.5}},
    {"name": "dice", "reduction": "avg"},  # bad choice
    {"name": "dice", "smooth": "a lot"},  # wrong type
    {"name": "dice", "batch": 3},
    {"name": "dice", "type": "dice"},  # two names
    {"losses": {"a": "mse"}, "weighting": "learned"},
    {"losses": {"a": "mse"}, "weights": {"a": {"schedule": "linaer", "start": 0, "end": 1, "steps": 3}}},
    {"losses": {"a": "mse"}, "weights": {"a": {"schedule": "linear", "start": 0, "end": 1, "step": 3}}},
    {"name": "dice", "smooth": {"schedule": "linear", "start": 0, "end": 1, "steps": 3}},  # not schedulable
    {"losses": {"a": {"name": "mse", "weigth": 0.5}}},
]


@pytest.mark.parametrize("spec", GOOD, ids=lambda s: json.dumps(s)[:50])
def test_valid_specs_validate_and_build(validator: Any, spec: Any) -> None:
    assert not list(validator.iter_errors(spec)), [e.message for e in validator.iter_errors(spec)]
    assert _builds(spec["loss"] if isinstance(spec, dict) and "loss" in spec else spec)


@pytest.mark.parametrize("spec", BAD, ids=lambda s: json.dumps(s)[:50])
def test_invalid_specs_fail_the_schema_and_the_builder(validator: Any, spec: Any) -> None:
    assert list(validator.iter_errors(spec))
    assert not _builds(spec)


@pytest.mark.parametrize("spec", [GOOD[2], GOOD[9], BAD[1], BAD[3], BAD[8]], ids=lambda s: json.dumps(s)[:40])
def test_losskit_check_applies_the_schema_rules(tmp_path: Path, spec: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text(yaml.safe_dump({"loss": spec}), encoding="utf-8")
    code = main(["--plain", "check", str(path)])
    out = capsys.readouterr()
    assert (code == 0) == (spec in GOOD), out.out + out.err
    if spec in BAD:
        assert "does not fit the config schema" in out.out


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["$schema"].endswith("2020-12/schema")
