"""A sweep's output folders, known before its first job: every job's config composed as Hydra's basic sweeper
and the launcher will, and a sweep refused when two of its jobs would write into one folder (one error,
nothing run). Jobs of other sweepers are not known in advance: ``sweep.SweepRecord.claim_folder`` guards them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from ..core.errors import ConfigError

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
FOLDER_FIX = ("leave output.folder unset (each job writes into its sweep folder) or make it depend on the job, "
              "e.g. 'output.folder=out/${hydra:job.override_dirname}'")
log = logging.getLogger(__name__)


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides, as Hydra's basic sweeper will launch them; None for another sweeper."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    # unresolved, as Hydra reads them: an override's ${...} belongs to the job, not to this config
    node = OmegaConf.select(config, "hydra.sweeper.params")
    params = OmegaConf.to_container(node, resolve=False) if node is not None else {}
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    assert isinstance(params, dict) and isinstance(task, list)
    arguments = [f"{key!s}={value!s}" for key, value in params.items()] + [str(override) for override in task]
    overrides = OverridesParser.create().parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def job_output_folder(config: DictConfig, overrides: list[str], num: int) -> Path:
    """The output folder of sweep job ``num``: its config composed and resolved as the launcher and
    ``run_job`` will (job number, job folder), HydraConfig restored afterwards."""
    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    job = hydra.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job):
        job.hydra.job.id = num
        job.hydra.job.num = num
    instance = HydraConfig.instance()
    saved = instance.cfg
    try:
        instance.set_config(job)  # the job's hydra node: ${hydra:...} resolves for this job
        output_dir = Path(str(job.hydra.sweep.dir)) / str(job.hydra.sweep.subdir)
        with read_write(job.hydra.runtime), open_dict(job.hydra.runtime):
            job.hydra.runtime.output_dir = str(output_dir.absolute())
        instance.set_config(job)
        return Path(str(OmegaConf.select(job, "output.folder"))).resolve()
    finally:
        instance.cfg = saved


def shared_output_folder(config: DictConfig) -> ConfigError | None:
    """The error for a sweep of more than one job in which two jobs have the same output folder (an
    ``output.folder`` that depends on no swept key and on no ``${hydra:job...}``), else None."""
    try:
        jobs = job_overrides(config)
        if jobs is None or len(jobs) < 2:
            return None
        owners: dict[Path, int] = {}
        for num, overrides in enumerate(jobs):
            folder = job_output_folder(config, overrides, num)
            if folder in owners:
                first = owners[folder]
                only_first = [o for o in jobs[first] if o not in overrides]
                only_this = [o for o in overrides if o not in jobs[first]]
                return ConfigError(
                    f"is the folder of sweep jobs #{first} ({' '.join(only_first)}) and #{num} "
                    f"({' '.join(only_this)}) of {len(jobs)}: each job needs its own; nothing was run",
                    field="output.folder",
                    value=_shown(folder),
                    fix=FOLDER_FIX,
                )
            owners[folder] = num
    except (HydraException, OmegaConfBaseException) as exc:  # a job that cannot be composed or resolved
        log.debug("sweep folders not checked in advance: %s", exc)  # fails with its own error when it runs
    return None


def _shown(folder: Path) -> str:
    """A folder relative to the current one when inside it (as the user typed it, usually)."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)
