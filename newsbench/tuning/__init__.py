"""`newsbench tune`: each configuration's hyper-parameters searched with the same budget on a validation split carved
from train by time (the dev split untouched), trials in Optuna studies in RESULTS/tuning.db, then the best settings
trained with the usual seeds as ordinary runs. Modules: `space` (the search space and its TOML file), `split` (the
validation day), `study` (the study database, budget and concurrency), `driver` (the steps)."""
