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
def test_init_from_copies_networks_and_grows_the_lambda_input(compose_cfg, warm_ckpt, tmp_path):
    state, _ = read_checkpoint(warm_ckpt)
    cfg = compose_cfg(*MICRO, "policy=conditional", f"init_from={warm_ckpt}")
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
    assert grown and all("style_generator" in k for k in grown)
    # Zero weights on λ: the grown model stylizes exactly like the warm one, whatever λ it is given.
    torch.manual_seed(0)
    content, style = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    module.eval()
    outs = [module.stylizer(content, style, cond=torch.full((2, 1), lam)) for lam in (1.5, 60.0)]
    torch.testing.assert_close(outs[0], outs[1])
    # A fresh run: its own step count and optimizers (init_from is not a resume).
    assert trainer.global_step == 0


@pytest.mark.slow
def test_init_from_another_model_names_the_option(compose_cfg, warm_ckpt, tmp_path):
    cfg = compose_cfg("trainer.max_steps=4", f"init_from={warm_ckpt}")  # model=tiny: other networks
    cfg.paths.output_dir = str(tmp_path / "fine")
    with pytest.raises(CheckpointError, match=r"init_from=.*do not fit this run's model"):
        build(cfg)
