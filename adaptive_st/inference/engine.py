"""Stylize images with a loaded model: style codes once per style, then any number of contents.

One content image at a time (sizes differ in a folder); the per-content work is S's small MLP (for λ
and colour matching) and G, tiled when the image is large.

:class:`OnnxStyleTransfer` (``stylize --backend onnxruntime``) runs G∘S in ONNX Runtime on the graph
``adaptive-st export`` writes (cached by ``onnx_cache.cached_onnx``). Everything around G∘S (reading images,
the training-style crop of the style image, λ, colour preservation) is the torch engine's, so both
backends give the same numbers up to float rounding (tests/inference checks 1e-4). What the exported graphs
cannot do is refused rather than approximated: tiling, fp16/bf16 and CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from adaptive_st.inference import MULTIPLE, StylizeOptions
from adaptive_st.inference.export import export_spec
from adaptive_st.inference.images import (
    center_crop_like_training,
    crop_to,
    keep_content_chroma,
    match_color,
    pad_to_multiple,
    resize_longer_side,
    to_grey,
)
from adaptive_st.inference.lean import encode_styles
from adaptive_st.inference.model import (
    CheckpointError,
    ConditionError,
    LoadedModel,
    Runtime,
    check_finite_output,
    check_lambda,
    check_style_weights,
    default_condition,
    per_image_lambda,
)
from adaptive_st.inference.onnx_cache import style_graph_of
from adaptive_st.inference.tiling import (
    BLEND,
    default_overlap,
    minimum_side,
    run_tiled,
    shared_statistics,
)

if TYPE_CHECKING:
    from adaptive_st.losses.vgg import VGGFeatures

@dataclass
class Style:
    """One style (or a weighted mix) prepared for a whole folder: its code is computed once."""

    name: str
    code: Tensor
    images: list[Tensor] = field(default_factory=list)
    weights: list[float] | None = None
    grey_code: Tensor | None = None


class StyleTransfer:
    """Stylizes with a :class:`LoadedModel` on a :class:`Runtime`."""

    def __init__(self, model: LoadedModel, runtime: Runtime, vgg_path: str | Path | None = None,
                 compile: bool = False) -> None:
        """``compile``: run whole-image passes through ``torch.compile`` (fuses AdaIN's element-wise work;
        ~2× on CPU, but the first image waits ~1 min for compilation, so it pays off on folders)."""
        if model.device != runtime.device:
            model.stylizer.to(runtime.device)
            model.policy.to(runtime.device)
            model.device = runtime.device
        if runtime.channels_last:
            model.stylizer.generator.to(memory_format=torch.channels_last)
        self.model = model
        self.runtime = runtime
        self.vgg_path = vgg_path
        self._vgg: VGGFeatures | None = None
        generator = model.stylizer.generator
        self._whole = torch.compile(generator, dynamic=True) if compile else generator
        self._min_side = minimum_side(generator)  # tiny and thin images are padded up to it

    # ------------------------------------------------------------------ styles
    @torch.inference_mode()
    def _encode(self, images: Sequence[Tensor], weights: Sequence[float] | None) -> Tensor:
        load_size, crop = self.model.train_crop
        batch = torch.stack([center_crop_like_training(im, load_size, crop) for im in images]).to(self.model.device)
        w = None if weights is None else torch.tensor(list(weights), device=self.model.device)
        if w is None and len(images) > 1:
            w = torch.ones(len(images), device=self.model.device)
        return self.model.stylizer.style_code(batch, w).float()

    def style_from_images(self, images: Sequence[Tensor], name: str, weights: Sequence[float] | None = None) -> Style:
        """A style from (3,H,W) images in [0,1]; several images are mixed with ``weights`` (default equal)."""
        if self.model.encoder_kind != "image":
            raise ConditionError(f"{self.model.path}: this model has learned style ids "
                                 f"(0..{self.model.num_styles - 1}); pass style ids, not images")
        check_style_weights(weights, len(images))
        return Style(name, self._encode(images, weights), list(images), None if weights is None else list(weights))

    def _check_ids(self, ids: Sequence[int], weights: Sequence[float] | None) -> None:
        """Style ids need an embedding model and must be in its range; weights must match them."""
        n = self.model.num_styles
        if self.model.encoder_kind != "embedding":
            raise ConditionError(f"{self.model.path}: style ids need a model trained with model=base_embedding; "
                                 "this one encodes style images")
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ConditionError(f"style ids {bad} out of range: this model has {n} styles (0..{n - 1})")
        check_style_weights(weights, len(ids))

    @torch.inference_mode()
    def style_from_ids(self, ids: Sequence[int], name: str, weights: Sequence[float] | None = None) -> Style:
        """A style from learned ids (embedding models), mixed with ``weights`` when several."""
        self._check_ids(ids, weights)
        w = None if weights is None and len(ids) == 1 else torch.tensor(list(weights or [1.0] * len(ids)))
        code = self.model.stylizer.style_code(torch.tensor(list(ids), device=self.model.device),
                                              None if w is None else w.to(self.model.device))
        return Style(name, code.float(), [], None if weights is None else list(weights))

    # ------------------------------------------------------------------ content
    def vgg(self) -> VGGFeatures:
        """The checkpoint's loss VGG, built on first use (only per-image λ needs it at inference)."""
        if self._vgg is None:
            self._vgg = self.model.build_vgg(self.vgg_path)
        return self._vgg

    def condition(self, content: Tensor, style: Style, lam: float | None) -> Tensor | None:
        check_lambda(self.model, lam)
        if self.model.per_image and lam is None:
            if not style.images:
                raise ConditionError("a per-image λ model needs style images for its λ; pass --lam with style ids")
            with torch.inference_mode():
                return per_image_lambda(self.model, self.vgg(), content, style.images, style.weights)
        return default_condition(self.model, lam)

    def stylize(self, content: Tensor, style: Style, options: StylizeOptions | None = None) -> Tensor:
        """(3,H,W) in [0,1] → stylized (3,H',W') float32 on CPU; H',W' = H,W unless ``options.size``."""
        return self.stylize_with_condition(content, style, options)[0]

    @torch.inference_mode()
    def stylize_with_condition(self, content: Tensor, style: Style,
                               options: StylizeOptions | None = None) -> tuple[Tensor, float | None]:
        """:meth:`stylize`, also returning the λ fed to S (None for unconditioned models)."""
        options = options or StylizeOptions()
        x = resize_longer_side(content.float(), options.size)
        cond = self.condition(x, style, options.lam)
        code, source = style.code, x
        if options.preserve_color == "histogram":
            if not style.images:
                raise ConditionError("preserve_color=histogram recolours style images; it does not apply to style ids")
            code = self._encode([match_color(s, x) for s in style.images], style.weights)
        elif options.preserve_color == "luminance":
            if style.images and style.grey_code is None:
                style.grey_code = self._encode([to_grey(s) for s in style.images], style.weights)
            code = style.grey_code if style.grey_code is not None else code
            source = to_grey(x)
        out = self._run(source, code, cond, options).cpu()
        check_finite_output(out, self.model, self.runtime)
        if options.preserve_color == "luminance":
            out = keep_content_chroma(out, x)
        return out.clamp(0, 1), (None if cond is None else float(cond.reshape(-1)[0]))

    def _run(self, x: Tensor, code: Tensor, cond: Tensor | None, options: StylizeOptions) -> Tensor:
        """G∘S on one (3,H,W) content with a prepared style ``code`` (what :meth:`_encode` returned)."""
        params = self.model.stylizer.style_generator.modulation(code.to(self.model.device), cond)
        # --alpha times the strength a λ-conditioned model derives from λ (models/stylizer.py: alpha_for).
        alpha = self.model.stylizer.alpha_for(float(options.alpha), cond)
        return self._generate(x, params, options, alpha)

    def _generate(self, x: Tensor, params: list[tuple[Tensor, Tensor]], options: StylizeOptions,
                  alpha: float | Tensor) -> Tensor:
        h, w = x.shape[-2:]
        batch = self.runtime.prepare(pad_to_multiple(x.unsqueeze(0), min_side=self._min_side))
        generator = self.model.stylizer.generator
        tile = options.tile_for(*batch.shape[-2:])
        with self.runtime.autocast():
            if tile:
                overlap = options.tile_overlap
                if overlap is None:
                    overlap = min(default_overlap(generator, BLEND), tile // 2 // MULTIPLE * MULTIPLE)
                with shared_statistics(generator) as store:
                    out = run_tiled(lambda t: generator(self.runtime.prepare(t), params, alpha), batch, store,
                                    tile, overlap, options.stats_size, self._min_side)
            else:
                out = self._whole(batch, params, alpha)  # tiles stay eager: they swap AdaIN modules
        return crop_to(out.float(), h, w)[0]


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("--backend onnxruntime needs onnxruntime, onnx and onnxscript: "
                              "pip install 'adaptive_st[export]' (or use --backend torch)") from None
    return onnxruntime


class OnnxStyleTransfer(StyleTransfer):
    """:class:`StyleTransfer` whose S and G run in ONNX Runtime (CPU): the style graph encodes each style once
    (mixes are the weighted mean of codes, as in torch), the stylizer graph renders each photo."""

    def __init__(self, model: LoadedModel, onnx_path: Path, threads: int | None = None,
                 vgg_path: str | Path | None = None) -> None:
        super().__init__(model, Runtime(torch.device("cpu")), vgg_path)
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.onnx_path = Path(onnx_path)
        spec = export_spec(model)
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.style_session = ort.InferenceSession(str(style_graph_of(self.onnx_path)), options,
                                                  providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        style_names = [i.name for i in self.style_session.get_inputs()]
        if names != list(spec.graph_inputs) or style_names != [spec.style_input]:
            raise CheckpointError(f"{onnx_path}: graph inputs {names} and {style_names} do not match this "
                                  f"checkpoint's {list(spec.graph_inputs)} and {[spec.style_input]}; delete the "
                                  "file (it is re-exported)")
        self._input_names = names
        self._style_input = spec.style_input

    def _codes(self, feeds: Sequence[Tensor], weights: Sequence[float] | None) -> Tensor:
        return torch.from_numpy(encode_styles(self.style_session, self._style_input, [f.numpy() for f in feeds],
                                              weights))

    def _encode(self, images: Sequence[Tensor], weights: Sequence[float] | None) -> Tensor:
        load_size, crop = self.model.train_crop
        return self._codes([center_crop_like_training(im, load_size, crop).unsqueeze(0) for im in images], weights)

    def style_from_ids(self, ids: Sequence[int], name: str, weights: Sequence[float] | None = None) -> Style:
        self._check_ids(ids, weights)
        code = self._codes([torch.tensor([i], dtype=torch.long) for i in ids], weights)
        return Style(name, code, [], None if weights is None else list(weights))

    def _run(self, x: Tensor, code: Tensor, cond: Tensor | None, options: StylizeOptions) -> Tensor:
        if options.tile:
            raise ConditionError(f"--tile {options.tile}: the onnxruntime backend runs whole images; use "
                                 "--tile auto/0, or --backend torch for tiling")
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x.unsqueeze(0).float(), min_side=self._min_side)  # 1×1, 3×5000: like torch
        feeds = {self._input_names[0]: padded.contiguous().numpy(), "code": code.contiguous().numpy(),
                 "alpha": np.array([options.alpha], dtype=np.float32)}
        if self.model.conditioned:
            if cond is None:  # cannot happen: conditioned models always get a λ from default_condition
                raise ConditionError(f"{self.model.path}: no λ for a λ-conditioned model")
            feeds["lam"] = cond.reshape(1).float().cpu().numpy()
        return crop_to(torch.from_numpy(self.session.run(None, feeds)[0][0]), h, w)
