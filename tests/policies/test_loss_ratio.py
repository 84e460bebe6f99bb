import math

import pytest
import torch

from adaptive_st.policies import LossRatioPolicy, PolicyContext

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}
STYLE = [4.0, 3.0, 2.5, 2.0]
ADV = [1.0, 1.2, 1.1, 1.0]


def ctx(style: float, adv: float, step: int = 0) -> PolicyContext:
    return PolicyContext(step=step, losses={"content": torch.tensor(1.0), "style": torch.tensor(style),
                                            "adv": torch.tensor(adv)})


def softmax2(a: float, b: float) -> tuple[float, float]:
    ea, eb = math.exp(a), math.exp(b)
    return 2 * ea / (ea + eb), 2 * eb / (ea + eb)


def run(p: LossRatioPolicy, n: int) -> list[dict[str, float]]:
    out = []
    for t in range(n):
        out.append({k: float(v) for k, v in p.resolve(ctx(STYLE[t], ADV[t], t)).items()})
        p.update(ctx(STYLE[t], ADV[t], t))
    out.append({k: float(v) for k, v in p.resolve(ctx(1.0, 1.0, n)).items()})
    return out


def test_plain_softadapt_on_known_window():
    lam = run(LossRatioPolicy(BASE, window=3, beta=1.0, variant="plain"), 4)
    # before two losses are seen: base weights
    assert lam[0] == pytest.approx(BASE) and lam[1] == pytest.approx(BASE)
    # n=2: s = (3-4, 1.2-1.0) = (-1, 0.2): w = 2·softmax → (0.46295, 1.53705)
    assert lam[2]["style"] == pytest.approx(10 * 0.462950, rel=1e-5)
    assert lam[2]["adv"] == pytest.approx(0.1 * 1.537050, rel=1e-5)
    # n=3: s = ((2.5-4)/2, (1.1-1.0)/2) = (-0.75, 0.05)
    ws, wa = softmax2(-0.75, 0.05)
    assert (lam[3]["style"], lam[3]["adv"]) == pytest.approx((10 * ws, 0.1 * wa))
    # window slides: [3, 2.5, 2] and [1.2, 1.1, 1.0] → s = (-0.5, -0.1)
    ws, wa = softmax2(-0.5, -0.1)
    assert (lam[4]["style"], lam[4]["adv"]) == pytest.approx((10 * ws, 0.1 * wa))
    assert all(d["content"] == 1.0 for d in lam)  # not adapted


def test_normalized_and_loss_weighted_variants():
    lam = run(LossRatioPolicy(BASE, window=3, beta=2.0, variant="normalized"), 3)[3]
    # s = (-0.75, 0.05), Σ|s| = 0.8 → (-0.9375, 0.0625), × β = 2
    ws, wa = softmax2(-1.875, 0.125)
    assert (lam["style"], lam["adv"]) == pytest.approx((10 * ws, 0.1 * wa), rel=1e-5)

    lam = run(LossRatioPolicy(BASE, window=3, beta=1.0, variant="loss-weighted"), 3)[3]
    fs, fa = (4 + 3 + 2.5) / 3, (1 + 1.2 + 1.1) / 3
    ns, na = fs * math.exp(-0.75), fa * math.exp(0.05)
    assert (lam["style"], lam["adv"]) == pytest.approx((10 * 2 * ns / (ns + na), 0.1 * 2 * na / (ns + na)))


def test_multipliers_sum_to_number_of_terms():
    p = LossRatioPolicy(BASE, terms=["content", "style", "adv"], window=2, beta=3.0, variant="plain")
    for t in range(4):
        p.update(PolicyContext(step=t, losses={k: torch.tensor(1.0 / (t + 1) + i) for i, k in enumerate(BASE)}))
    assert float(p.multipliers().sum()) == pytest.approx(3.0)


def test_state_round_trip_continues_identically():
    a = LossRatioPolicy(BASE, window=3, variant="plain")
    for t in range(2):
        a.update(ctx(STYLE[t], ADV[t], t))
    b = LossRatioPolicy(BASE, window=3, variant="plain")
    b.load_state_dict(a.state_dict())
    for t in range(2, 4):
        a.update(ctx(STYLE[t], ADV[t], t))
        b.update(ctx(STYLE[t], ADV[t], t))
        assert torch.equal(a.multipliers(), b.multipliers())


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"window": 1}, "policy.window"),
    ({"variant": "softer"}, "policy.variant"),
    ({"beta": float("inf")}, "policy.beta"),
    ({"terms": ["texture"]}, "policy.terms"),
    ({"terms": []}, "policy.terms"),
    ({"terms": ["style", "style"]}, "policy.terms"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        LossRatioPolicy(BASE, **kwargs)


def test_term_missing_from_base_weights():
    with pytest.raises(ValueError, match=r"policy\.terms"):
        LossRatioPolicy({"content": 1.0, "style": 1.0}, terms=["style", "adv"])
