"""The trials of `newsbench tune` in Optuna studies stored in RESULTS/tuning.db (SQLite), one study per configuration.

The budget is a count: a configuration's trials are done when `budget` of them have COMPLETEd (a trial whose
training diverged to a non-finite value is FAILed with the user attribute `diverged` and counts too, so an unstable
configuration gets no extra draws). Each new trial is asked under a folder-wide mutex (flock on
RESULTS/.tuning.mutex, released by the kernel if its holder dies) that first FAILs the stale trials (RUNNING, owned
by a dead process of this host, or with no owner), then counts the finished and live running ones and asks only when
they are below the budget: two processes on one results folder run each trial once, and a trial left RUNNING by a
killed process is not counted and is run again.

Each trial's sampler is a TPESampler seeded by (the tuning seed, the trial's slot): the k-th counted trial of a
configuration gets the same draw whether it is asked in one go or after a kill, given the same finished trials.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

from newsbench import atomic

DB_NAME = "tuning.db"
MUTEX_NAME = ".tuning.mutex"
DIVERGED = "diverged"            # user attribute of a FAILed trial that counts towards the budget
OWNER = "owner"                  # user attribute: {"pid", "host"} of the process running the trial
SLOT = "slot"                    # user attribute: the trial's index among its configuration's counted trials
STALE = "stale"


def db_path(results) -> Path:
    return Path(results) / DB_NAME


def storage(results):
    """The RDB storage of RESULTS/tuning.db, waiting up to 60 s for SQLite's write lock (another process)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)      # one line per trial is ours to print, not Optuna's
    Path(results).mkdir(parents=True, exist_ok=True)
    with mutex(results):         # two processes creating the schema at once would collide
        return optuna.storages.RDBStorage(f"sqlite:///{db_path(results).resolve()}",
                                          engine_kwargs={"connect_args": {"timeout": 60}})


def study_name(label: str, fingerprint: str, key: str) -> str:
    """`id+llm+gnn/gate @1a2b3c4d5e6f #0123abcd`: the configuration, the dataset, and a digest of everything else
    the trials depend on (base options, search space, metric, split rule, seed): a changed input starts a new study
    instead of silently resuming one of other data."""
    return f"{label} @{fingerprint[:12]} #{key}"


def key_of(parts: dict) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]


def open_study(results, store, name: str, attrs: dict):
    """The study `name` (created, with `attrs` as user attributes, when new)."""
    import optuna

    with mutex(results):
        study = optuna.create_study(storage=store, study_name=name, direction="maximize", load_if_exists=True)
        for k, v in attrs.items():
            if study.user_attrs.get(k) != v:
                study.set_user_attr(k, v)
    return study


def find_study(store, name: str):
    """The study `name`, or None."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError:
        return None


def mutex(results):
    """Serialise asking trials within a results folder (as newsbench.grid.claims does for runs); not POSIX: one
    process per results folder."""
    return atomic.folder_lock(Path(results) / MUTEX_NAME)


def counted(trial) -> bool:
    """Whether a finished trial uses up budget: COMPLETE, or FAILed by divergence (not by a stop or a kill)."""
    from optuna.trial import TrialState

    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and trial.user_attrs.get(DIVERGED))


def _alive(owner) -> bool:
    from newsbench.grid.claims import _pid_alive

    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        return False
    if owner.get("host") != socket.gethostname():
        return True                   # another host's process: cannot be checked from here; trusted
    return _pid_alive(owner["pid"])


def fail_stale(study) -> list[int]:
    """FAIL every RUNNING trial of `study` whose owner is dead (or unknown); their numbers. Call under `mutex`."""
    from optuna.trial import TrialState

    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _alive(t.user_attrs.get(OWNER)):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            stale.append(t.number)
    return stale


def tally(study) -> tuple[int, int]:
    """(counted finished trials, live running trials)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = sum(1 for t in trials if counted(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING and _alive(t.user_attrs.get(OWNER)))
    return done, running


def n_startup(budget: int) -> int:
    """TPE's random start: half the budget, 2..10 trials (Optuna's default is 10, more than a small budget)."""
    return max(2, min(10, budget // 2))


def sampler(seed: int, slot: int, budget: int):
    """The TPE sampler of the `slot`-th trial: seeded by (seed, slot), so a resumed study redraws a lost trial's
    settings instead of replaying the first draws of a fresh random stream."""
    import optuna

    derived = int.from_bytes(hashlib.sha256(f"{seed}:{slot}".encode()).digest()[:4], "little")
    return optuna.samplers.TPESampler(seed=derived, n_startup_trials=n_startup(budget))


def ask(results, study, dists: dict, budget: int, seed: int):
    """The next trial of `study` for this process, or None when counted + running trials reach `budget`."""
    with mutex(results):
        fail_stale(study)
        done, running = tally(study)
        if done + running >= budget:
            return None
        slot = done + running
        study.sampler = sampler(seed, slot, budget)
        trial = study.ask(fixed_distributions=dists)
        trial.set_user_attr(OWNER, {"pid": os.getpid(), "host": socket.gethostname()})
        trial.set_user_attr(SLOT, slot)
        return trial


def wait_for_others(study, poll: float = 1.0, on_wait=None) -> None:
    """Return once no live process runs a trial of `study` (a dead one's trial is failed and run by our caller)."""
    while True:
        _, running = tally(study)
        if not running:
            return
        if on_wait is not None:
            on_wait(running)
        time.sleep(poll)


def best(study):
    """The best COMPLETE trial, or None."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None
