"""The parts of a training step of :class:`~adaptive_st.training.module.StyleTransferModule` (a mixin):
VGG targets and cached style statistics, D's real crops, the policy's batch, gradient norms for
gradient-based policies, G's loss terms, step logs and the non-finite-loss budget."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from adaptive_st.losses import PerceptualLoss
from adaptive_st.losses.feature_stats import channel_mean_cov
from adaptive_st.losses.perceptual import content_loss, style_stats
from adaptive_st.models import Stylizer
from adaptive_st.models.feature_transform import (
    LEVELS,
    PATCH,
    RGB,
    colouring,
    patch_mean_cov,
    transform_features,
)
from adaptive_st.policies import PolicyBatch
from adaptive_st.policies.pair_features import FEATURE_NAMES, pair_features
from adaptive_st.training.distributed import rank_mean

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive non-finite steps; the run cannot recover by skipping."""


class TrainingSteps:
    """Methods of the LightningModule used by ``training_step`` (and by validation: targets, policy batch)."""

    def _style_input(self, batch: Mapping[str, Tensor]) -> Tensor:
        if self.style_generator.encoder_kind == "embedding":
            return batch["style_index"]
        return batch["style"]

    def _targets(self, content: Tensor, style: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """VGG features of content and style (loss targets: no grad), in one pass when the sizes agree."""
        with torch.no_grad():
            if content.shape[1:] != style.shape[1:]:
                return self.perceptual.features(content), self.perceptual.features(style)
            feats = self.perceptual.features(torch.cat([content, style]))
        n = content.shape[0]
        return {k: v[:n] for k, v in feats.items()}, {k: v[n:] for k, v in feats.items()}

    def _style_stats(self, batch: Mapping[str, Tensor], style: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """Per-layer (mean, covariance) of each style image: the style loss's targets (and S's code when
        :attr:`reuse_loss_features` / :attr:`reuse_style_stats`), cached by ``style_key`` (else ``style_index``) with ``cache_style_targets``."""
        layers = self.perceptual.style_layers
        if self.reuse_loss_features or self.reuse_style_stats or self.teacher_reuses_vgg:
            layers = tuple(dict.fromkeys((*layers, *LEVELS)))
        if self.perceptual.content_target == "stylized":
            layers = tuple(dict.fromkeys((*layers, *self.perceptual.content_layers)))
        # + the pixels' own statistics, for the output stages (3×3 patches only for an S that codes them)
        pixels = (RGB, PATCH) if getattr(self.style_generator, "texture", False) else (RGB,)

        def measure(images: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
            stats = style_stats(self.perceptual.features(images, layers), layers) | {RGB: channel_mean_cov(images)}
            if PATCH in pixels:
                stats[PATCH] = patch_mean_cov(images)
            return stats

        if not (self.cache_style_targets and "style_index" in batch):
            return measure(style)
        keys = [int(i) for i in batch.get("style_key", batch["style_index"]).tolist()]
        missing = sorted({k for k in keys if k not in self._style_cache})
        if missing:
            fresh = measure(style[[keys.index(k) for k in missing]])
            for j, k in enumerate(missing):
                self._style_cache[k] = {name: (m[j : j + 1], c[j : j + 1]) for name, (m, c) in fresh.items()}
        return {name: (torch.cat([self._style_cache[k][name][0] for k in keys]),
                       torch.cat([self._style_cache[k][name][1] for k in keys])) for name in (*layers, *pixels)}

    def _stylize_for_loss(self, batch: Mapping[str, Tensor], content: Tensor, c_feats: Mapping[str, Tensor],
                          s_stats: Mapping[str, Any], cond: Tensor | None) -> tuple[Tensor, Mapping[str, Tensor]]:
        """(G's output, the content loss's target features), reusing what the loss VGG already computed:
        the content features (quality model) or the style statistics (S with the VGG code)."""
        content_ref: Mapping[str, Tensor] = c_feats
        if self.reuse_loss_features:
            fake, stylized = decode_from_loss_features(self.stylizer, c_feats, s_stats, cond)
            if self.perceptual.content_target == "stylized":
                content_ref = stylized
            return fake, content_ref
        s = self.style_generator
        params = (s.modulation(s.code_from_stats(s_stats), cond) if self.reuse_style_stats
                  else s(self._style_input(batch), cond))
        fake = self.stylizer.render(content, params, self.stylizer.alpha_for(1.0, cond),
                                    self.policy.generator_samples(cond))
        if self.perceptual.content_target == "stylized":
            content_ref = self._stylized_targets(c_feats, s_stats)
        elif self.perceptual.content_target == "teacher":
            content_ref = self._teacher_targets(batch, content, c_feats, s_stats)
        return fake, content_ref

    @torch.no_grad()
    def _teacher_targets(self, batch: Mapping[str, Tensor], content: Tensor, c_feats: Mapping[str, Tensor],
                         s_stats: Mapping[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """``content_target=teacher``: the loss's features of the teacher's output for the same pair.

        Why: a light model trained on VGG losses alone learns colour long before texture; the trained quality
        model's output is a dense, pixel-aligned answer for every pair, texture included. A quality-model
        teacher on the loss's VGG decodes straight from the loss's content features and style statistics
        (when it would encode the style at the size the loss did)."""
        teacher = self.teacher
        size = teacher.style_generator.image_size  # the teacher encodes styles at most this large
        style = batch["style"]
        if self.teacher_reuses_vgg and (size is None or max(style.shape[-2:]) <= size):
            out, _ = decode_from_loss_features(teacher, c_feats, s_stats)
        else:
            out = teacher(content, style)
        return self.perceptual.features(out.clamp(0, 1), self.perceptual.content_layers)

    @torch.no_grad()
    def _stylized_targets(self, c_feats: Mapping[str, Tensor],
                          s_stats: Mapping[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """``content_target=stylized`` for a model that does not transform VGG features itself (e.g. the
        light model): the photo's features whitened and coloured with the style's mean and covariance
        at each content layer, the target the quality model's decoder is trained on. A parameter-free
        teacher, so a light model learns the quality model's objective without running it."""
        out = {}
        for k in self.perceptual.content_layers:
            mean, colour = colouring(*s_stats[k], "wct")
            out[k] = transform_features(c_feats[k], mean, colour, "wct")
        return out

    @torch.no_grad()
    def _policy_metrics(self, fake: Tensor, content: Tensor, c_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The metrics the policy asked for (``needs_metrics``), batch means, on the detached output."""
        out: dict[str, Tensor] = {}
        layers = self.perceptual.content_layers
        for name in self.policy.needs_metrics:
            if name == "content_distance":
                feats = self.perceptual.features(fake.detach().float(), layers)
                out[name] = content_loss(feats, c_feats, layers).float().mean()
            else:  # lpips (checked at construction)
                out[name] = self.val_metrics["lpips"].per_sample(fake.detach().float().clamp(0, 1), content.float()).mean()
        return out

    def _real_images(self, style: Tensor, size: tuple[int, int]) -> Tensor:
        """D's real examples at the outputs' size: a random crop of each (whole) style image."""
        h, w = style.shape[-2:]
        if (h, w) == size:
            return style
        top = int(torch.randint(0, h - size[0] + 1, ()))
        left = int(torch.randint(0, w - size[1] + 1, ()))
        return style[..., top : top + size[0], left : left + size[1]]

    def _policy_batch(self, content: Tensor, c_feats: Mapping[str, Tensor], s_feats: Mapping[str, Tensor],
                      training: bool, step: int | None = None) -> PolicyBatch:
        features = None
        if self.policy.needs_pair_features:
            features = pair_features(content, c_feats, s_feats, self.perceptual.style_layers)
        step = int(self.train_step) if step is None else step
        return PolicyBatch(step=step, batch_size=content.shape[0], device=content.device,
                           pair_features=features, feature_names=FEATURE_NAMES, training=training)

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        scaler = getattr(self._trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
        return scaler if scaler is not None and scaler.is_enabled() else None

    def _grad_norms(self, losses: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """‖∇_W L_i‖ on G's last layer for each term (VQGAN / GradNorm), rank-averaged.

        Under ``16-mixed`` the terms are scaled by the GradScaler's scale before differentiating and
        the norms divided by it, as the main backward is: unscaled fp16 gradients of a mean loss
        underflow. ``scaler.scale(1)`` reads the scale as a device tensor (no host sync).
        """
        weight = self.generator.last_layer
        scaler = self._grad_scaler()
        scale = scaler.scale(torch.ones((), device=weight.device)) if scaler is not None else None
        norms = {}
        for name, loss in losses.items():
            target = loss * scale if scale is not None else loss
            (grad,) = torch.autograd.grad(target, weight, retain_graph=True, allow_unused=True)
            if grad is None:
                norms[name] = torch.zeros((), device=weight.device)
                continue
            norm = grad.detach().float().norm()
            norms[name] = norm / scale.float() if scale is not None else norm
        return rank_mean(norms)

    def _generator_terms(self, fake: Tensor, content: Tensor, style: Tensor, c_feats: Mapping[str, Tensor],
                         s_feats: Mapping[str, Any]) -> dict[str, Tensor]:
        terms = dict(self.perceptual(fake, content, style, content_feats=c_feats, style_feats=s_feats))
        terms["adv"] = self.adversarial.generator_loss(self.discriminator(fake))
        return terms

    def _should_log(self) -> bool:
        """Whether the logger writes this step (Lightning's ``log_every_n_steps`` rule) or it is the last batch.

        Each ``self.log`` costs tens of µs to ~1 ms of Python (result-collection bookkeeping): a dozen
        per step measured ~10% of a small model's step, so values go to Lightning only when written.
        """
        trainer = self._trainer
        connector = getattr(trainer, "_logger_connector", None) if trainer is not None else None
        if connector is None or getattr(connector, "should_update_logs", True):
            return True
        return 0 < trainer.max_steps <= trainer.global_step + 2  # the last batch: final metrics

    def _log_train(self, losses: Mapping[str, Tensor], lam: Mapping[str, Tensor], g_loss: Tensor, d_loss: Tensor,
                   step: int, batch_size: int) -> None:
        """Step logs, averaged over ranks (one all-reduce, on logging steps only); ``losses`` already are."""
        local = {f"lambda_{k}": v.float().mean() for k, v in lam.items()}
        local.update(loss_g=g_loss.detach().float(), loss_d=d_loss.detach().float())
        if self._last_r1 is not None:
            local["r1"] = self._last_r1.float()
        logs = {f"train/{k}": v for k, v in rank_mean(local).items()}
        logs.update({f"train/loss_{k}": v for k, v in losses.items()})
        logs["train/skipped_steps"] = self.skipped_steps.float()
        logs["train/step"] = float(step)
        self.log_dict(logs, on_step=True, on_epoch=False, prog_bar=False, batch_size=batch_size)

    def _track_nonfinite(self, skipped: bool, step: int) -> None:
        if not skipped:
            self._consecutive_nonfinite = 0
            return
        self._consecutive_nonfinite += 1
        self.skipped_steps += 1
        log.warning("non-finite loss at train_step %d: step skipped (%d in a row, %d in total)",
                    step, self._consecutive_nonfinite, int(self.skipped_steps))
        if self._consecutive_nonfinite >= self.max_consecutive_nonfinite:
            raise NonFiniteLossError(
                f"{self._consecutive_nonfinite} consecutive non-finite losses (up to train_step {step}); "
                "lower the learning rate or loss weights, or try precision=32. The last checkpoint is kept; "
                "resume with ckpt_path=last."
            )


def decode_from_loss_features(stylizer: Stylizer, c_feats: Mapping[str, Tensor], s_stats: Mapping[str, Any],
                              cond: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """(output, its stylised features) of a feature-statistics model (G and S on the loss's own VGG, see
    :func:`shares_vgg`) from the loss's content features and style statistics: no VGG pass of its own."""
    s, g = stylizer.style_generator, stylizer.generator
    params = s.modulation(s.code_from_stats(s_stats), cond)
    stylized = g.transformed(c_feats, params)
    return g.decode(stylized, params), stylized


def shares_vgg(net: nn.Module, perceptual: PerceptualLoss) -> bool:
    """True when ``net`` is built on a frozen VGG identical to the loss's over the levels it uses, so the
    loss's features can stand in for its own encoder pass."""
    encoder = getattr(net, "encoder", None)
    if not isinstance(encoder, type(perceptual.vgg)) or not set(LEVELS) <= set(perceptual.vgg.layers):
        return False
    theirs = perceptual.vgg.state_dict()
    return all(k in theirs and torch.equal(v, theirs[k]) for k, v in encoder.state_dict().items())
