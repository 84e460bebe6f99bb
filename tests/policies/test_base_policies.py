import math

import pytest
import torch

from adaptive_st.policies import ConstantPolicy, PolicyContext, SchedulePolicy, WeightPolicy

BASE = {"content": 1.0, "style": 10.0, "adv": 0.1}


def ctx(step: int = 0) -> PolicyContext:
    return PolicyContext(step=step, losses={k: torch.tensor(1.0) for k in BASE})


def test_constant_returns_base_weights_detached():
    lam = ConstantPolicy(BASE).resolve(ctx())
    assert {k: float(v) for k, v in lam.items()} == pytest.approx(BASE)
    assert all(not v.requires_grad for v in lam.values())


@pytest.mark.parametrize("bad", [{"style": -1.0}, {"style": float("nan")}, {"texture": 1.0}])
def test_invalid_base_weights_name_the_key(bad):
    with pytest.raises(ValueError, match=r"policy\.base_weights"):
        ConstantPolicy(bad)


def test_linear_warmup_on_known_steps():
    p = SchedulePolicy(BASE, terms=["style"], shape="linear", warmup_steps=100)
    assert [p.factor(s) for s in (0, 25, 50, 100, 500)] == pytest.approx([0.0, 0.25, 0.5, 1.0, 1.0])
    lam = p.resolve(ctx(50))
    assert float(lam["style"]) == pytest.approx(5.0)
    assert float(lam["adv"]) == pytest.approx(0.1)  # not scheduled → base


def test_cosine_warmup_and_step_decay():
    c = SchedulePolicy(BASE, shape="cosine", warmup_steps=100)
    assert c.factor(25) == pytest.approx(0.5 * (1 - math.cos(math.pi * 0.25)))
    assert c.factor(50) == pytest.approx(0.5)
    s = SchedulePolicy(BASE, shape="step", start_factor=1.0, step_size=10, gamma=0.5)
    assert [s.factor(t) for t in (0, 9, 10, 25)] == pytest.approx([1.0, 1.0, 0.5, 0.25])


def test_schedule_rejects_bad_config():
    with pytest.raises(ValueError, match=r"policy\.shape"):
        SchedulePolicy(BASE, shape="exp")
    with pytest.raises(ValueError, match="unknown term"):
        SchedulePolicy(BASE, terms=["texture"])


def test_resolve_rejects_unknown_terms_from_subclass():
    class Bad(WeightPolicy):
        def weights(self, ctx):
            return {"texture": torch.tensor(1.0)}

    with pytest.raises(KeyError, match="texture"):
        Bad(BASE).resolve(ctx())
