"""newsbench: measured, seeded, significance-tested ablations of multimodal news recommenders.

The Python API is newsbench.api (`ablate`, `train`, `baselines`, `report`); `newsbench.ablate` and `newsbench.api`
are reachable from here. `train`, `baselines` and `report` are not re-exported at this level: those names are
newsbench's own modules (newsbench.train, newsbench.baselines, newsbench.report), which the package and plug-ins
import, and a function of the same name would shadow or be shadowed by them. Write `newsbench.api.train(...)`.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "ablate", "api"]


def __getattr__(name: str):
    # Loaded on first use, not on `import newsbench`: every command line starts by importing this package, and the
    # API's modules (pandas, the grid) would slow `newsbench --help` down for nothing.
    if name in ("ablate", "api"):
        import importlib

        api = importlib.import_module("newsbench.api")
        return api if name == "api" else api.ablate
    raise AttributeError(f"module 'newsbench' has no attribute {name!r}")
