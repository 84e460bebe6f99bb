"""Validation reports the evaluation scores: the same numbers `adaptive-st evaluate`'s PairScorer gives."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from adaptive_st.evaluation import PairScorer


def test_validation_logs_the_pair_scorers_style_and_content_scores(compose_cfg):
    module = instantiate(compose_cfg("module.val_metrics=null").module, run_config=None).eval()
    logged: dict[str, torch.Tensor] = {}
    module.log_dict = lambda logs, **kwargs: logged.update(logs)  # type: ignore[method-assign]
    torch.manual_seed(0)
    batch = {"content": torch.rand(2, 3, 32, 32), "style": torch.rand(2, 3, 32, 32) ** 2,
             "style_index": torch.tensor([0, 1])}
    with torch.no_grad():
        module.validation_step(batch, 1)
        fake, _ = module.stylize_batch(batch)
    p = module.perceptual
    scores = PairScorer(p.vgg, p.content_layers, p.style_layers).score_batch(fake, batch["content"], batch["style"])
    for name in ("style_meanstd", "style_gram", "content_loss"):
        assert torch.isclose(logged[f"val/{name}"].double(), scores[name].double().mean(), rtol=1e-4), name
    assert logged["val/style_meanstd"] > 0
