"""The inference path G∘S as one module: what ``stylize`` runs and ``export`` traces."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from adaptive_st.models.content_generator import ContentGenerator
from adaptive_st.models.feature_transform import ModParams
from adaptive_st.models.layers import blend_with_photo
from adaptive_st.models.style_generator import StyleGenerator

if TYPE_CHECKING:
    from adaptive_st.policies import WeightPolicy


class Stylizer(nn.Module):
    """content + style (+ λ condition, + strength α) → stylized image.

    Holds references to the trained G and S (no copies), so it is cheap to build from a module.
    """

    def __init__(self, generator: ContentGenerator, style_generator: StyleGenerator) -> None:
        super().__init__()
        self.generator = generator
        self.style_generator = style_generator
        if hasattr(generator, "output_alpha"):  # trained at one style strength unless λ sets it (models/micro.py)
            generator.output_alpha = getattr(style_generator, "blends_output", True)

    def style_code(self, style: Tensor, weights: Tensor | None = None) -> Tensor:
        """Style code of one style per sample, or a convex mix of several styles.

        ``style`` (K, 3, H, W) with ``weights`` (K,) → one mixed code (1, D): interpolating codes is
        how several styles are blended.
        """
        code = self.style_generator.encode(style)
        if weights is None:
            return code
        w = weights.to(code.dtype).reshape(-1, 1)
        return (w * code).sum(0, keepdim=True) / w.sum().clamp_min(1e-8)

    def forward(
        self,
        content: Tensor,
        style: Tensor,
        alpha: float | Tensor = 1.0,
        cond: Tensor | None = None,
    ) -> Tensor:
        params = self.style_generator(style, cond)
        return self.render(content, params, self.alpha_for(alpha, cond))

    def render(self, content: Tensor, params: ModParams, alpha: float | Tensor = 1.0,
               learn: Tensor | None = None) -> Tensor:
        """G at strength α (see ``alpha_for``). ``learn`` (B,) bool, training only: the samples whose gradient
        reaches G's full-strength output (the others train only the strength, see ``ConditionalPolicy.top_share``);
        it needs G to blend at its output (``MicroStyle(strength_at="output")``, checked by ``build_stylizer``)."""
        if learn is None:
            return self.generator(content, params, alpha)
        full = self.generator(content, params, 1.0)
        return blend_with_photo(torch.where(learn.reshape(-1, 1, 1, 1), full, full.detach()), content, alpha)

    def alpha_for(self, alpha: float | Tensor, cond: Tensor | None) -> float | Tensor:
        """α times S's λ-dependent strength, for style generators that map λ to one (``strength``)."""
        strength = getattr(self.style_generator, "strength", None)
        if cond is None or strength is None:
            return alpha
        return strength(cond) * (alpha if isinstance(alpha, Tensor) else float(alpha))

    @torch.no_grad()
    def stylize_with_code(self, content: Tensor, code: Tensor, alpha: float | Tensor = 1.0,
                          cond: Tensor | None = None) -> Tensor:
        """Reuse a precomputed style code (one style for a whole folder is encoded once)."""
        if code.shape[0] == 1 and content.shape[0] > 1:
            code = code.expand(content.shape[0], -1)
            if cond is not None and cond.numel() == 1:
                cond = cond.expand(content.shape[0])
        params = self.style_generator.modulation(code, cond)
        return self.generator(content, params, self.alpha_for(alpha, cond))


def build_stylizer(generator: ContentGenerator, style_generator: Callable[..., StyleGenerator] | StyleGenerator,
                   policy: WeightPolicy) -> Stylizer:
    """G∘S, the one place they are put together: ``style_generator`` is S or a factory
    ``(modulation_dims, cond_dim) -> S`` (Hydra ``_partial_``), since S's heads are sized by G and the policy
    decides whether λ is an input of S (``cond_dim``), so a user never sets it. A built S must agree."""
    conditioned = bool(policy.conditions_generator)
    if not isinstance(style_generator, nn.Module):
        style_generator = style_generator(modulation_dims=generator.modulation_dims, cond_dim=1 if conditioned else 0)
    cond_dim = getattr(style_generator, "cond_dim", 0)
    if conditioned and cond_dim < 1:
        raise ValueError(
            f"policy {type(policy).__name__} feeds λ to the generator: set model.style_generator.cond_dim=1")
    if not conditioned and cond_dim > 0:
        raise ValueError("model.style_generator.cond_dim>0 needs a λ-conditioned policy (e.g. policy=conditional)")
    if policy.trains_generator_on_subset and not (hasattr(style_generator, "strength")
                                                  and getattr(style_generator, "blends_output", False)):
        raise ValueError("policy.top_share needs a style strength gate on G's output: model=micro with "
                         "model.style_generator.strength_at=output (or set policy.top_share=0)")
    return Stylizer(generator, style_generator)
