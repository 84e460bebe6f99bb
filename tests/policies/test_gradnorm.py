import pytest
import torch

from adaptive_st.policies import GradNormPolicy, PolicyContext

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def ctx(content: float, style: float, g_content: float = 1.0, g_style: float = 3.0, step: int = 0) -> PolicyContext:
    return PolicyContext(
        step=step,
        losses={"content": torch.tensor(content), "style": torch.tensor(style), "adv": torch.tensor(0.2)},
        grad_norms={"content": torch.tensor(g_content), "style": torch.tensor(g_style), "adv": torch.tensor(5.0)},
    )


def test_sgd_steps_on_known_losses_and_grad_norms():
    p = GradNormPolicy(BASE, alpha=1.0, lr=0.1, optimizer="sgd")
    assert p.needs_grad_norms
    assert {k: float(v) for k, v in p.resolve(ctx(2.0, 1.0)).items()} == pytest.approx(BASE)
    # t=0: L0 = (2, 1), r = (1, 1); G_W = (1, 3), target = (2, 2); grad = (−1·1, +1·3)
    # w = (1.1, 0.7) → renormalised to Σ = 2: (1.1, 0.7)·2/1.8
    p.update(ctx(2.0, 1.0))
    w1 = [1.1 * 2 / 1.8, 0.7 * 2 / 1.8]
    assert p.task_weights.tolist() == pytest.approx(w1)
    # t=1: L̃ = (0.5, 0.8), r = L̃/0.65; G_W = (w1[0], 3·w1[1]); target = mean(G_W)·r
    p.update(ctx(1.0, 0.8))
    r = [0.5 / 0.65, 0.8 / 0.65]
    gw = [w1[0] * 1.0, w1[1] * 3.0]
    target = [(gw[0] + gw[1]) / 2 * ri for ri in r]
    assert gw[0] < target[0] and gw[1] > target[1]  # so grad = (−1, +3)
    w2 = [w1[0] + 0.1, w1[1] - 0.3]
    w2 = [2 * x / sum(w2) for x in w2]
    assert p.task_weights.tolist() == pytest.approx(w2)
    lam = p.resolve(ctx(1.0, 0.8))
    assert (float(lam["content"]), float(lam["style"]), float(lam["adv"])) == pytest.approx(
        (w2[0], 10 * w2[1], 0.1))


def test_alpha_scales_target_by_relative_training_rate():
    p = GradNormPolicy(BASE, alpha=2.0, lr=0.1, optimizer="sgd")
    p.update(ctx(1.0, 1.0, g_content=2.0, g_style=2.0))  # balanced: targets = G_W → sign(0) = 0
    assert p.task_weights.tolist() == pytest.approx([1.0, 1.0])
    # style trains slower: L̃ = (0.25, 1) → r = (0.4, 1.6), targets = 2·r² = (0.32, 5.12), G_W = (2, 2)
    # → grad = (+2, −2): the style weight grows
    p.update(ctx(0.25, 1.0, g_content=2.0, g_style=2.0))
    w = [1.0 - 0.2, 1.0 + 0.2]
    assert p.task_weights.tolist() == pytest.approx([2 * x / sum(w) for x in w])


def test_weights_stay_positive_with_a_large_step():
    p = GradNormPolicy(BASE, alpha=0.0, lr=10.0, optimizer="sgd", min_weight=1e-3)
    p.update(ctx(1.0, 1.0, g_content=1.0, g_style=3.0))
    # w = (1 + 10, 1 − 30) → clamp (11, 1e-3) → ·2/Σ
    assert p.task_weights.tolist() == pytest.approx([2 * 11 / 11.001, 2 * 1e-3 / 11.001])
    assert float(p.task_weights.sum()) == pytest.approx(2.0)


def test_needs_grad_norms():
    p = GradNormPolicy(BASE)
    with pytest.raises(RuntimeError, match="grad_norms"):
        p.update(PolicyContext(step=0, losses={k: torch.tensor(1.0) for k in BASE}))


def test_state_round_trip_continues_identically():
    a = GradNormPolicy(BASE, lr=0.05)
    seq = [ctx(2.0 - 0.2 * t, 1.0 - 0.05 * t, 1.0 + 0.1 * t, 3.0 - 0.2 * t, t) for t in range(6)]
    for c in seq[:3]:
        a.update(c)
    b = GradNormPolicy(BASE, lr=0.05)
    b.load_state_dict(a.state_dict())
    for c in seq[3:]:
        a.update(c)
        b.update(c)
        assert torch.equal(a.task_weights, b.task_weights)
    assert torch.equal(a.initial_losses, torch.tensor([2.0, 1.0]))


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"alpha": -1.0}, "policy.alpha"),
    ({"lr": 0.0}, "policy.lr"),
    ({"optimizer": "lbfgs"}, "policy.optimizer"),
    ({"min_weight": 0.0}, "policy.min_weight"),
    ({"terms": ["texture"]}, "policy.terms"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        GradNormPolicy(BASE, **kwargs)
