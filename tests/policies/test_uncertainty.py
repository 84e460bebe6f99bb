import math

import pytest
import torch

from adaptive_st.policies import PolicyContext, UncertaintyPolicy

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def ctx(content: float = 2.0, style: float = 0.5, step: int = 0) -> PolicyContext:
    return PolicyContext(step=step, losses={"content": torch.tensor(content), "style": torch.tensor(style),
                                            "adv": torch.tensor(-1.0)})


def test_sgd_steps_follow_dL_ds():
    p = UncertaintyPolicy(BASE, lr=0.1, optimizer="sgd")
    assert {k: float(v) for k, v in p.resolve(ctx()).items()} == pytest.approx(BASE)
    p.update(ctx())
    # ∂/∂s = 1 − exp(−0)·L = (1 − 2, 1 − 0.5) = (−1, 0.5) → s = (0.1, −0.05)
    assert p.log_vars.tolist() == pytest.approx([0.1, -0.05])
    lam = p.resolve(ctx())
    assert float(lam["content"]) == pytest.approx(math.exp(-0.1))
    assert float(lam["style"]) == pytest.approx(10 * math.exp(0.05))
    assert float(lam["adv"]) == pytest.approx(0.1)
    p.update(ctx())
    # (1 − e^{−0.1}·2, 1 − e^{0.05}·0.5) = (−0.809675, 0.474364)
    assert p.log_vars.tolist() == pytest.approx([0.1 + 0.1 * 0.809675, -0.05 - 0.1 * 0.474364], abs=1e-6)


def test_adam_steps():
    p = UncertaintyPolicy(BASE, lr=0.01, optimizer="adam", betas=(0.9, 0.999))
    p.update(ctx())
    # the first Adam step moves each s by lr in the direction of −sign(grad)
    assert p.log_vars.tolist() == pytest.approx([0.01, -0.01], abs=1e-7)
    g1 = [-1.0, 0.5]
    s = [0.01, -0.01]
    g2 = [1 - math.exp(-s[0]) * 2.0, 1 - math.exp(-s[1]) * 0.5]
    p.update(ctx())
    for i in range(2):
        m = (0.9 * 0.1 * g1[i] + 0.1 * g2[i]) / (1 - 0.9**2)
        v = (0.999 * 0.001 * g1[i] ** 2 + 0.001 * g2[i] ** 2) / (1 - 0.999**2)
        assert float(p.log_vars[i]) == pytest.approx(s[i] - 0.01 * m / (math.sqrt(v) + 1e-8), abs=1e-6)


def test_converges_to_inverse_loss_and_clamps():
    p = UncertaintyPolicy(BASE, lr=0.5, optimizer="sgd")
    for t in range(200):
        p.update(ctx(step=t))
    lam = p.resolve(ctx())
    assert float(lam["content"]) == pytest.approx(1.0 / 2.0, rel=1e-4)  # base / L at exp(s) = L
    assert float(lam["style"]) == pytest.approx(10.0 / 0.5, rel=1e-4)
    q = UncertaintyPolicy(BASE, lr=0.1, optimizer="sgd", s_min=-0.05, s_max=2.0)
    q.update(ctx(content=1e6, style=1e-6))
    assert q.log_vars.tolist() == pytest.approx([2.0, -0.05])  # s − lr·(1 − e^0·1e-6) = −0.1 → clamped


def test_state_round_trip_continues_identically():
    a = UncertaintyPolicy(BASE, lr=0.05)
    for t in range(3):
        a.update(ctx(2.0 - 0.1 * t, 0.5, t))
    b = UncertaintyPolicy(BASE, lr=0.05)
    b.load_state_dict(a.state_dict())
    for t in range(3, 6):
        a.update(ctx(2.0 - 0.1 * t, 0.5, t))
        b.update(ctx(2.0 - 0.1 * t, 0.5, t))
        assert torch.equal(a.log_vars, b.log_vars)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"lr": 0.0}, "policy.lr"),
    ({"optimizer": "rmsprop"}, "policy.optimizer"),
    ({"betas": [0.9]}, "policy.betas"),
    ({"s_min": 1.0, "s_max": 0.0}, "policy.s_min"),
    ({"s_init": 9.0}, "policy.s_init"),
    ({"terms": ["adv", "texture"]}, "policy.terms"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        UncertaintyPolicy(BASE, **kwargs)
