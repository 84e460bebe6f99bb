"""The λ fed to S: explicit (``--lam``), the policy's inference default, or per image from pair features.

Only models trained with a λ-conditioned policy take λ; asking it of another model is an error that
names the policies that do, rather than a silently ignored flag.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from adaptive_st.inference.errors import ConditionError
from adaptive_st.inference.images import center_crop_like_training
from adaptive_st.inference.model import LoadedModel, conditioned_policy_names
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.policies import PolicyBatch
from adaptive_st.policies.pair_features import FEATURE_NAMES, pair_features

log = logging.getLogger(__name__)
#: λ is fed to S as a float32: beyond these it overflows to inf or underflows to 0 (log λ = -inf).
LAMBDA_LIMITS = (float(torch.finfo(torch.float32).tiny), float(torch.finfo(torch.float32).max))


def check_lambda(model: LoadedModel, lam: float | None) -> None:
    """Reject λ for unconditioned models and non-positive λ; warn outside a conditional model's range."""
    if lam is None:
        return
    if not model.conditioned:
        raise ConditionError(
            f"{model.path}: λ (--lam) is only an input of models trained with a λ-conditioned policy "
            f"({', '.join(conditioned_policy_names())}); this checkpoint was trained with policy="
            f"{model.policy_name}, whose λ was a training-time loss weight only. Use --alpha to dial the "
            "style strength instead."
        )
    if not (math.isfinite(lam) and LAMBDA_LIMITS[0] <= lam <= LAMBDA_LIMITS[1]):
        lo, hi = LAMBDA_LIMITS
        raise ConditionError(f"λ (--lam) {lam:g}: must be a finite number > 0 that float32 holds, in "
                             f"[{lo:.3g}, {hi:.3g}] (S conditions on log λ)")
    lo, hi = getattr(model.policy, "lambda_min", None), getattr(model.policy, "lambda_max", None)
    if lo is not None and hi is not None and not lo <= lam <= hi:
        log.warning("λ=%g is outside the range [%g, %g] this model was trained on: results extrapolate", lam, lo, hi)


def per_image_lambda(model: LoadedModel, vgg: VGGFeatures, content: Tensor, styles: Sequence[Tensor],
                     weights: Sequence[float] | None = None) -> Tensor:
    """The per-image policy's λ for one content (3,H,W) and its style image(s); (1,).

    Pair features are computed on the training's evaluation-mode crops (the running means they are
    compared with were measured on those), with one VGG pass per image. With several weighted styles
    the λ are averaged with the same weights.
    """
    load_size, crop = model.train_crop
    device = model.device
    c = center_crop_like_training(content, load_size, crop).unsqueeze(0).to(device)
    layers = model.style_layers
    c_feats = vgg(c, layers)
    lams = []
    for style in styles:
        s = center_crop_like_training(style, load_size, crop).unsqueeze(0).to(device)
        feats = pair_features(c, c_feats, vgg(s, layers), layers)
        batch = PolicyBatch(step=0, batch_size=1, device=device, pair_features=feats,
                            feature_names=FEATURE_NAMES, training=False)
        lams.append(model.policy.inference_condition(batch).float().reshape(1))
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(lams), device=device)
    return (torch.stack(lams, 0).squeeze(1) * w).sum().reshape(1) / w.sum()


def default_condition(model: LoadedModel, lam: float | None) -> Tensor | None:
    """λ for models whose λ does not depend on the image: explicit, else the policy's inference value."""
    if not model.conditioned:
        return None
    batch = PolicyBatch(step=0, batch_size=1, device=model.device, training=False)
    if lam is not None:
        return model.policy.inference_condition(batch, lam=lam)
    if model.per_image:
        raise ConditionError("a per-image model needs pair features for its λ (or an explicit --lam)")
    return model.policy.inference_condition(batch)
