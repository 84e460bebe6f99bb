import pytest
import torch

from adaptive_st.policies import GradRatioPolicy, PolicyContext

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def ctx(g_content: float, g_style: float, g_adv: float, step: int = 0) -> PolicyContext:
    return PolicyContext(
        step=step,
        losses={k: torch.tensor(1.0) for k in BASE},
        grad_norms={"content": torch.tensor(g_content), "style": torch.tensor(g_style), "adv": torch.tensor(g_adv)},
    )


def test_vqgan_adaptive_weight_uses_current_grad_norms():
    p = GradRatioPolicy(BASE, terms=["style", "adv"], delta=1e-4, max_ratio=1e4)
    lam = p.resolve(ctx(2.0, 0.5, 4.0))
    assert float(lam["style"]) == pytest.approx(10 * 2.0 / (0.5 + 1e-4))
    assert float(lam["adv"]) == pytest.approx(0.1 * 2.0 / (4.0 + 1e-4))
    assert float(lam["content"]) == 1.0
    lam = p.resolve(ctx(1.0, 1.0, 0.0))  # no state: the next step's norms alone decide
    assert float(lam["style"]) == pytest.approx(10 / (1 + 1e-4))
    assert float(lam["adv"]) == pytest.approx(0.1 * 1e4)  # 1/1e-4 clamped at max_ratio


def test_clamp_and_default_term_is_adv():
    p = GradRatioPolicy(BASE, max_ratio=3.0)
    lam = p.resolve(ctx(2.0, 0.5, 0.1))
    assert float(lam["adv"]) == pytest.approx(0.1 * 3.0)
    assert float(lam["style"]) == 10.0


def test_ema_smoothing_is_committed_in_update_only():
    p = GradRatioPolicy(BASE, terms=["style"], ema_decay=0.5, delta=1e-4)
    a = 10 * 2.0 / (1.0 + 1e-4)
    b = 10 * 2.0 / (4.0 + 1e-4)
    first = ctx(2.0, 1.0, 1.0)
    assert float(p.resolve(first)["style"]) == pytest.approx(a)  # λ̄ starts at the first λ
    p.update(first)
    second = ctx(2.0, 4.0, 1.0)
    assert float(p.resolve(second)["style"]) == pytest.approx(0.5 * a + 0.5 * b)
    assert float(p.resolve(second)["style"]) == pytest.approx(0.5 * a + 0.5 * b)  # weights() is pure
    p.update(second)
    assert float(p.ema[0]) == pytest.approx(0.5 * a + 0.5 * b)


def test_state_round_trip_continues_identically():
    seq = [ctx(1.0 + 0.1 * t, 0.5 + 0.2 * t, 2.0 - 0.1 * t, t) for t in range(6)]
    a = GradRatioPolicy(BASE, terms=["style", "adv"], ema_decay=0.9)
    for c in seq[:3]:
        a.update(c)
    b = GradRatioPolicy(BASE, terms=["style", "adv"], ema_decay=0.9)
    b.load_state_dict(a.state_dict())
    for c in seq[3:]:
        la, lb = a.resolve(c), b.resolve(c)
        assert all(torch.equal(la[k], lb[k]) for k in la)
        a.update(c)
        b.update(c)


def test_needs_grad_norms_and_rejects_bad_config():
    assert GradRatioPolicy.needs_grad_norms
    with pytest.raises(RuntimeError, match="grad_norms"):
        GradRatioPolicy(BASE).resolve(PolicyContext(step=0, losses={k: torch.tensor(1.0) for k in BASE}))
    for kwargs, key in (({"terms": ["content"]}, "policy.terms"), ({"delta": 0.0}, "policy.delta"),
                        ({"max_ratio": -1.0}, "policy.max_ratio"), ({"ema_decay": 1.0}, "policy.ema_decay")):
        with pytest.raises(ValueError, match=key):
            GradRatioPolicy(BASE, **kwargs)
