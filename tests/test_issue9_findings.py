"""Issue 9 audit: the parts of the eight findings that tests/test_security.py does not attack literally.

Each attack runs in a limited child process (tests/_attack.py: time and memory bounded, nothing imported, run or
changed, no secret in a message). Finding 1 through every spec key, every entry point that takes a name (not
only ``build_loss``) and every not-yet-imported module under ``torch``; finding 4's existence oracle.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ._attack import assert_inert, assert_refused, run_attacks

MAIN = "torch.utils.model_dump.__main__.X"


def test_finding_1_main_path_through_every_spec_key_and_name_entry_point(tmp_path: Path) -> None:
    # Was: every prefix of the path was imported before the check, and model_dump's __main__ ran sys.exit.
    (tmp_path / "wrapped.yaml").write_text(f"loss:\n  name: {MAIN}\n")
    (tmp_path / "term.yaml").write_text(f"losses:\n  a: {MAIN}\n  b: mse\n")
    results = run_attacks(
        f"""
        from losskit.cli import main
        main(["info", "mse"])  # warm up the CLI's own imports
        def attack_key_name():
            return losskit.build_loss({{"name": {MAIN!r}}})
        def attack_key_type():
            return losskit.build_loss({{"type": {MAIN!r}}})
        def attack_key_class():
            return losskit.build_loss({{"class": {MAIN!r}, "params": {{}}}})
        def attack_bare_string():
            return losskit.build_loss({MAIN!r})
        def attack_combined_term():
            return losskit.build_loss({{"losses": {{"a": {MAIN!r}, "b": "mse"}}}})
        def attack_terms_key():
            return losskit.build_loss({{"terms": {{"a": {{"_target_": {MAIN!r}}}}}}})
        def attack_combined_loss_class():
            return losskit.CombinedLoss({{"a": {MAIN!r}}})
        def attack_yaml_loss_wrapper():
            return losskit.build_loss("wrapped.yaml")
        def attack_yaml_term():
            return losskit.build_loss("term.yaml")
        def attack_has_loss():
            return losskit.has_loss({MAIN!r})
        def attack_describe_loss():
            return losskit.describe_loss({MAIN!r})
        def attack_cli_info():
            return main(["--plain", "info", {MAIN!r}])
        """,
        cwd=tmp_path,
    )
    for name in (n for n in results if n != "@@done"):
        result = results[name]
        if name in ("attack_has_loss", "attack_cli_info"):
            # a question, not a build: an answer is fine as long as nothing ran and the host survived
            assert result["error"] in (None, "UnknownLossError", "ConfigError"), result
            assert result["returned"] in ("False", "1", None), result
            assert_inert(result)
            continue
        expected = "UnknownLossError" if name in ("attack_describe_loss",) else "ConfigError"
        if result["error"] == "UnknownLossError":
            expected = "UnknownLossError"
        assert_refused(result, error=expected)


def _unloaded_torch_modules() -> list[str]:
    """Every module file under torch's package directory, by name, read from the file system (nothing imported)."""
    root = Path(torch.__file__).parent
    names = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(not p.isidentifier() for p in parts):
            continue
        names.append(".".join(parts))
    return sorted(set(names))


def test_finding_1_no_module_under_torch_is_imported_by_a_target(tmp_path: Path) -> None:
    # Was: paths under torch reconfigured the root logger, set environment variables, started a subprocess or
    # advanced the global RNG before the ConfigError came. Every module of torch, as `<module>.X`, one attack.
    modules = _unloaded_torch_modules()
    assert len(modules) > 500
    (tmp_path / "modules.txt").write_text("\n".join(modules))
    results = run_attacks(
        """
        def attack_every_torch_module():
            accepted = []
            for mod in open("modules.txt").read().split():
                for spec in ({"_target_": mod + ".X"}, {"_target_": mod + ".__main__.X"}):
                    try:
                        losskit.build_loss(spec)
                    except losskit.LossKitError:
                        continue
                    accepted.append(spec["_target_"])
            if accepted:
                raise AssertionError(f"built: {accepted[:5]}")
            raise ConfigError("all refused")
        """,
        cwd=tmp_path,
        timeout=600,
    )
    result = results["attack_every_torch_module"]
    assert result["error"] == "ConfigError" and result["message"] == "all refused", result
    assert_inert(result, seconds=120.0)


def test_finding_4_a_string_inside_a_spec_is_no_file_existence_oracle(tmp_path: Path) -> None:
    # Was: a string with a '/' was read as a file, so the error told whether the file existed (and its content).
    (tmp_path / "present.yaml").write_text("name: mse\n")  # same length as "missing": messages truncate alike
    # relative to the child's cwd: still a path (it has a '/'), and short enough never to be truncated
    here, missing = "./present.yaml", "./missing.yaml"
    results = run_attacks(
        f"""
        def attack_existing():
            return losskit.build_loss({{"losses": {{"a": {here!r}}}}})
        def attack_missing():
            return losskit.build_loss({{"losses": {{"a": {missing!r}}}}})
        def attack_existing_param():
            return losskit.build_loss({{"name": "cross_entropy", "weight": {here!r}}})
        def attack_missing_param():
            return losskit.build_loss({{"name": "cross_entropy", "weight": {missing!r}}})
        """,
        cwd=tmp_path,
    )
    for name in ("attack_existing", "attack_missing"):
        assert_refused(results[name], error="UnknownLossError")
    for name in ("attack_existing_param", "attack_missing_param"):
        assert_refused(results[name])
    for a, b in (("attack_existing", "attack_missing"), ("attack_existing_param", "attack_missing_param")):
        assert results[a]["message"].replace("present", "X") == results[b]["message"].replace("missing", "X"), (
            results[a]["message"],
            results[b]["message"],
        )
        assert not any(os.path.basename(p) in ("present.yaml", "missing.yaml") for p in results[a]["opened"])
