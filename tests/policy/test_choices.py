"""Policy: every built-in has a functional form, and a misspelled choice (``reduction="meann"``, ``mode=...``) is a
ValueError with "did you mean" in the functional form and in the module's constructor (docs/conventions.md)."""

from __future__ import annotations

import pytest

import losskit
from losskit.registration import LOSSES

from ._cases import (
    NOT_A_LOSS,
    build,
    builtin_names,
    choice_params,
    covered_names,
    ctor_params,
    example,
    functional_form,
    functional_inputs,
    misspell,
)

NAMES = covered_names()


def test_lists_of_this_policy_are_not_stale() -> None:
    builtins = set(builtin_names())
    assert len(builtins) > 50, "the built-ins were not found in the registry"
    stale = sorted(set(NOT_A_LOSS) - builtins)
    assert not stale, f"NOT_A_LOSS names losses that are not registered built-ins: {stale}"
    from ._large import DENSE_ALSO, MAX_BATCH

    for listed, what in ((DENSE_ALSO, "DENSE_ALSO"), (MAX_BATCH, "MAX_BATCH")):
        assert set(listed) <= builtins, f"{what} names losses that are not registered built-ins"
    for name in NOT_A_LOSS:
        spec = LOSSES.entry(name).metadata.get("inputs")
        # Declared inputs of its own would make it a loss the per-loss cases can cover.
        assert spec is None or not spec.tensors, f"{name} declares inputs now: remove it from NOT_A_LOSS"


@pytest.mark.parametrize("name", NAMES)
def test_builtin_has_a_functional_form(name: str) -> None:
    fn, where = functional_form(name)
    assert fn is not None, (
        f"{name}: no functional form (a losskit.functional function named after the loss or an alias); "
        f"the README promises one for every built-in"
    )


def _raises_did_you_mean(fn, args, kwargs, param: str, bad: str) -> str | None:
    """None when the call raised the right error, else what went wrong."""
    try:
        fn(*args, **{**kwargs, param: bad})
    except ValueError as exc:
        msg = str(exc)
        if "did you mean" not in msg.lower():
            return f"{param}={bad!r}: ValueError without did-you-mean: {msg[:200]}"
        return None
    except Exception as exc:  # noqa: BLE001 - report the wrong kind of error
        return f"{param}={bad!r}: {type(exc).__name__} instead of ValueError: {str(exc)[:200]}"
    return f"{param}={bad!r}: accepted silently"


@pytest.mark.parametrize("name", NAMES)
def test_functional_form_rejects_misspelled_choices(name: str) -> None:
    fn, where = functional_form(name)
    if fn is None:
        pytest.skip(f"{name} has no functional form (test_builtin_has_a_functional_form fails for it)")
    choices = choice_params(fn)
    if not choices:
        pytest.skip(f"{name}: its functional form {fn.__name__} has no string choice parameter")
    loss = build(name)
    args, kwargs = functional_inputs(name, loss, example(loss))
    fn(*args, **kwargs)  # the inputs are valid: only the misspelling below can fail
    problems = [
        p
        for param, default in choices.items()
        if (p := _raises_did_you_mean(fn, args, kwargs, param, misspell(default)))
    ]
    assert not problems, f"{name} ({where} {fn.__name__}): " + "; ".join(problems)


def _module_choices(name: str) -> dict[str, str]:
    obj = LOSSES.get(name)
    return choice_params(obj.__init__ if isinstance(obj, type) else obj)


@pytest.mark.parametrize("name", [n for n in NAMES if _module_choices(n)])
def test_constructor_rejects_misspelled_choices(name: str) -> None:
    problems = []
    cls = LOSSES.get(name)
    for param, default in _module_choices(name).items():
        bad = misspell(default)
        for how, make in (
            ("build_loss", lambda: losskit.build_loss(name, **{param: bad})),
            ("constructor", lambda: cls(**{param: bad})),
        ):
            try:
                make()
            except ValueError as exc:
                if "did you mean" not in str(exc).lower():
                    problems.append(f"{how}({param}={bad!r}): no did-you-mean: {str(exc)[:160]}")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{how}({param}={bad!r}): {type(exc).__name__}: {str(exc)[:160]}")
            else:
                problems.append(f"{how}({param}={bad!r}) accepted silently")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_choice_params_are_found() -> None:
    """The harness itself: the choice detector sees reduction and mode (so the tests above are not empty)."""
    assert "reduction" in ctor_params("dice") and "reduction" in _module_choices("dice")
    assert "mode" in _module_choices("dice")
    fn, _ = functional_form("dice")
    assert {"reduction", "mode"} <= set(choice_params(fn))
