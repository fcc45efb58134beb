"""The ablation grid: which runs to make, who makes each one, and where they run.

A grid is a list of RunConfigs (modality subsets x fusions x seeds over one base config). Running it:

1. load the dataset and compute every feature matrix the grid needs, once (they are cached on disk);
2. for each config not yet recorded, claim it with a lock file, train it (here, in a process pool, or as a Ray
   task), write its record from this process (the driver), release the lock.

Resume is free: a run whose record exists is skipped. The modules, one seam each:

- `expand`: what to run (the default table, parsing --subsets/--fusions/--seeds, the cross product);
- `features`: the feature matrices the whole grid shares, computed once by the driver;
- `claims`: who runs it (one lock file per run, heartbeats, stale locks and leftovers of dead writers);
- `executors`: where it runs (LocalExecutor, PoolExecutor, RayExecutor);
- `driver`: run_grid, the loop that ties them together.

Every public name is re-exported here, so `from newsbench.grid import X` and `grid.X` keep working.
"""

from newsbench.grid.claims import (HEARTBEAT_SECONDS, LOCK_STALE_SECONDS, LOCK_SUFFIX, Claims, clean_run_leftovers,
                                   clean_stale_files, lock_is_stale, lock_path, read_lock, run_status)
from newsbench.grid.driver import (PAUSE_ENV, POLL_SECONDS, TRACE_ENV, GridEvents, GridResult, count_done, run_grid,
                                   trace)
from newsbench.grid.executors import (RAY_TIMEOUT, ClusterLost, LocalExecutor, PoolExecutor, RayExecutor, WorkerSpec,
                                      _import_ray, call_run, check_cluster_resources, connect_ray, probe,
                                      ray_endpoint)
from newsbench.grid.expand import (DEFAULT_FUSIONS, DEFAULT_SEEDS, DEFAULT_SUBSETS, DEFAULT_TABLE, MODALITY_JOIN,
                                   REAL_MODALITIES, SUBSET_SEP, SUBSETS_RULE, all_subsets, changed_meaning,
                                   default_grid, expand_grid, needed_modalities, old_reading, parse_fusions,
                                   parse_modalities, parse_seeds, parse_subsets, subset_label, subsets_text)
from newsbench.grid.features import compute_features, feature_config, features_for

__all__ = [
    "DEFAULT_FUSIONS", "DEFAULT_SEEDS", "DEFAULT_SUBSETS", "DEFAULT_TABLE", "all_subsets", "default_grid",
    "expand_grid", "needed_modalities", "parse_fusions", "parse_modalities", "parse_seeds", "parse_subsets",
    "MODALITY_JOIN", "REAL_MODALITIES", "SUBSET_SEP", "SUBSETS_RULE", "changed_meaning", "old_reading",
    "subset_label", "subsets_text",
    "compute_features", "feature_config", "features_for",
    "HEARTBEAT_SECONDS", "LOCK_STALE_SECONDS", "LOCK_SUFFIX", "Claims", "clean_run_leftovers", "clean_stale_files",
    "lock_is_stale", "lock_path", "read_lock", "run_status",
    "LocalExecutor", "PoolExecutor", "RayExecutor", "WorkerSpec", "call_run",
    "RAY_TIMEOUT", "ClusterLost", "check_cluster_resources", "connect_ray", "probe", "ray_endpoint",
    "PAUSE_ENV", "POLL_SECONDS", "TRACE_ENV", "GridEvents", "GridResult", "count_done", "run_grid", "trace",
]
