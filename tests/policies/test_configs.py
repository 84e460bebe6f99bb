"""Every conf/policy/*.yaml builds with Hydra and survives a few fake training steps."""

from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from adaptive_st.policies import POLICIES, PolicyBatch, PolicyContext, WeightPolicy
from adaptive_st.policies.pair_features import FEATURE_NAMES

CONF = Path(__file__).resolve().parents[2] / "conf" / "policy"
YAMLS = sorted(CONF.glob("*.yaml"))
BASE = {"content": 1.0, "style": 5.0, "adv": 0.05}
B = 4


def build(path: Path) -> WeightPolicy:
    # conf/train.yaml wires every policy's base λ to loss.weights; the policy YAMLs hold only their own keys.
    policy = OmegaConf.merge(OmegaConf.load(path), {"base_weights": "${loss.weights}"})
    root = OmegaConf.create({"seed": 0, "loss": {"weights": BASE}, "policy": policy})
    return instantiate(root.policy)


def fake_step(policy: WeightPolicy, t: int, training: bool = True) -> tuple[torch.Tensor | None, dict]:
    """condition → resolve on synthetic, decreasing losses; returns (condition, ctx)."""
    g = torch.Generator().manual_seed(t)
    feats = torch.rand(B, 2, generator=g) + 0.1 if policy.needs_pair_features else None
    cond = policy.condition(PolicyBatch(step=t, batch_size=B, device=torch.device("cpu"), pair_features=feats,
                                        feature_names=FEATURE_NAMES, training=training))
    scale = {"content": 2.0 * 0.9**t, "style": 1.0 * 0.8**t, "adv": 0.5 * 0.95**t}
    # requires_grad on purpose: whatever comes in, the weights must come out detached
    losses = {k: torch.tensor(v, requires_grad=True) for k, v in scale.items()}
    ctx = PolicyContext(
        step=t, losses=losses,
        sample_losses={k: v * (1 + 0.1 * torch.rand(B, generator=g)) for k, v in scale.items()},
        grad_norms={"content": torch.tensor(1.0 + 0.1 * t), "style": torch.tensor(3.0 - 0.2 * t),
                    "adv": torch.tensor(0.5)} if policy.needs_grad_norms else None,
        condition=cond,
    )
    return cond, ctx


@pytest.mark.parametrize("path", YAMLS, ids=[p.stem for p in YAMLS])
def test_yaml_instantiates_and_runs_five_steps(path):
    policy = build(path)
    assert isinstance(policy, WeightPolicy)
    for t in range(5):
        cond, ctx = fake_step(policy, t)
        if policy.conditions_generator:
            assert cond is not None and cond.shape == (B,) and bool((cond > 0).all())
        else:
            assert cond is None
        lam = policy.resolve(ctx)
        assert set(lam) == set(BASE)
        for name, w in lam.items():
            assert not w.requires_grad, name
            assert w.shape in ((), (B,)), (name, w.shape)
            assert bool(torch.isfinite(w).all()) and bool((w >= 0).all()), (name, w)
        if policy.conditions_generator:
            assert lam["style"].shape == (B,)
        policy.update(ctx)
    if policy.conditions_generator:
        cond, _ = fake_step(policy, 5, training=False)
        again, _ = fake_step(policy, 6, training=False)
        assert cond.shape == (B,) and bool(torch.isfinite(cond).all())
        assert policy.needs_pair_features or torch.equal(cond, again)  # deterministic at inference


@pytest.mark.parametrize("path", YAMLS, ids=[p.stem for p in YAMLS])
def test_yaml_state_round_trip(path):
    a = build(path)
    for t in range(3):
        a.update(fake_step(a, t)[1])
    b = build(path)
    b.load_state_dict(a.state_dict())
    for t in range(3, 6):
        ca, ctx = fake_step(a, t)
        cb, _ = fake_step(b, t)
        assert (ca is None and cb is None) or torch.equal(ca, cb)
        la, lb = a.resolve(ctx), b.resolve(ctx)
        assert all(torch.equal(la[k], lb[k]) for k in la)
        a.update(ctx)
        b.update(ctx)


def test_every_registered_policy_has_a_yaml():
    for name, cls in POLICIES.items():
        cfg = OmegaConf.load(CONF / f"{name}.yaml")
        assert get_class(cfg._target_) is cls
    assert {get_class(OmegaConf.load(p)._target_) for p in YAMLS} == set(POLICIES.values())
