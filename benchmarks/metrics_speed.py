"""Speed of newsbench.metrics.impression_metrics vs the per-impression reference loop, as a ratio in one run.

Run: python benchmarks/metrics_speed.py  (73,000 impressions x ~37 candidates, MIND-small dev size)
"""
import time
import numpy as np
from newsbench.metrics import auc_score, impression_metrics, mrr_score, ndcg_score

rng = np.random.default_rng(0)
m = 73_000
lengths = rng.integers(5, 70, m)  # mean ~37, like MIND-small dev
ptr = np.concatenate([[0], np.cumsum(lengths)])
nnz = int(ptr[-1])
scores = rng.standard_normal(nnz).astype(np.float32)
labels = np.zeros(nnz, np.int8)
labels[ptr[:-1] + rng.integers(0, lengths)] = 1  # >= 1 click each
labels[rng.random(nnz) < 0.02] = 1
print(f"{m} impressions, {nnz} candidates")
best = []
for _ in range(3):
    t = time.process_time(); fast = impression_metrics(scores, labels, ptr); best.append(time.process_time() - t)
t_fast = min(best)
scores64 = scores.astype(np.float64) + rng.random(nnz) * 1e-9  # not float32-exact: the lexsort path
t = time.process_time(); impression_metrics(scores64, labels, ptr); t_lex = time.process_time() - t
t = time.process_time()
ref = {k: np.empty(m) for k in fast}
for i in range(m):
    y, s = labels[ptr[i]:ptr[i + 1]], scores[ptr[i]:ptr[i + 1]]
    ref["auc"][i] = auc_score(y, s); ref["mrr"][i] = mrr_score(y, s)
    ref["ndcg5"][i] = ndcg_score(y, s, 5); ref["ndcg10"][i] = ndcg_score(y, s, 10)
t_ref = time.process_time() - t
for k in fast:
    np.testing.assert_allclose(fast[k], ref[k], rtol=1e-12, atol=0)
print(f"CPU seconds: vectorised {t_fast:.3f} (float32, best of 3), {t_lex:.3f} (float64, lexsort path); "
      f"reference loop {t_ref:.1f}; ratio {t_ref / t_fast:.0f}x (float32), {t_ref / t_lex:.0f}x (float64)")
