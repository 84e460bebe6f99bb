"""DDP whose extra ranks re-run *this Hydra job*, so DDP also works under Hydra multirun and sweeps.

Lightning's script launcher starts ranks > 0 by re-running ``sys.argv`` with ``hydra.run.dir`` set.
Under ``-m`` (a multirun or an Optuna sweep) that re-runs the *whole sweep* in every child, and the
parent leaves ``LOCAL_RANK``/``MASTER_PORT`` and an initialised process group behind, so the next
job of a sequential multirun believes its processes were created externally and either pairs up with
the previous job's leftover child by accident or waits for a rank that never comes (pitfall 10).

:class:`HydraDDPStrategy` fixes the local launch path and is plain :class:`DDPStrategy` otherwise
(torchrun, SLURM/submitit: processes created externally):

- ranks > 0 run the job's own overrides in single-run mode (``hydra.mode=RUN``, ``hydra.run.dir`` =
  the job's output dir, ``hydra.output_subdir=null``), never the sweep;
- each job gets its own free master port (unless ``MASTER_PORT`` was set by the user);
- after the job, children are reaped (killed on error), the process group is destroyed and the
  environment variables the launch set are restored, so the next job starts clean.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

#: What a local launch writes into ``os.environ`` (restored afterwards).
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
#: Hydra flags that select the config; children need the same ones.
CONFIG_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")
#: Seconds rank 0 waits for the other ranks to exit after a successful fit.
CHILD_EXIT_TIMEOUT_S = 120.0


def config_flags(argv: Sequence[str]) -> list[str]:
    """The ``--config-*`` flags of a Hydra command line (``--flag value`` and ``--flag=value`` forms)."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        name = arg.split("=", 1)[0]
        if name in CONFIG_FLAGS:
            out.append(arg)
            if "=" not in arg:
                out.append(next(it, ""))
    return out


def job_command(local_rank: int) -> list[str]:
    """The command that runs the current Hydra job (not the sweep) as rank ``local_rank``."""
    from hydra.core.hydra_config import HydraConfig

    import __main__

    hc = HydraConfig.get()
    output_dir = OmegaConf.select(hc, "runtime.output_dir", default=None, throw_on_missing=False)
    if not output_dir:
        raise RuntimeError("HydraDDPStrategy starts the other ranks by re-running the Hydra app; under Hydra's "
                           "compose API (tests, notebooks) there is none: run `python -m adaptive_st.train "
                           "trainer=ddp_cpu ...` in a subprocess instead (see tests/distributed).")
    # Raw override strings: resolving them here would bake this process's values (``${oc.env:...}``,
    # ``${now:...}``) into the other ranks' command lines.
    overrides = OmegaConf.to_container(hc.overrides.task, resolve=False)
    spec = getattr(__main__, "__spec__", None)
    command = [sys.executable, "-m", spec.name] if spec is not None else [sys.executable, os.path.abspath(sys.argv[0])]
    output_dir = str(output_dir).replace("\\", "\\\\").replace('"', '\\"')
    return [
        *command,
        *config_flags(sys.argv[1:]),
        *overrides,
        "hydra.mode=RUN",
        f'hydra.run.dir="{output_dir}"',
        "hydra.output_subdir=null",
        f"hydra.job.name={hc.job.name}_rank{local_rank}",
    ]


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Starts ranks 1..N-1 of one Hydra job; cleans up after it. Outside Hydra: Lightning's behaviour."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved_env: dict[str, str | None] | None = None

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        ok = False
        try:
            result = super().launch(function, *args, trainer=trainer, **kwargs)
            ok = True
            return result
        finally:
            self._cleanup(ok)

    def _call_children_scripts(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            super()._call_children_scripts()
            return
        self._check_can_spawn_children()
        self._saved_env = {k: os.environ.get(k) for k in LAUNCH_ENV}
        self.procs = []
        # main_port is a free port picked now unless MASTER_PORT is set: a fresh one per job, since
        # the previous job's value was restored away.
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        from hydra.utils import get_original_cwd

        for local_rank in range(1, self.num_processes):
            env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            self.procs.append(subprocess.Popen(job_command(local_rank), env=env, cwd=get_original_cwd()))

    def _cleanup(self, ok: bool) -> None:
        if self._saved_env is None:  # nothing launched here (external launch, or not under Hydra)
            return
        for proc in self.procs:
            try:
                proc.wait(timeout=CHILD_EXIT_TIMEOUT_S if ok else 0.1)
            except subprocess.TimeoutExpired:
                log.warning("rank process %d still running after the job: killing it", proc.pid)
                proc.kill()
                proc.wait()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = None
        self.procs = []


class HydraDDPStrategy(DDPStrategy):
    """``DDPStrategy`` (same arguments) launching local ranks per Hydra job; see the module docstring."""

    def _configure_launcher(self) -> None:
        assert self.cluster_environment is not None
        self._launcher = HydraJobLauncher(self.cluster_environment, self.num_processes, self.num_nodes)

