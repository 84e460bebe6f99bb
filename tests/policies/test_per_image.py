import pytest
import torch

from adaptive_st.policies import PerImagePolicy, PolicyBatch, PolicyContext
from adaptive_st.policies.pair_features import FEATURE_NAMES

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def batch(gap: list[float], edge: list[float], training: bool = True, step: int = 0) -> PolicyBatch:
    feats = torch.tensor([gap, edge]).t()
    return PolicyBatch(step=step, batch_size=len(gap), device=torch.device("cpu"), pair_features=feats,
                       feature_names=FEATURE_NAMES, training=training)


def test_rule_on_known_features():
    p = PerImagePolicy(BASE, gamma_gap=0.5, gamma_edge=0.5, lo=0.25, hi=4.0, ema_decay=0.5)
    assert p.conditions_generator and p.needs_pair_features
    # first batch initialises the means: ḡ = 2.5, ē = 0.625
    # λ_0 = 10·√(1/2.5 · 0.625/1) = 10·0.5; λ_1 = 10·√(4/2.5 · 0.625/0.25) = 10·2
    assert p.condition(batch([1.0, 4.0], [1.0, 0.25])).tolist() == pytest.approx([5.0, 20.0])
    # second batch, means (2, 0.5) → EMA: ḡ = 2.25, ē = 0.5625; factor = √(2/2.25 · 0.5625/0.5) = 1
    assert p.condition(batch([2.0, 2.0], [0.5, 0.5], step=1)).tolist() == pytest.approx([10.0, 10.0])
    assert p.running_means.tolist() == pytest.approx([2.25, 0.5625])


def test_inference_uses_frozen_training_statistics():
    p = PerImagePolicy(BASE, ema_decay=0.5)
    p.condition(batch([1.0, 4.0], [1.0, 0.25]))
    means = p.running_means.clone()
    a = p.inference_condition(batch([2.5, 10.0], [0.625, 0.625], training=False))
    assert torch.equal(p.running_means, means)  # not updated outside training
    assert a.tolist() == pytest.approx([10.0, 20.0])  # [1, √(10/2.5)]·base
    assert torch.equal(a, p.inference_condition(batch([2.5, 10.0], [0.625, 0.625], training=False)))
    assert p.inference_condition(batch([1.0], [1.0], training=False), lam=3.0).tolist() == [3.0]
    # before any training step the batch's own means stand in
    fresh = PerImagePolicy(BASE)
    assert fresh.condition(batch([1.0, 4.0], [1.0, 0.25], training=False)).tolist() == pytest.approx([5.0, 20.0])
    assert not bool(fresh.initialized)


def test_factor_is_clipped_and_weights_are_per_sample():
    p = PerImagePolicy(BASE, gamma_gap=1.0, gamma_edge=1.0, lo=0.5, hi=2.0)
    cond = p.condition(batch([1.0, 100.0, 0.01], [1.0, 1.0, 1.0]))
    assert float(cond.max()) == pytest.approx(20.0) and float(cond.min()) == pytest.approx(5.0)
    lam = p.resolve(PolicyContext(step=0, losses={k: torch.tensor(1.0) for k in BASE}, condition=cond))
    assert lam["style"].shape == (3,) and torch.equal(lam["style"], cond)
    assert lam["adv"].shape == ()


def test_state_round_trip_continues_identically():
    seq = [batch([1.0 + t, 2.0], [0.5, 0.1 * (t + 1)], step=t) for t in range(5)]
    a = PerImagePolicy(BASE, ema_decay=0.9)
    for b in seq[:2]:
        a.condition(b)
    fresh = PerImagePolicy(BASE, ema_decay=0.9)
    fresh.load_state_dict(a.state_dict())
    for b in seq[2:]:
        assert torch.equal(a.condition(b), fresh.condition(b))


def test_errors():
    p = PerImagePolicy(BASE)
    with pytest.raises(ValueError, match="pair_features"):
        p.condition(PolicyBatch(step=0, batch_size=2, device=torch.device("cpu")))
    with pytest.raises(ValueError, match="edge_density"):
        p.condition(PolicyBatch(step=0, batch_size=2, device=torch.device("cpu"), pair_features=torch.ones(2, 1),
                                feature_names=("style_gap",)))
    for kwargs, key in (({"gamma_gap": -1.0}, "policy.gamma_gap"), ({"lo": 2.0}, "policy.lo"),
                        ({"hi": 0.5}, "policy.lo"), ({"ema_decay": 1.0}, "policy.ema_decay"),
                        ({"eps": 0.0}, "policy.eps")):
        with pytest.raises(ValueError, match=key):
            PerImagePolicy(BASE, **kwargs)
    with pytest.raises(ValueError, match=r"policy\.base_weights\.style"):
        PerImagePolicy({"content": 1.0, "style": 0.0})
