"""``module.compile``: the networks run through torch.compile and a short fit works, R1 steps included.

Uses the ``aot_eager`` backend (Dynamo capture + AOTAutograd, no C++ code generation) so the test
stays fast on CPU; inductor is what a real run uses and the GPU benchmark measures.
"""

from __future__ import annotations

import pytest
import torch

from adaptive_st.cli.train import build

pytestmark = pytest.mark.slow


def test_compiled_fit_with_r1_and_unchanged_state_dict_keys(compose_cfg):
    cfg = compose_cfg("+module.compile={backend: aot_eager}", "module.r1_every=1", "trainer.max_steps=4",
                      "data.crop_size=32", "data.batch_size=2", "trainer.val_check_interval=2")
    datamodule, module, trainer = build(cfg)
    keys = set(module.state_dict())
    torch._dynamo.reset()
    trainer.fit(module, datamodule=datamodule)
    assert int(module.train_step) == 2 and int(module.skipped_steps) == 0
    assert module.generator._compiled_call_impl is not None  # nn.Module.compile, in place
    assert set(module.state_dict()) == keys  # no `_orig_mod.` prefixes in checkpoints
    assert "val/loss_content" in trainer.callback_metrics
