"""Interrupted CLI runs: SIGKILL loses at most one checkpoint interval; SIGTERM / Ctrl+C save the exact
step and exit; every resume continues the step count and the metrics CSV; no checkpoint is ever partial."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lightning.fabric.loggers.csv_logs import _ExperimentWriter

from adaptive_st.cli.resolvers import PROJECT_ROOT
from adaptive_st.cli.train import train
from tests.conftest import FAST
from tests.reliability.conftest import TINY, in_dir, load_ckpt, read_csv, train_steps

pytestmark = pytest.mark.slow

MAX_STEPS = 80  # 40 batches
EVERY = 4  # a checkpoint every 2 batches


class Run:
    """One ``python -m adaptive_st.train`` process writing into a fixed folder (``hydra.run.dir``)."""

    def __init__(self, out: Path, sample_root: Path, shared_dir: Path, *extra: str, flush_every: int | None = 1) -> None:
        """``flush_every``: the CSV logger's ``flush_logs_every_n_steps`` (None: Lightning's default, 100)."""
        self.out = out
        self.log = out.parent / f"{out.name}_{len(list(out.parent.glob(out.name + '_*.log')))}.log"
        flush = [] if flush_every is None else [f"+logger.csv.flush_logs_every_n_steps={flush_every}"]
        args = [*FAST, *TINY, f"trainer.max_steps={MAX_STEPS}", f"checkpoint_every={EVERY}", "logger=csv", *flush,
                f"paths.data_dir={sample_root}", f"paths.shared_dir={shared_dir}", f"hydra.run.dir={out}", *extra]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1",
               "PYTHONPATH": str(PROJECT_ROOT)}  # for the tests.reliability.signals callback
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "adaptive_st.train", *args], cwd=out.parent,
                                         env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def last_step(self) -> int:
        """global_step of last.ckpt (-1 if none yet); loading it proves it is complete."""
        path = self.out / "checkpoints" / "last.ckpt"
        return load_ckpt(path)["global_step"] if path.exists() else -1

    def wait_for_checkpoint(self, after: int, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"run exited early ({self.proc.returncode}):\n{self.output[-3000:]}")
            step = self.last_step()
            if step > after:
                return step
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail(f"no checkpoint after step {after} within {timeout}s:\n{self.output[-3000:]}")

    def wait_for_csv_step(self, step: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if max(train_steps(read_csv(self.out)), default=-1) >= step:
                    return
            except (OSError, ValueError, KeyError):  # read while the writer rewrites the file
                pass
            time.sleep(0.02)
        self.proc.kill()
        pytest.fail(f"logger step {step} not reached within {timeout}s:\n{self.output[-3000:]}")

    def wait(self, timeout: float = 120.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"run did not exit within {timeout}s:\n{self.output[-3000:]}")


def all_checkpoints_load(out: Path) -> dict[str, int]:
    ckpts = {p.name: load_ckpt(p)["global_step"] for p in sorted((out / "checkpoints").glob("*.ckpt"))}
    assert ckpts, "no checkpoints"
    return ckpts


def periodic(ckpts: dict[str, int]) -> int:
    return max(step for name, step in ckpts.items() if name.startswith("step"))


def stop_step(output: str, signame: str) -> int:
    match = re.search(rf"stopped by {signame} at global step (\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def resumed_from(output: str) -> int:
    match = re.search(r"kept \d+ rows logged before step (\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def test_kill_term_int_and_resume_lose_nothing(tmp_path: Path, sample_root: Path, shared_dir: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    timings: dict[str, float] = {}

    # 1. SIGKILL one batch after the first checkpoint: no handler runs, nothing more is saved.
    t0 = time.monotonic()
    run = Run(out, sample_root, shared_dir)
    first = run.wait_for_checkpoint(after=EVERY - 1)
    run.wait_for_csv_step(first // 2)  # the batch after the checkpoint was trained (and logged)
    run.proc.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    timings["kill"] = time.monotonic() - t0
    kept = all_checkpoints_load(out)["last.ckpt"]
    reached = 2 * (max(train_steps(read_csv(out))) + 1)  # CSV flushed every step: how far the run got
    assert 2 <= reached - kept <= EVERY  # lost: less than one checkpoint interval

    # 2. Resume, then SIGTERM (SLURM preemption) once the resumed run has written a checkpoint of its own.
    t0 = time.monotonic()
    run = Run(out, sample_root, shared_dir, "ckpt_path=last")
    run.wait_for_checkpoint(after=kept)
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 128 + signal.SIGTERM, run.output[-3000:]
    timings["term"] = time.monotonic() - t0
    assert resumed_from(run.output) == kept // 2  # logger step = batches: continues at the checkpoint
    term_step = stop_step(run.output, "SIGTERM")
    ckpts = all_checkpoints_load(out)
    assert ckpts["last.ckpt"] == term_step >= periodic(ckpts) > kept
    assert max(train_steps(read_csv(out))) == term_step // 2 - 1  # metrics up to the interruption were flushed

    # 3. Resume to the end.
    t0 = time.monotonic()
    run = Run(out, sample_root, shared_dir, "ckpt_path=last")
    assert run.wait() == 0, run.output[-3000:]
    timings["finish"] = time.monotonic() - t0
    assert resumed_from(run.output) == term_step // 2  # nothing lost at all after a SIGTERM
    assert all_checkpoints_load(out)["last.ckpt"] == MAX_STEPS
    assert train_steps(read_csv(out)) == list(range(MAX_STEPS // 2))  # one continuous, duplicate-free CSV
    assert (out / "metrics.json").is_file()
    assert not list((out / "checkpoints").glob(".*.tmp"))
    print(f"kill at step {reached}, resumed from {kept}; SIGTERM at {term_step}; timings {timings}")


def test_ctrl_c_stops_after_the_batch_saves_and_resumes(compose_cfg, caplog) -> None:
    """In-process (the signal goes to this process): the first Ctrl+C is handled like SIGTERM."""
    sigint_at_batch_3 = ("+callbacks.sigint._target_=tests.reliability.signals.SignalAtBatch",
                         "+callbacks.sigint.batch=3")
    cfg = compose_cfg(*TINY, "trainer.max_steps=16", *sigint_at_batch_3)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under `cmd &` / nohup
    with pytest.raises(SystemExit) as info:
        train(cfg)
    assert info.value.code == 128 + signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    out = Path(cfg.paths.output_dir)
    assert load_ckpt(out / "checkpoints" / "last.ckpt")["global_step"] == 8  # batches 0..3, exactly
    assert "stopped by SIGINT at global step 8" in caplog.text

    train(compose_cfg(*TINY, "trainer.max_steps=16", "ckpt_path=last"))
    assert load_ckpt(out / "checkpoints" / "last.ckpt")["global_step"] == 16
    assert train_steps(read_csv(out)) == list(range(8))


def test_sigkill_after_a_checkpoint_with_default_csv_flushing_loses_no_row(compose_cfg, tmp_path: Path,
                                                                          sample_root: Path, shared_dir: Path) -> None:
    """The CSV logger's own flushing (every 100 steps) is not what keeps rows: Lightning writes each logged
    row at once, so a SIGKILL right after a checkpoint leaves every row on disk and the resume neither
    drops nor repeats any."""
    out = tmp_path / "killed"
    out.mkdir()
    kill_at_batch_3 = ("+callbacks.kill._target_=tests.reliability.signals.SignalAtBatch",
                       "+callbacks.kill.batch=3", f"+callbacks.kill.signum={int(signal.SIGKILL)}")
    run = Run(out, sample_root, shared_dir, "trainer.max_steps=12", *kill_at_batch_3, flush_every=None)
    assert run.wait() == -signal.SIGKILL, run.output[-3000:]
    assert load_ckpt(out / "checkpoints" / "last.ckpt")["global_step"] == EVERY  # saved after batch 1
    assert train_steps(read_csv(out)) == [0, 1, 2]  # batch 3 was killed in its end hooks, before its row

    train(in_dir(compose_cfg(*TINY, "trainer.max_steps=12", f"checkpoint_every={EVERY}", "ckpt_path=last"), out))
    assert train_steps(read_csv(out)) == list(range(6))  # batches 0..5, none lost, none twice


def test_a_resume_that_dies_while_rewriting_the_csv_loses_no_row(compose_cfg, monkeypatch) -> None:
    """The resume moves metrics.csv aside instead of deleting it before the rows are written back, so a
    failure in between (out of disk, SIGKILL) leaves them for the next resume."""
    train(compose_cfg(*TINY, "trainer.max_steps=8", f"checkpoint_every={EVERY}"))  # rows 0..3, last.ckpt at 8
    real_save = _ExperimentWriter.save

    def full_disk(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_ExperimentWriter, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train(compose_cfg(*TINY, "trainer.max_steps=12", f"checkpoint_every={EVERY}", "ckpt_path=last"))
    monkeypatch.setattr(_ExperimentWriter, "save", real_save)
    out = train(compose_cfg(*TINY, "trainer.max_steps=12", f"checkpoint_every={EVERY}", "ckpt_path=last"))
    assert out["train/skipped_steps"] == 0
    run_dir = Path(compose_cfg().paths.output_dir)
    assert train_steps(read_csv(run_dir)) == list(range(6))
    assert not list((run_dir / "csv").glob(".*"))  # the aside copy is gone once the rows are back
