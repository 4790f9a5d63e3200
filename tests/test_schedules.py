"""Issue 15: scheduled term weights and loss parameters, learned (uncertainty) and adaptive (DWA) weighting."""

from __future__ import annotations

import io
import math

import pytest
import torch
import yaml

import losskit
from losskit import ConfigError, build_loss, to_config
from losskit.compose.schedules import Schedule, parse_schedule


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"schedule": "constant", "value": 0.3}, {0: 0.3, 10: 0.3, 10**6: 0.3}),
        (
            {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 100, "begin": 50},
            {0: 0.0, 50: 0.0, 75: 0.25, 100: 0.5, 150: 1.0, 10**6: 1.0},
        ),
        (
            {"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 100},
            {0: 1.0, 50: 0.5, 25: (1 + math.cos(math.pi / 4)) / 2, 100: 0.0, 500: 0.0},
        ),
        ({"schedule": "exponential", "start": 1.0, "end": 0.01, "steps": 100}, {0: 1.0, 50: 0.1, 100: 0.01, 200: 0.01}),
        (
            {"schedule": "step", "start": 1.0, "milestones": [10, 20], "gamma": 0.5},
            {0: 1.0, 9: 1.0, 10: 0.5, 19: 0.5, 20: 0.25, 99: 0.25},
        ),
        ({"schedule": "linear", "start": 2.0, "end": 4.0, "steps": 0, "begin": 5}, {4: 2.0, 5: 4.0}),
    ],
)
def test_schedule_values_at_given_steps(spec: dict, expected: dict) -> None:
    schedule = parse_schedule(spec, "w")
    for step, value in expected.items():
        assert schedule(step) == pytest.approx(value, abs=1e-12), (step, schedule(step))
    assert parse_schedule(schedule.to_config(), "w") == schedule


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"schedule": "linaer", "start": 0, "end": 1, "steps": 3}, "Did you mean 'linear'"),
        ({"schedule": "linear", "start": 0, "end": 1, "step": 3}, "has no key 'step'. Did you mean 'steps'"),
        ({"schedule": "linear", "start": 0, "end": 1}, "needs 'steps'"),
        ({"schedule": "linear", "start": 0, "end": 1, "steps": -1}, "integer >= 0"),
        ({"schedule": "exponential", "start": 0.0, "end": 1, "steps": 3}, "non-zero and of one sign"),
        ({"schedule": "step", "start": 1, "milestones": [5, 2]}, "increasing"),
        ({"schedule": "cosine", "start": float("nan"), "end": 1, "steps": 3}, "finite"),
    ],
)
def test_bad_schedules_are_config_errors(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_loss({"losses": {"a": "mse", "b": "l1"}, "weights": {"b": spec}})


def _combined(**extra: object) -> torch.nn.Module:
    ramp = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 10, "begin": 5}
    return build_loss({"losses": {"mse": "mse", "l1": "l1"}, "weights": {"mse": 1.0, "l1": ramp}, **extra})


def test_step_set_step_current_weights_and_return_terms() -> None:
    loss = _combined()
    x, y = torch.full((2, 3), 2.0), torch.zeros(2, 3)  # mse 4, l1 2
    assert loss.current_weights() == {"mse": 1.0, "l1": 0.0}
    assert float(loss(x, y)) == pytest.approx(4.0)
    for _ in range(10):
        loss.step()
    assert loss.step_count == 10 and loss.current_weights() == {"mse": 1.0, "l1": 0.5}
    total, terms = loss(x, y, return_terms=True)
    assert float(total) == pytest.approx(5.0)
    assert {k: float(v) for k, v in terms.items()} == {"mse": 4.0, "l1": 2.0, "weight/mse": 1.0, "weight/l1": 0.5}
    loss.set_step(100)
    assert float(loss(x, y)) == pytest.approx(6.0)
    with pytest.raises(ConfigError, match="integer >= 0"):
        loss.set_step(-1)


def test_save_and_restore_mid_schedule_continues_exactly() -> None:
    loss = _combined()
    for _ in range(7):
        loss.step()
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    resumed = build_loss(to_config(loss))
    assert resumed.current_weights()["l1"] == 0.0
    resumed.load_state_dict(torch.load(buffer))  # weights_only (the default) loads it: ints and lists only
    assert resumed.step_count == 7
    for _ in range(5):
        loss.step()
        resumed.step()
        assert resumed.current_weights() == loss.current_weights()
    assert resumed.current_weights()["l1"] == pytest.approx(0.7)


def test_to_config_round_trips_schedules_through_yaml() -> None:
    loss = _combined(weighting="dwa", temperature=3.0)
    config = to_config(loss)
    again = build_loss(yaml.safe_load(yaml.safe_dump(config)))
    assert to_config(again) == config
    assert again.weighting == "dwa" and again.balance.temperature == 3.0
    assert config["weights"]["l1"] == {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 10, "begin": 5}


def test_uncertainty_weighting_matches_the_paper_and_learns() -> None:
    loss = build_loss({"losses": {"mse": "mse", "l1": "l1"}, "weighting": "uncertainty"})
    params = dict(loss.named_parameters())
    assert list(params) == ["balance.log_vars"]
    s = torch.tensor([0.3, -0.7])
    with torch.no_grad():
        params["balance.log_vars"].copy_(s)
    x, y = torch.full((2, 3), 2.0, requires_grad=True), torch.zeros(2, 3)
    total = loss(x, y)
    mse, l1 = 4.0, 2.0
    # Kendall et al. (2018), eq. 7 with s = log sigma^2: sum_i exp(-s_i) / 2 * L_i + s_i / 2
    expected = sum(math.exp(-si) / 2 * li + si / 2 for si, li in zip(s.tolist(), (mse, l1), strict=True))
    assert float(total.detach()) == pytest.approx(expected, rel=1e-6)
    total.backward()
    grad = params["balance.log_vars"].grad
    assert grad is not None
    expected_grad = [-math.exp(-si) / 2 * li + 0.5 for si, li in zip(s.tolist(), (mse, l1), strict=True)]
    torch.testing.assert_close(grad, torch.tensor(expected_grad))
    assert loss.current_weights() == pytest.approx({"mse": math.exp(-0.3) / 2, "l1": math.exp(0.7) / 2})


def test_dwa_weights_follow_the_ratio_of_recent_term_values() -> None:
    loss = build_loss({"losses": {"a": "mse", "b": "l1"}, "weighting": "dwa", "temperature": 2.0})
    y = torch.zeros(4)
    # interval 1: a = 4, b = 2; interval 2: a = 1 (ratio 0.25), b = 1 (ratio 0.5)
    for value in (2.0, 1.0):
        assert loss.current_weights() == {"a": 1.0, "b": 1.0}
        loss(torch.full((4,), value), y)
        loss.step()
    ra, rb = (1.0 / 4.0), (1.0 / 2.0)
    ea, eb = math.exp(ra / 2), math.exp(rb / 2)
    assert loss.current_weights() == pytest.approx({"a": 2 * ea / (ea + eb), "b": 2 * eb / (ea + eb)})
    loss.eval()
    loss(torch.full((4,), 100.0), y)  # evaluation forwards do not count
    loss.train()
    loss(torch.full((4,), 1.0), y)
    state = loss.state_dict()
    loss.step()
    restored = build_loss(to_config(loss))
    restored.load_state_dict(state)
    restored(torch.full((4,), 1.0), y)
    restored.step()
    assert restored.current_weights() == pytest.approx(loss.current_weights())


def test_scheduled_loss_parameters_where_declared() -> None:
    spec = {"name": "kd", "temperature": {"schedule": "cosine", "start": 4.0, "end": 1.0, "steps": 10}}
    loss = build_loss(spec)
    assert isinstance(loss, losskit.ScheduledLoss) and loss.loss.temperature == 4.0
    s, t = torch.randn(3, 5), torch.randn(3, 5)
    loss.set_step(10)
    torch.testing.assert_close(loss(s, t), build_loss("kd", temperature=1.0)(s, t))
    assert to_config(loss) == spec
    combo = build_loss({"losses": {"kd": spec, "ce": "mse"}})
    combo.step()
    assert combo.terms["kd"].step_count == 1
    vae = build_loss({"name": "vae", "beta": {"schedule": "linear", "start": 0.0, "end": 2.0, "steps": 4}})
    vae.set_step(2)
    assert vae.loss.beta == 1.0
    with pytest.raises(ConfigError, match="cannot follow a schedule"):
        build_loss({"name": "dice", "smooth": {"schedule": "linear", "start": 0, "end": 1, "steps": 3}})


def test_changing_weights_do_not_retrace_a_compiled_loss() -> None:
    import torch._dynamo

    torch._dynamo.reset()
    loss = _combined()
    compiled = torch.compile(loss, backend="eager", fullgraph=True)
    x, y = torch.full((2, 3), 2.0), torch.zeros(2, 3)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for step in range(12):
            assert float(compiled(x, y)) == pytest.approx(4.0 + 2.0 * Schedule("linear", 0.0, 1.0, 10, 5)(step))
            loss.step()
