"""``init_from``: a fresh run whose networks start from another run's weights (the policy comparison's
common warm start), including a λ-conditioned model grown from an unconditioned one."""

from __future__ import annotations

import pytest
import torch

from adaptive_st.checkpoint import CheckpointError, read_checkpoint
from adaptive_st.cli.train import build, train

MICRO = ("model=micro", "trainer.max_steps=4", "module.ema_decay=0.9")


@pytest.fixture
def warm_ckpt(compose_cfg):
    cfg = compose_cfg(*MICRO, "policy=constant")
    train(cfg)
    return f"{cfg.paths.output_dir}/checkpoints/last.ckpt"


@pytest.mark.slow
@pytest.mark.parametrize("strength_at", ["sites", "output"])
def test_init_from_copies_networks_and_grows_the_lambda_input(compose_cfg, warm_ckpt, tmp_path, strength_at):
    """At ``sites`` the heads take log λ as one more (zero-weighted) input; with the output gate λ acts through
    α alone, so every network is the warm model's, unchanged."""
    state, _ = read_checkpoint(warm_ckpt)
    cfg = compose_cfg(*MICRO, "policy=conditional", f"init_from={warm_ckpt}",
                      f"model.style_generator.strength_at={strength_at}")
    cfg.paths.output_dir = str(tmp_path / "fine")
    _, module, trainer = build(cfg)
    mine = module.state_dict()
    copied = [k for k in state if k.startswith(("generator.", "style_generator.", "discriminator.", "ema."))]
    assert copied and any(k.startswith("ema.") for k in copied)
    grown = []
    for key in copied:
        if mine[key].shape == state[key].shape:
            torch.testing.assert_close(mine[key], state[key], msg=key)
        else:  # the modulation MLP's first layer takes log λ as one more input, zero-weighted
            grown.append(key)
            n = state[key].shape[1]
            torch.testing.assert_close(mine[key][:, :n], state[key])
            assert torch.count_nonzero(mine[key][:, n:]) == 0
    if strength_at == "sites":
        assert grown and all("style_generator" in k for k in grown)
    else:
        assert not grown
    # λ's own parameters, which the warm model lacks, keep their init: style strength α = λ / (1 + λ).
    gate = module.stylizer.style_generator.lambda_gate
    s = module.stylizer.style_generator
    torch.testing.assert_close(gate.detach() * s.strength_gain, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(module.stylizer.style_generator.strength(torch.tensor([1.0, 3.0])),
                               torch.tensor([0.5, 0.75]))
    # A fresh run: its own step count and optimizers (init_from is not a resume).
    assert trainer.global_step == 0


@pytest.mark.slow
def test_init_from_another_model_names_the_option(compose_cfg, warm_ckpt, tmp_path):
    cfg = compose_cfg("trainer.max_steps=4", f"init_from={warm_ckpt}")  # model=tiny: other networks
    cfg.paths.output_dir = str(tmp_path / "fine")
    with pytest.raises(CheckpointError, match=r"init_from=.*do not fit this run's model"):
        build(cfg)
