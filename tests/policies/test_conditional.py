import math

import numpy as np
import pytest
import torch

from adaptive_st.policies import ConditionalPolicy, PolicyBatch, PolicyContext

BASE = {"content": 1.0, "style": 5.0, "adv": 0.05}


def batch(step: int = 0, n: int = 8, training: bool = True) -> PolicyBatch:
    return PolicyBatch(step=step, batch_size=n, device=torch.device("cpu"), training=training)


def test_log_uniform_draw_follows_the_documented_seeding():
    p = ConditionalPolicy(BASE, lambda_min=0.5, lambda_max=50.0, seed=3)
    lam = p.condition(batch(step=7))
    seed = int(np.random.SeedSequence([3, 7]).generate_state(1, dtype=np.uint64)[0])
    u = torch.rand(8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = torch.exp(math.log(0.5) + (math.log(50.0) - math.log(0.5)) * u).float()
    assert lam.shape == (8,)
    assert torch.allclose(lam, expected)


def test_draws_are_a_function_of_seed_and_step_only():
    a, b = ConditionalPolicy(BASE, seed=0), ConditionalPolicy(BASE, seed=0)
    assert torch.equal(a.condition(batch(5)), b.condition(batch(5)))  # e.g. a resumed run / another rank
    assert torch.equal(a.condition(batch(5)), a.condition(batch(5)))
    assert not torch.equal(a.condition(batch(5)), a.condition(batch(6)))
    assert not torch.equal(a.condition(batch(5)), ConditionalPolicy(BASE, seed=1).condition(batch(5)))
    assert a.state_dict() == {}  # nothing to resume: the step is the state


def test_distributions_cover_the_range():
    lo, hi = 0.5, 50.0
    lam = ConditionalPolicy(BASE, lambda_min=lo, lambda_max=hi).sample(step=0, n=20000)
    assert float(lam.min()) >= lo and float(lam.max()) <= hi
    assert float(lam.log().mean()) == pytest.approx(math.log(5.0), abs=0.05)  # log-uniform: centre log √(lo·hi)
    assert float((lam < 5.0).float().mean()) == pytest.approx(0.5, abs=0.02)
    lam = ConditionalPolicy(BASE, lambda_min=lo, lambda_max=hi, distribution="uniform").sample(step=0, n=20000)
    assert float(lam.mean()) == pytest.approx(25.25, abs=0.5)


def test_top_share_puts_that_share_of_draws_at_lambda_max_and_only_they_train_g():
    plain, split = ConditionalPolicy(BASE, 1.5, 10.0), ConditionalPolicy(BASE, 1.5, 10.0, top_share=0.5)
    assert plain.generator_samples(plain.condition(batch())) is None  # plain YOTO: every draw trains G
    lam = split.sample(step=0, n=20000)
    top = split.generator_samples(lam)
    assert top.dtype == torch.bool and float(top.float().mean()) == pytest.approx(0.5, abs=0.02)
    assert torch.all(lam[top] == 10.0) and float(lam[~top].max()) < 10.0 and float(lam.min()) >= 1.5
    # the other draws are plain YOTO's, unchanged where they are kept (same seed, same first stream)
    kept = plain.sample(step=0, n=20000)
    assert torch.equal(lam[~top], kept[~top])
    assert torch.equal(split.sample(step=3, n=8), split.sample(step=3, n=8))  # still a function of (seed, step)


def test_inference_condition_is_fixed_and_overridable():
    p = ConditionalPolicy(BASE, lambda_min=0.5, lambda_max=50.0)
    assert p.conditions_generator
    assert p.condition(batch(3, training=False)).tolist() == pytest.approx([5.0] * 8)  # geometric mean
    assert p.inference_condition(batch(3, n=2, training=False)).tolist() == pytest.approx([5.0, 5.0])
    assert p.inference_condition(batch(3, n=2, training=False), lam=12.0).tolist() == [12.0, 12.0]
    u = ConditionalPolicy(BASE, lambda_min=1.0, lambda_max=3.0, distribution="uniform")
    assert u.condition(batch(training=False)).tolist() == pytest.approx([2.0] * 8)
    assert ConditionalPolicy(BASE, inference_lambda=20.0).condition(batch(training=False))[0] == 20.0


def test_weights_are_the_per_sample_condition():
    p = ConditionalPolicy(BASE, scale_adv=True)
    cond = p.condition(batch(1, n=4))
    lam = p.resolve(PolicyContext(step=1, losses={k: torch.tensor(1.0) for k in BASE}, condition=cond))
    assert lam["style"].shape == (4,) and torch.equal(lam["style"], cond)
    assert torch.allclose(lam["adv"], cond * (0.05 / 5.0))  # keeps the base adv:style ratio
    assert lam["content"].shape == () and float(lam["content"]) == 1.0
    plain = ConditionalPolicy(BASE).resolve(PolicyContext(step=1, losses={"style": torch.tensor(1.0)}, condition=cond))
    assert float(plain["adv"]) == pytest.approx(0.05)
    with pytest.raises(RuntimeError, match="condition"):
        p.resolve(PolicyContext(step=1, losses={"style": torch.tensor(1.0)}))


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"lambda_min": 0.0}, "policy.lambda_min"),
    ({"lambda_min": 5.0, "lambda_max": 1.0}, "policy.lambda_min"),
    ({"distribution": "normal"}, "policy.distribution"),
    ({"inference_lambda": 100.0}, "policy.inference_lambda"),
    ({"seed": -1}, "policy.seed"),
    ({"top_share": 1.0}, "policy.top_share"),
    ({"top_share": -0.1}, "policy.top_share"),
])
def test_rejects_bad_config(kwargs, key):
    with pytest.raises(ValueError, match=key):
        ConditionalPolicy(BASE, **kwargs)
    with pytest.raises(ValueError, match=r"policy\.scale_adv"):
        ConditionalPolicy({"style": 1.0}, scale_adv=True)
