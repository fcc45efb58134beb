"""What the CPU-time benchmarks share; each imports it by name (benchmarks/ is on sys.path when one of them runs).

CPU seconds (time.process_time), the best of a few calls. The benchmarks of a run's evaluation set up as a run does:
one torch thread (cfg.cpu_threads = 1), on the CPU, with a model trained as `train` trains it. torch and newsbench's
training are imported only by the functions that need them: plots_overhead times imports of its own.
"""
import argparse
import time


def best_of(fn, n=3):
    """fn's result (of its last call) and its least CPU seconds over n calls."""
    out, best = None, float("inf")
    for _ in range(n):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return out, best


def evaluation_setup(text_encoder: str):
    """The command line of a benchmark over a run's evaluation (--text-encoder, default `text_encoder`; --data,
    default the demo), then one torch thread: the arguments, the dataset and the CPU device."""
    import torch

    from newsbench.data.load import load_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--text-encoder", default=text_encoder)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    return args, load_dataset(args.data), torch.device("cpu")


def trained_model(ds, feats, cfg, device):
    """A model of `cfg` trained on `ds` as a run trains it, in eval mode."""
    from newsbench.train import _build_model, train_model

    model, *_ = _build_model(ds, feats, cfg, device)
    train_model(model, ds, cfg, device)
    model.eval()
    return model
