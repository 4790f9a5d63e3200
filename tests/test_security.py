"""Issue 9: each finding of the security review, reproduced in a child process under a time and memory limit.

Every attack must be refused with a losskit error while the host process survives, nothing is imported, run
or changed, no secret or file content reaches a message, and time and memory stay bounded (tests/_attack.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._attack import assert_inert, assert_refused, run_attacks

SECRET = "hunter2-f00dcafe"


def test_finding_1_dotted_target_imports_nothing(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text("loss:\n  _target_: torch.utils.model_dump.__main__.X\n")
    (tmp_path / "unloaded.yaml").write_text("_target_: torch.utils.model_dump.X\n")
    results = run_attacks(
        """
        from losskit.cli import main
        main(["check", "mse"])  # warm up: the CLI imports its renderer and example makers on first use
        def attack_main_dict():
            return losskit.build_loss({"_target_": "torch.utils.model_dump.__main__.X"})
        def attack_main_yaml():
            return losskit.build_loss("main.yaml")
        def attack_unloaded_module():
            return losskit.build_loss("unloaded.yaml")
        def attack_unloaded_module_via_name():
            return losskit.build_loss("torch.utils.bottleneck.X")
        def attack_private_part():
            return losskit.build_loss({"_target_": "torch._dynamo.X"})
        def attack_non_loss_module_class():
            return losskit.build_loss({"_target_": "torch.nn.Linear", "in_features": 1, "out_features": 1})
        def attack_alias_path_to_os_system():
            return losskit.build_loss({"_target_": "torch.serialization.os.system"})
        def attack_omegaconf():
            return losskit.build_loss(OmegaConf.create({"_target_": "torch.utils.model_dump.__main__.X"}))
        def attack_cli_check():
            return main(["check", "main.yaml"])
        def attack_main_with_policy():
            return losskit.build_loss({"_target_": "unittest.__main__.X"}, allow_imports=ImportPolicy(any_package=True))
        """,
        cwd=tmp_path,
    )
    for name, result in results.items():
        if name == "@@done":
            continue
        if name == "attack_cli_check":  # the CLI reports the ConfigError and exits 1
            assert result["error"] is None and result["returned"] == "1", result
            assert_inert(result)
            continue
        assert_refused(result, match="refused")
    assert "did you mean" not in results["attack_main_dict"]["message"]


def test_finding_1_system_exit_on_an_allowed_import_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "exiting_pkg.py").write_text("import sys\nsys.exit(3)\n")
    results = run_attacks(
        """
        def attack_exit():
            policy = ImportPolicy(packages=["exiting_pkg"])
            return losskit.build_loss({"_target_": "exiting_pkg.X"}, allow_imports=policy)
        """,
        cwd=tmp_path,
        extra_paths=(tmp_path,),
    )
    result = results["attack_exit"]
    assert result["error"] == "ConfigError" and "SystemExit" in result["message"], result


def test_finding_2_a_config_cannot_switch_on_imports(tmp_path: Path) -> None:
    (tmp_path / "test_pwned.py").write_text("open('pwned', 'w').write('ran')\n")
    results = run_attacks(
        """
        def attack_params_list():
            cfg = {"name": "unittest.__main__.X", "params": {"allow_imports": ["unittest"]}}
            return losskit.build_loss(cfg["name"], **cfg["params"])
        def attack_params_true():
            cfg = yaml.safe_load("name: unittest.__main__.X\\nparams: {allow_imports: true}")
            return losskit.build_loss(cfg["name"], **cfg["params"])
        def attack_params_string():
            return losskit.build_loss("unittest.X", **{"allow_imports": "unittest"})
        def attack_inside_spec():
            return losskit.build_loss({"name": "unittest.__main__.X", "allow_imports": ["unittest"]})
        """,
        cwd=tmp_path,
    )
    for name in ("attack_params_list", "attack_params_true", "attack_params_string"):
        assert_refused(results[name], match="ImportPolicy")
    assert_refused(results["attack_inside_spec"], match="refused")
    assert not (tmp_path / "pwned").exists()


BILLION_LAUGHS = (
    "a: &a [x,x,x,x,x,x,x,x,x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "name: *i\n"
)


def test_finding_3_yaml_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 600
    (tmp_path / "weight.yaml").write_text(
        "w0: &w0 [1,1,1,1,1,1,1,1,1,1]\nw1: &w1 [*w0,*w0,*w0,*w0,*w0,*w0,*w0,*w0,*w0,*w0]\n"
        "w2: &w2 [*w1,*w1,*w1,*w1,*w1,*w1,*w1,*w1,*w1,*w1]\n"
        "loss: {name: cross_entropy, weight: [*w2,*w2,*w2,*w2,*w2,*w2,*w2,*w2,*w2,*w2]}\n"
    )
    (tmp_path / "big.yaml").write_text("name: mse\nbig: [" + "1," * (3 << 20) + "1]\n")  # 6 MB
    (tmp_path / "long_weight.yaml").write_text("name: cross_entropy\nweight: [" + "1," * 150_000 + "1]\n")
    (tmp_path / "deep.yaml").write_text("name: mse\nx: " + "[" * 2000 + "]" * 2000 + "\n")
    terms = "".join(f"  t{i}: mse\n" for i in range(300))
    (tmp_path / "terms.yaml").write_text("losses:\n" + terms)
    (tmp_path / "merge.yaml").write_text("base: &b {name: mse}\nloss: {<<: *b}\n")
    results = run_attacks(
        """
        def attack_billion_laughs():
            return losskit.build_loss("laughs.yaml")
        def attack_alias_class_weight():
            return losskit.build_loss("weight.yaml")
        def attack_large_file():
            return losskit.build_loss("big.yaml")
        def attack_long_list_parameter():
            return losskit.build_loss("long_weight.yaml")
        def attack_deep_yaml():
            return losskit.build_loss("deep.yaml")
        def attack_many_terms():
            return losskit.build_loss("terms.yaml")
        def attack_merge_key_alias():
            return losskit.build_loss("merge.yaml")
        def attack_load_config():
            return losskit.load_config("laughs.yaml")
        def attack_huge_string_name():
            return losskit.build_loss({"name": "x" * 5_000_000})
        def attack_dict_of_a_million_terms():
            return losskit.build_loss({"losses": {f"t{i}": "mse" for i in range(1_000_000)}})
        """,
        cwd=tmp_path,
    )
    for name in (n for n in results if n != "@@done"):
        assert_refused(results[name], seconds=5.0, memory_mb=300.0)
    assert "alias" in results["attack_billion_laughs"]["message"]
    assert "limit" in results["attack_large_file"]["message"]


def test_finding_4_strings_inside_a_spec_are_names_never_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.yaml"
    secret_file.write_text(f"name: mse\ntoken: {SECRET}\n")
    (tmp_path / "passwd.yaml").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    (tmp_path / "self.yaml").write_text("loss: self.yaml\n")
    (tmp_path / "nested.yaml").write_text(f"losses:\n  a: {secret_file}\n")
    results = run_attacks(
        f"""
        def attack_etc_passwd_term():
            return losskit.build_loss({{"losses": {{"a": "/etc/passwd"}}}})
        def attack_secret_term():
            return losskit.build_loss({{"losses": {{"a": {str(secret_file)!r}}}}})
        def attack_relative_term():
            return losskit.build_loss({{"losses": {{"a": "./secret.yaml"}}}})
        def attack_nested_in_file():
            return losskit.build_loss("nested.yaml")
        def attack_self_include():
            return losskit.build_loss("self.yaml")
        def attack_non_mapping_file():
            return losskit.build_loss("passwd.yaml")
        def attack_top_level_not_yaml():
            return losskit.build_loss("/etc/passwd")
        def attack_proc_kallsyms():
            return losskit.build_loss("/proc/kallsyms")
        def attack_missing_file():
            return losskit.build_loss("/nonexistent/dir/x.yaml")
        def attack_parameter_path():
            return losskit.build_loss({{"name": "cross_entropy", "weight": {str(secret_file)!r}}})
        """,
        cwd=tmp_path,
    )
    for name in (n for n in results if n != "@@done"):
        result = results[name]
        expected = (
            "UnknownLossError"
            if name in {"attack_etc_passwd_term", "attack_secret_term", "attack_relative_term", "attack_nested_in_file"}
            else "ConfigError"
        )
        assert_refused(result, error=expected, secrets=(SECRET, "root:x:0:0"))
        reads = [p for p in result["opened"] if "secret" in p or "passwd" in p or "kallsyms" in p]
        allowed = {"attack_non_mapping_file": ["passwd.yaml"]}  # the top-level file itself, never echoed
        assert [os.path.basename(p) for p in reads] == allowed.get(name, []), (name, reads)
    assert "include" in results["attack_self_include"]["message"]


def test_finding_5_omegaconf_resolvers_never_run(tmp_path: Path) -> None:
    results = run_attacks(
        """
        calls = []
        OmegaConf.register_new_resolver("eval", lambda text: calls.append(text) or os.system(text))
        def attack_env_secret():
            return losskit.build_loss(OmegaConf.create({"name": "${oc.env:SECRET_TOKEN}"}))
        def attack_env_in_referenced_node():
            cfg = OmegaConf.create({"model": {"n": "${oc.env:SECRET_TOKEN}"}, "loss": {"name": "${model.n}"}})
            return losskit.build_loss(cfg.loss)
        def attack_eval_resolver():
            return losskit.build_loss(OmegaConf.create({"name": "mse", "reduction": "${eval:touch pwned}"}))
        def attack_unknown_resolver():
            return losskit.build_loss(OmegaConf.create({"name": "${nope:1}"}))
        def attack_cycle():
            return losskit.build_loss(OmegaConf.create({"name": "${a}", "a": "${name}"}))
        def attack_missing_value():
            return losskit.build_loss(OmegaConf.create({"name": "???"}))
        def attack_resolver_calls():
            assert calls == [], calls
            return "no resolver ran"
        def attack_node_interpolation_still_works():
            cfg = OmegaConf.create({"model": {"beta": 0.25}, "loss": {"name": "smooth_l1", "beta": "${model.beta}"},
                                    "paths": {"data": "${oc.env:SECRET_TOKEN}"}})
            return losskit.build_loss(cfg.loss).beta
        """,
        cwd=tmp_path,
        env={"SECRET_TOKEN": SECRET},
    )
    for name in (
        "attack_env_secret",
        "attack_env_in_referenced_node",
        "attack_eval_resolver",
        "attack_unknown_resolver",
        "attack_cycle",
        "attack_missing_value",
    ):
        assert_refused(results[name], secrets=(SECRET,))
    assert "resolver" in results["attack_env_secret"]["message"]
    assert results["attack_resolver_calls"]["error"] is None, results["attack_resolver_calls"]
    assert results["attack_node_interpolation_still_works"]["returned"] == "0.25"
    assert not (tmp_path / "pwned").exists()


def test_finding_6_a_plugin_cannot_take_over_a_dotted_path(tmp_path: Path) -> None:
    dist = tmp_path / "evil_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[losskit.losses]\ntorch.nn.MSELoss = evil_mod:Evil\nevil_ok = evil_mod:Evil\n"
    )
    (tmp_path / "evil_mod.py").write_text("open('imported', 'w').write('x')\nfrom torch import nn\nEvil = nn.L1Loss\n")
    results = run_attacks(
        """
        def attack_dotted_plugin_name():
            import torch
            warned = [str(w) for w in losskit.registration.PLUGINS.conflicts]
            assert "torch.nn.MSELoss" not in losskit.LOSSES and "evil_ok" in losskit.LOSSES, warned
            assert any("dots" in w for w in warned), warned
            return type(losskit.build_loss({"_target_": "torch.nn.MSELoss"})).__module__
        def attack_register_dotted():
            return losskit.register_loss("torch.nn.MSELoss", losskit.LOSSES.get("l1"))
        """,
        cwd=tmp_path,
        extra_paths=(tmp_path,),
    )
    result = results["attack_dotted_plugin_name"]
    assert result["error"] is None and "torch.nn" in result["returned"], result
    assert_inert(result)
    assert not (tmp_path / "imported").exists()
    assert_refused(results["attack_register_dotted"], error="RegistrationError", match="dots")


def test_finding_8_every_hostile_value_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "date.yaml").write_text("name: smooth_l1\nbeta: 2024-13-45\n")
    (tmp_path / "date_ok.yaml").write_text("name: smooth_l1\nbeta: 2024-01-05\n")
    (tmp_path / "digits.yaml").write_text("name: smooth_l1\nbeta: " + "9" * 4400 + "\n")
    (tmp_path / "binary.yaml").write_bytes(b"name: mse\n\xff\xfe\x00bad")
    (tmp_path / "self_ref.yaml").write_text("loss: ./self_ref.yaml\n")
    big = "9" * 400
    results = run_attacks(
        f"""
        def attack_overflow_float_param():
            return losskit.build_loss({{"name": "smooth_l1", "beta": {big}}})
        def attack_overflow_weight():
            return losskit.build_loss({{"losses": {{"a": "mse"}}, "weights": [{big}]}})
        def attack_overflow_inline_weight():
            return losskit.build_loss({{"losses": {{"a": {{"name": "mse", "weight": {big}}}}}}})
        def attack_overflow_override():
            return losskit.build_loss("smooth_l1", beta={big})
        def attack_yaml_bad_date():
            return losskit.build_loss("date.yaml")
        def attack_yaml_date_value():
            return losskit.build_loss("date_ok.yaml")
        def attack_yaml_4400_digits():
            return losskit.build_loss("digits.yaml")
        def attack_decode_error():
            return losskit.build_loss("binary.yaml")
        def attack_deep_nesting():
            spec = {{"name": "mse"}}
            for _ in range(2000):
                spec = {{"name": "mse", "x": spec}}
            return losskit.build_loss(spec)
        def attack_nested_losses():
            spec = {{"name": "mse"}}
            for _ in range(3000):
                spec = {{"losses": {{"a": spec}}}}
            return losskit.build_loss(spec)
        def attack_self_including_file():
            return losskit.build_loss("self_ref.yaml")
        def attack_cyclic_dict():
            spec = {{"name": "mse"}}
            spec["x"] = spec
            return losskit.build_loss(spec)
        def attack_nan_string():
            return losskit.build_loss({{"name": "smooth_l1", "beta": "nan"}})
        """,
        cwd=tmp_path,
    )
    for name in (n for n in results if n != "@@done"):
        assert_refused(results[name])
