import pytest
import torch

from adaptive_st.policies import ConstrainedPolicy, PolicyContext

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def ctx(content: float, step: int = 0, **metrics: float) -> PolicyContext:
    return PolicyContext(step=step,
                         losses={"content": torch.tensor(content), "style": torch.tensor(2.0), "adv": torch.tensor(0.3)},
                         metrics={k: torch.tensor(v) for k, v in metrics.items()})


def lam(p: ConstrainedPolicy, c: PolicyContext | None = None) -> dict[str, float]:
    return {k: float(v) for k, v in p.resolve(c or ctx(1.0)).items()}


def test_pid_update_on_known_sequence():
    p = ConstrainedPolicy(BASE, target=1.0, kp=0.5, ki=0.1, kd=0.2, ema_decay=0.5, lambda_max=10.0)
    assert lam(p) == pytest.approx(BASE)  # λ_0 = base content
    # C=3: C̄ = 3 (first), g = 2, I = 2, D = 0 → λ = 1 + 0.5·2 + 0.1·2 = 2.2
    p.update(ctx(3.0))
    assert lam(p) == pytest.approx({"content": 2.2, "style": 10.0, "adv": 0.1})
    # C=1: C̄ = 2, g = 1, I = 3, D = max(0, 1 − 2) = 0 → λ = 1 + 0.5 + 0.3 = 1.8
    p.update(ctx(1.0))
    assert lam(p)["content"] == pytest.approx(1.8)
    # C=3: C̄ = 2.5, g = 1.5, I = 4.5, D = 0.5 → λ = 1 + 0.75 + 0.45 + 0.1 = 2.3
    p.update(ctx(3.0))
    assert lam(p)["content"] == pytest.approx(2.3)
    # C = 0 from here: C̄ = 1.25, 0.625, 0.3125 (< τ); g = 0.25, −0.375, −0.6875; I = 3.6875; D = 0
    for t in range(3):
        p.update(ctx(0.0, step=3 + t))
    assert lam(p) == pytest.approx({"content": 1 - 0.5 * 0.6875 + 0.1 * 3.6875, "style": 10.0, "adv": 0.1})


def test_integral_only_is_projected_dual_ascent_with_anti_windup():
    p = ConstrainedPolicy(BASE, target=1.0, kp=0.0, ki=1.0, ema_decay=0.0, lambda_max=5.0)
    p.update(ctx(1.5))  # λ = 1 + 0.5
    assert lam(p)["content"] == pytest.approx(1.5)
    for _ in range(10):  # long violation: g = 10 per step
        p.update(ctx(11.0))
    assert lam(p)["content"] == pytest.approx(5.0)
    assert float(p.integral) == pytest.approx(4.0)  # (λ_max − λ_0)/K_i, not 100.5
    p.update(ctx(0.5))  # g = −0.5: reacts at once
    assert lam(p)["content"] == pytest.approx(4.5)
    for _ in range(10):  # long slack: I stops at (λ_min − λ_0)/K_i = −1
        p.update(ctx(0.0))
    assert lam(p)["content"] == 0.0 and float(p.integral) == pytest.approx(-1.0)
    p.update(ctx(1.5))
    assert lam(p)["content"] == pytest.approx(0.5)


def test_constraint_on_a_metric():
    p = ConstrainedPolicy(BASE, target=0.2, constraint="lpips", kp=0.0, ki=1.0, ema_decay=0.0)
    with pytest.raises(KeyError, match="lpips"):
        p.update(ctx(5.0))  # never provided: fail on the first step
    p.update(ctx(5.0, lpips=0.5))  # content loss is ignored
    assert lam(p)["content"] == pytest.approx(1.0 + 0.3)
    p.update(ctx(5.0))  # missing after it was seen: hold λ
    assert lam(p)["content"] == pytest.approx(1.3)


def test_state_round_trip_continues_identically():
    seq = [3.0, 2.0, 0.5, 2.5, 1.0, 0.8]
    a = ConstrainedPolicy(BASE, target=1.0, kd=0.3)
    for t, c in enumerate(seq[:3]):
        a.update(ctx(c, t))
    b = ConstrainedPolicy(BASE, target=1.0, kd=0.3)
    b.load_state_dict(a.state_dict())
    for t, c in enumerate(seq[3:], start=3):
        a.update(ctx(c, t))
        b.update(ctx(c, t))
        assert torch.equal(a.multiplier, b.multiplier)


@pytest.mark.parametrize("target", [0.0, -1.0, float("inf"), float("nan")])
def test_target_must_be_reachable(target):
    with pytest.raises(ValueError, match=r"policy\.target"):
        ConstrainedPolicy(BASE, target=target)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"constraint": "style"}, "policy.constraint"),
    ({"kp": 0.0, "ki": 0.0}, "policy.kp"),
    ({"kd": -1.0}, "policy.kd"),
    ({"ema_decay": 1.0}, "policy.ema_decay"),
    ({"lambda_min": 2.0, "lambda_max": 1.0}, "policy.lambda_min"),
    ({"lambda_init": 200.0}, "policy.lambda_init"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        ConstrainedPolicy(BASE, target=1.0, **kwargs)
