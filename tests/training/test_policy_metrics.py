"""The constrained policy's metric constraint is fed by the training step (it used to raise at step 1)."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from adaptive_st.cli.train import build


def test_content_distance_constraint_is_computed_and_drives_the_multiplier(compose_cfg):
    cfg = compose_cfg("policy=constrained", "policy.constraint=content_distance", "policy.target=1e-6",
                      "trainer.max_steps=6", "trainer.val_check_interval=3")
    datamodule, module, trainer = build(cfg)
    seen: list[dict] = []
    update = module.policy.update

    def spy(ctx):
        seen.append(dict(ctx.metrics))
        update(ctx)

    module.policy.update = spy
    before = float(module.policy.multiplier)
    trainer.fit(module, datamodule=datamodule)
    assert len(seen) == 3 and all(set(m) == {"content_distance"} for m in seen)
    assert all(torch.isfinite(m["content_distance"]) and m["content_distance"] > 0 for m in seen)
    assert int(module.policy.steps) == 3
    assert float(module.policy.multiplier) > before, "a violated constraint (distance > 1e-6) raises λ"


def test_unknown_constraint_metric_is_refused_at_start(compose_cfg):
    cfg = compose_cfg("policy=constrained", "policy.constraint=fid")
    with pytest.raises(InstantiationException, match=r"policy\.constraint='fid'"):
        instantiate(cfg.module, run_config=None)
