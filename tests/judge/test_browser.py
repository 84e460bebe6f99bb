"""End to end in a real headless Chromium: prepare a study from two trained checkpoints, answer 20 comparisons
with key presses, restart the server and resume, then build the report.

Chromium and chromedriver come from Debian (`make browser`, which `make test` runs). Without them the test
fails, except where it cannot install them (not root): then it skips and says why.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
KEYS = ("1", "2", "0", " ", "2")  # left, right, can't tell (two ways), right
CHOICE = {"1": "left", "2": "right", "0": "tie", " ": "tie"}


def browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "chromium and chromium-driver are not installed: run `make browser` (apt-get install chromium chromium-driver)"
    if os.geteuid() != 0:
        pytest.skip(f"{reason}; not root here, so they cannot be installed")
    pytest.fail(reason)


def small_images(folder: Path, count: int, seed: int) -> Path:
    """``count`` small structured images (gradients and blocks), distinct per seed."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        y, x = np.mgrid[0:60, 0:80] / 80.0
        image = np.stack([x, y, (x + y) / 2], axis=-1) * rng.uniform(0.3, 1.0, 3)
        for _ in range(4):
            top, left = rng.integers(0, 40), rng.integers(0, 60)
            image[top : top + 20, left : left + 20] = rng.uniform(0, 1, 3)
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@contextmanager
def judge_server(study: Path) -> Iterator[str]:
    """``adaptive-st judge --out STUDY --port 0`` in its own process; yields its URL, then stops it."""
    proc = subprocess.Popen([sys.executable, "-m", "adaptive_st.cli.main", "judge", "--out", str(study), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                yield found.group(1)
                break
        else:
            pytest.fail("the judge server did not start:\n" + "".join(lines))
    finally:
        proc.send_signal(signal.SIGTERM)  # as `kill` would; Ctrl-C (SIGINT) takes the same path
        rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0 and "stopped" in rest, "".join(lines) + rest


@pytest.fixture
def chrome() -> Iterator[object]:
    chromium, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


def wait_for(driver: object, state: str, not_in: set[str] = frozenset()) -> str:
    """Wait until the page is in ``state`` showing a comparison not in ``not_in``; returns its id."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d: object) -> str | bool:
        body = d.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]
        current = body.get_attribute("data-comparison") or ""
        if body.get_attribute("data-state") != state:
            return False
        if state != "ready":
            return state
        # "ready" is set a moment before the comparison id: wait for both (an empty id is no comparison).
        return current if current and current not in not_in else False

    return WebDriverWait(driver, 60).until(shown)


def press(driver: object, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def answers(study: Path) -> list[dict[str, str]]:
    with (study / "answers" / "tester.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_rate_in_a_browser_restart_resume_and_report(chrome: object, constant_ckpt: Path, conditional_ckpt: Path,
                                                     tmp_path: Path, capsys):
    from selenium.webdriver.common.by import By

    study = tmp_path / "study"
    contents, styles = small_images(tmp_path / "content", 4, seed=1), small_images(tmp_path / "style", 6, seed=2)
    assert adaptive_st(["judge", str(constant_ckpt), str(conditional_ckpt), "--content", str(contents), "--style",
                        str(styles), "--pairs", "all", "--size", "96", "--out", str(study), "--no-serve",
                        "--hub-dir", str(tmp_path / "hub"), "--labels", "constant", "conditional"]) == 0
    assert len(list((study / "outputs").rglob("*.png"))) == 48
    pressed: dict[str, str] = {}
    with judge_server(study) as url:
        chrome.get(url)  # type: ignore[attr-defined]
        wait_for(chrome, "rater")  # a first visit asks who rates
        chrome.find_element(By.ID, "rater-input").send_keys("tester\n")  # type: ignore[attr-defined]
        for n in range(20):
            comparison = wait_for(chrome, "ready", set(pressed))
            pressed[comparison] = KEYS[n % len(KEYS)]
            press(chrome, pressed[comparison])
        wait_for(chrome, "ready", set(pressed))  # the 21st is shown: all 20 were recorded
    rows = answers(study)
    assert len(rows) == 20 and [r["comparison"] for r in rows] == list(pressed)
    assert all(r["choice"] == CHOICE[pressed[r["comparison"]]] for r in rows)
    assert {r["left"] for r in rows} == {"constant", "conditional"}  # the sides are shuffled
    assert all(float(r["latency_ms"]) >= 0 for r in rows)

    with judge_server(study) as url:  # restarted: resumes, asks only the 4 not answered
        chrome.get(url + "?rater=tester")  # type: ignore[attr-defined]
        comparison = wait_for(chrome, "ready", set(pressed))
        assert "20 / 24 answered" in chrome.find_element(By.ID, "progress").text  # type: ignore[attr-defined]
        for _ in range(4):
            pressed[comparison] = "1"
            press(chrome, "1")
            comparison = wait_for(chrome, "done" if len(pressed) == 24 else "ready", set(pressed))
        assert "All 24 comparisons answered" in chrome.find_element(By.ID, "message").text  # type: ignore[attr-defined]
    rows = answers(study)
    assert len(rows) == 24 and len({r["comparison"] for r in rows}) == 24

    assert adaptive_st(["judge", "--report", str(study), "--bootstrap", "100"]) == 0
    assert "## Ranking (Bradley–Terry)" in capsys.readouterr().out
    page = (study / "report.html").read_text()
    assert "constant" in page and "conditional" in page and "data:image/png;base64," in page
