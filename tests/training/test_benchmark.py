"""``experiments/benchmark.py`` runs end to end (smoke preset: every code path, tiny sizes, no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from adaptive_st.cli.resolvers import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_smoke_preset_writes_json_and_tables(tmp_path, shared_dir):
    out = tmp_path / "bench.json"
    env = {**os.environ, "ADAPTIVE_ST_SHARED": str(shared_dir)}
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "experiments" / "benchmark.py"), "--preset", "smoke",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    train = result["train"][0]
    assert {"bare", "lightning", "case"} <= set(train)
    assert set(train["bare"]["split_ms"]) == {"vgg_targets", "gs_forward", "vgg_loss_forward", "adv_forward",
                                              "g_backward_step", "d_step"}
    assert train["lightning"]["peak_mib"] > 0 and train["lightning"]["memory_kind"] == "rss"
    assert [p["policy"] for p in result["policies"]["results"]] == ["constant", "grad_ratio"]
    assert all(s["mpx_per_s"] > 0 for s in result["stylize"])
    for heading in ("### Training step", "### Where a step goes", "### Policy overhead", "### Stylize"):
        assert heading in proc.stdout
