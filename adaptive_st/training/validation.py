"""Validation and ``stylize`` of :class:`~adaptive_st.training.module.StyleTransferModule` (a mixin).

``stylize_batch`` is the module's inference path (policy λ, S's input, EMA weights). Validation scores it
as ``evaluation.PairScorer`` scores ``adaptive-st evaluate``'s pairs: the same functions
(``style_distances``, ``content_loss``) on the loss's VGG and layers, under the same names
(``val/style_meanstd``, ``val/style_gram``, ``val/content_loss``), plus ``module.val_metrics`` (SSIM/PSNR,
LPIPS, FID) and the loss terms ``val/loss_<term>``. The policy comparison scores it with ``PairScorer``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor

from adaptive_st.losses.perceptual import content_loss, style_distances


class ValidationSteps:
    """``stylize``, ``stylize_batch``, ``validation_step`` and ``on_validation_epoch_end``."""

    def stylize(self, content: Tensor, style: Tensor, cond: Tensor | None = None, alpha: float = 1.0,
                use_ema: bool = True) -> Tensor:
        """Stylize with the EMA weights when present (``use_ema=False``: the live G and S)."""
        stylizer = self.inference_stylizer if use_ema else self.stylizer
        return stylizer(content, style, alpha=alpha, cond=cond)

    def stylize_batch(self, batch: Mapping[str, Tensor], lam: float | None = None,
                      targets: tuple[Mapping[str, Tensor], Mapping[str, Tensor]] | None = None,
                      ) -> tuple[Tensor, Tensor | None]:
        """G∘S on a batch as inference runs it: the policy's inference λ (``lam`` overrides it for
        λ-conditioned models), S's input (style image or id), the EMA weights when enabled. Returns the
        output (float32, clamped to [0, 1]) and the λ fed to S (None when the model takes none). What
        validation and the policy comparison score; ``targets`` are the VGG features of content and style
        when the caller has them (computed here only when per-image policies need them)."""
        content, style = batch["content"], batch["style"]
        if targets is None and self.policy.needs_pair_features:
            targets = self._targets(content, style)
        c_feats, s_feats = targets if targets is not None else ({}, {})
        cond = self.policy.inference_condition(self._policy_batch(content, c_feats, s_feats, training=False), lam)
        return self.inference_stylizer(content, self._style_input(batch), cond=cond).float().clamp(0, 1), cond

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        content, style = batch["content"], batch["style"]
        c_feats, s_feats = self._targets(content, style)
        fake, _ = self.stylize_batch(batch, targets=(c_feats, s_feats))
        terms = self.perceptual(fake, content, style, content_feats=c_feats, style_feats=s_feats)
        n = content.shape[0]
        logs = {f"val/loss_{k}": v.float().mean() for k, v in terms.items()}
        # Perceptual loss under the *base* λ: one number comparable across policies and sweeps (Optuna).
        base = self.policy.base_weights
        logs["val/objective"] = sum(base.get(k, 0.0) * v.float().mean() for k, v in terms.items())
        # The evaluation scores (evaluation.PairScorer's definitions) from the features at hand.
        p = self.perceptual
        f_out = p.features(fake, tuple(dict.fromkeys((*p.content_layers, *p.style_layers))))
        scores = style_distances(f_out, s_feats, p.style_layers)
        scores["content_loss"] = content_loss(f_out, c_feats, p.content_layers)
        logs.update({f"val/{k}": v.float().mean() for k, v in scores.items()})
        self.log_dict(logs, on_epoch=True, sync_dist=True, batch_size=n)
        for name, metric in self.val_metrics.items():
            reference = style if getattr(metric, "reference", "content") == "style" else content
            metric.update(fake, reference.float())
            del name
        if batch_idx == 0:
            k = min(self.num_grid_samples, n)
            shown = style[:k].float()
            if shown.shape[-2:] != content.shape[-2:]:  # whole style images: thumbnail them for the grid
                shown = F.interpolate(shown, size=content.shape[-2:], mode="bilinear", antialias=True)
            self.val_examples = {"content": content[:k].float().cpu(), "style": shown.cpu(),
                                 "output": fake[:k].cpu()}

    def on_validation_epoch_end(self) -> None:
        for name, metric in self.val_metrics.items():
            value = metric.compute()
            values = value if isinstance(value, Mapping) else {name: value}
            self.log_dict({f"val/{k}": v.float() for k, v in values.items()}, sync_dist=False)
            metric.reset()
