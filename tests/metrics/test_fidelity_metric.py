"""ContentFidelity: SSIM/PSNR on RGB and luminance with a fixed data range."""

from __future__ import annotations

import torch

from adaptive_st.metrics import ContentFidelity, rgb_to_y


def _image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # smooth-ish image in [0.2, 0.8] so small colour shifts never clip
    x = torch.rand(2, 3, 16, 16, generator=g)
    x = torch.nn.functional.interpolate(x, size=64, mode="bilinear", align_corners=False)
    return 0.2 + 0.6 * x


def test_identical_images() -> None:
    x = _image()
    m = ContentFidelity()
    m.update(x, x)
    out = m.compute()
    assert set(out) == {"ssim", "psnr", "ssim_y", "psnr_y"}
    for key in ("ssim", "ssim_y"):
        torch.testing.assert_close(out[key], torch.tensor(1.0))
    assert out["psnr"] > 100 and out["psnr_y"] > 100  # inf for exact equality


def test_ssim_and_psnr_decrease_with_noise() -> None:
    x = _image()
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    results = []
    for sigma in (0.01, 0.05, 0.2):
        m = ContentFidelity()
        m.update((x + sigma * noise).clamp(0, 1), x)
        results.append(m.compute())
    for key in ("ssim", "psnr", "ssim_y", "psnr_y"):
        values = [r[key].item() for r in results]
        assert values[0] > values[1] > values[2], (key, values)


def test_luminance_variants_ignore_a_pure_colour_shift() -> None:
    x = _image()
    chroma = torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1)  # orthogonal to the BT.601 luma weights
    shifted = x + 0.3 * chroma
    torch.testing.assert_close(rgb_to_y(shifted), rgb_to_y(x))
    m = ContentFidelity(prefix="val/")
    m.update(shifted, x)
    out = m.compute()
    assert out["val/ssim_y"] > 0.9999 and out["val/psnr_y"] > 60
    assert out["val/ssim"] < 0.99 and out["val/psnr"] < 30


def test_rgb_to_y_bt601() -> None:
    x = torch.zeros(1, 3, 1, 1)
    x[0, 1] = 1.0
    torch.testing.assert_close(rgb_to_y(x), torch.full((1, 1, 1, 1), 0.587))
    torch.testing.assert_close(rgb_to_y(torch.ones(1, 3, 2, 2)), torch.ones(1, 1, 2, 2))


def test_states_merge_like_ddp_sync() -> None:
    """Each rank's states combine into the metric over all data (what DDP sync does)."""
    a, b = _image(0), _image(5)
    noisy_a, noisy_b = (a + 0.05).clamp(0, 1), (b - 0.05).clamp(0, 1)
    whole, rank0, rank1 = ContentFidelity(), ContentFidelity(), ContentFidelity()
    whole.update(torch.cat([noisy_a, noisy_b]), torch.cat([a, b]))
    rank0.update(noisy_a, a)
    rank1.update(noisy_b, b)
    for key in ("ssim", "psnr"):
        rank0[key].merge_state(rank1[key])
        torch.testing.assert_close(rank0[key].compute(), whole[key].compute())
