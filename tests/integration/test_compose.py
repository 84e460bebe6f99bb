"""Every option of every config group composes and its objects instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate

from adaptive_st.cli.resolvers import CONFIG_DIR


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("policy", options("policy"))
def test_policy_options_compose_and_instantiate(compose_cfg, policy):
    cfg = compose_cfg(f"policy={policy}")
    obj = instantiate(cfg.policy)
    assert obj.base_weights == pytest.approx(dict(cfg.loss.weights))


def test_base_weights_are_wired_once_and_follow_loss_weights(compose_cfg):
    """λ in one place: no policy YAML repeats the base weights; a ``loss.weights`` override and an
    experiment's ``loss.weights`` reach the policy."""
    assert [p.name for p in (CONFIG_DIR / "policy").glob("*.yaml") if "base_weights" in p.read_text()] == []
    cfg = compose_cfg("policy=schedule", "loss.weights.style=2")
    assert instantiate(cfg.policy).base_weights["style"] == 2.0
    cfg = compose_cfg("experiment=cpu_quality")
    assert dict(cfg.policy.base_weights) == dict(cfg.loss.weights)


@pytest.mark.parametrize("model", options("model"))
def test_model_options_compose(compose_cfg, model):
    extra = ["model.style_generator.num_styles=4"] if "embedding" in model else []
    cfg = compose_cfg(f"model={model}", *extra)
    g = instantiate(cfg.model.generator)
    s = instantiate(cfg.model.style_generator)(modulation_dims=g.modulation_dims)
    d = instantiate(cfg.model.discriminator)
    assert g.modulation_dims and s.modulation_dims == g.modulation_dims and len(d.scales) >= 1


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks", "data", "loss", "experiment", "hparams_search"])
def test_group_options_compose(compose_cfg, group):
    for option in options(group):
        extra = []
        if group == "data" and option == "folder":
            extra = ["data.content_dir=/x", "data.style_dir=/y"]
        cfg = compose_cfg(f"{group}={option}", *extra)
        assert cfg is not None


def test_default_loss_builds_vgg_from_local_truncated_weights(compose_cfg):
    cfg = compose_cfg()
    perceptual = instantiate(cfg.loss.perceptual)
    assert list(perceptual.content_layers) == ["relu3_1"]
    assert Path(cfg.paths.vgg_weights).is_file()
