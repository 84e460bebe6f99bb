import math

import pytest
import torch

from adaptive_st.policies import DWAPolicy, PolicyContext

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}
# Blocks of 2 steps: content means (3, 3, 1), style means (2, 1, 2).
CONTENT = [4.0, 2.0, 3.0, 3.0, 1.0, 1.0]
STYLE = [2.0, 2.0, 1.0, 1.0, 1.0, 3.0]


def ctx(t: int) -> PolicyContext:
    c, s = (CONTENT[t], STYLE[t]) if t < len(CONTENT) else (1.0, 1.0)
    return PolicyContext(step=t, losses={"content": torch.tensor(c), "style": torch.tensor(s),
                                         "adv": torch.tensor(-0.3)})


def dwa(r_content: float, r_style: float, temperature: float = 2.0) -> tuple[float, float]:
    ec, es = math.exp(r_content / temperature), math.exp(r_style / temperature)
    return 2 * ec / (ec + es), 2 * es / (ec + es)


def test_dwa_on_known_block_averages():
    p = DWAPolicy(BASE, window=2, temperature=2.0)
    seen = []
    for t in range(6):
        seen.append({k: float(v) for k, v in p.resolve(ctx(t)).items()})
        p.update(ctx(t))
    seen.append({k: float(v) for k, v in p.resolve(ctx(6)).items()})
    # w = 1 until two blocks (4 steps) are complete
    assert all(d == pytest.approx(BASE) for d in seen[:4])
    # r = block2 / block1 = (3/3, 1/2)
    wc, ws = dwa(1.0, 0.5)
    assert (seen[4]["content"], seen[4]["style"]) == pytest.approx((wc, 10 * ws))
    assert seen[5] == seen[4]  # constant inside a block
    # r = block3 / block2 = (1/3, 2/1)
    wc, ws = dwa(1 / 3, 2.0)
    assert (seen[6]["content"], seen[6]["style"]) == pytest.approx((wc, 10 * ws))
    assert float(p.multipliers().sum()) == pytest.approx(2.0)
    assert seen[6]["adv"] == pytest.approx(0.1)  # not adapted: its hinge loss is negative


def test_window_of_one_uses_per_step_ratios():
    p = DWAPolicy(BASE, window=1, temperature=1.0)
    for t in range(3):
        p.update(ctx(t))
    # r = L(2)/L(1) = (3/2, 1/2)
    wc, ws = dwa(1.5, 0.5, temperature=1.0)
    assert p.multipliers().tolist() == pytest.approx([wc, ws])


def test_state_round_trip_mid_block():
    a = DWAPolicy(BASE, window=2)
    for t in range(3):
        a.update(ctx(t))
    b = DWAPolicy(BASE, window=2)
    b.load_state_dict(a.state_dict())
    for t in range(3, 8):
        a.update(ctx(t))
        b.update(ctx(t))
        assert torch.equal(a.multipliers(), b.multipliers())


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"temperature": 0.0}, "policy.temperature"),
    ({"window": 0}, "policy.window"),
    ({"eps": 0.0}, "policy.eps"),
    ({"terms": ["texture"]}, "policy.terms"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        DWAPolicy(BASE, **kwargs)
