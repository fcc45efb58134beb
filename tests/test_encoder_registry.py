"""Text encoder kinds are registry entries (issue 22 item 2): `minilm`, `hash`, `st:` and `file:` are registered in
newsbench.features.encoders as plug-ins are served, the feature code asks a spec's kind instead of naming kinds, and
every feature cache key and run id is what it was before the registry (literal keys pinned below, computed on main
before the change on the tiny dataset)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from newsbench import digests, options, params
from newsbench.config import RunConfig
from newsbench.data.load import load_dataset
from newsbench.errors import InputError
from newsbench.features import encoders, text

# A plug-in written byte for byte as when the pinned keys were computed: its source file's sha256 is in its key.
LETTERS = ("import numpy as np\n\nclass Letters:\n    def encode(self, texts, device='cpu'):\n"
           "        return np.array([[t.lower().count(c) for c in 'abcdefgh'] for t in texts], dtype=np.float32)\n")

# text_key(tiny, spec, fields) on main before the registry (newsbench 376b23e); the vector file is `_vec_file`'s.
PINNED_KEYS = {
    ("hash", "title"): "text-6af0b7046217364fa9e2",
    ("hash", "title+abstract"): "text-6ea7295eac84ec41a7a9",
    ("hash:64", "title"): "text-09c24b30086813ecf880",
    ("file", "title"): "text-b5d64c46753c8cbec7ab",
    ("file", "title+abstract"): "text-b5d64c46753c8cbec7ab",         # vectors per news id: fields not in the key
    ("plugmod_enc:Letters", "title"): "text-94f6c9d464e84d898aa1",
}
# RunConfig(modalities=("id", "llm"), text_encoder=spec).run_id("fp") on main before the registry
PINNED_RUN_IDS = {"hash": "5a181fb6bc1fb609", "hash:64": "72b80db6f9922c83", "plugmod_enc:Letters": "97221db3ef2715d8"}


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_dataset(tiny_dir, progress=False)


@pytest.fixture
def letters(tmp_path, monkeypatch):
    """The plug-in module `plugmod_enc` on sys.path (not installed: no distribution in its identity)."""
    folder = tmp_path / "plugsite"
    folder.mkdir()
    (folder / "plugmod_enc.py").write_text(LETTERS)
    monkeypatch.syspath_prepend(str(folder))
    _forget()
    yield folder
    _forget()


def _forget() -> None:
    sys.modules.pop("plugmod_enc", None)
    encoders.forget()
    digests._MEMO.clear()


def _vec_file(folder, news_ids):
    path = folder / "emb.vec"
    path.write_text("".join(f"{n}\t{i % 7}\t{(i * 3) % 5}\t1\n" for i, n in enumerate(news_ids)))
    return path


def _spec(name: str, folder) -> str:
    return f"file:{folder / 'emb.vec'}" if name == "file" else name


# ---------------------------------------------------------------------------------------------------- the registry
def test_every_builtin_kind_is_a_registered_entry():
    kinds = encoders.builtins()
    assert tuple(kinds) == encoders.BUILTIN_KINDS == options.SEED_KINDS
    assert all(isinstance(k, encoders.Kind) and k.name == name for name, k in kinds.items())
    assert encoders.PLUGIN.name == "plugin" and "plugin" not in kinds
    # each spelling of a built-in finds its entry; the argument is the kind's own spelling
    for spec, (name, arg) in {"minilm": ("minilm", ""), "hash": ("hash", "384"), "hash:064": ("hash", "64"),
                              "st:org/model": ("st", "org/model"), "file:x.npy": ("file", "x.npy")}.items():
        kind, parsed = text.encoder_kind(spec)
        assert kind is kinds[name] and parsed == arg and text.parse_encoder(spec) == (name, arg)
    # what each declares is what the feature code asks of it: only file: and ebnerd: supply vectors per news id,
    # only the model encoders hold their batching version in the key
    assert [n for n, k in kinds.items() if k.per_news] == ["file", "ebnerd"]
    assert [n for n, k in kinds.items() if k.batched] == ["minilm", "st"]
    assert not encoders.PLUGIN.per_news and not encoders.PLUGIN.batched
    with pytest.raises(ValueError, match="registered twice"):
        encoders.register(text.Hash())


@pytest.mark.parametrize("bad", ["bert", "minilm:", "hash:0", "hash:", "st:", "file:", "st", "file", "MINILM"])
def test_a_spec_no_entry_takes_is_one_error_with_the_accepted_forms(bad):
    with pytest.raises(InputError, match="unknown text encoder .* use minilm, hash, hash:DIM, st:NAME_OR_PATH"):
        encoders.lookup(bad)


def test_the_registry_lists_installed_plugins_beside_the_builtins(tmp_path, monkeypatch, letters):
    info = letters / "enc_dist-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: enc-dist\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[newsbench.text_encoders]\nLetters = plugmod_enc:Letters\n"
                                           "hash = plugmod_enc:Letters\n")
    _forget()
    listed = encoders.available()
    assert list(listed) == ["minilm", "hash", "st", "file", "ebnerd", "letters"]
    assert listed["letters"] is encoders.PLUGIN and listed["hash"] is encoders.builtins()["hash"]
    assert encoders.lookup("letters") == (encoders.PLUGIN, "letters")
    assert encoders.lookup("plugmod_enc:Letters") == (encoders.PLUGIN, "plugmod_enc:Letters")
    # an installed name is a plug-in's; a built-in kind keeps its name, and an entry point that takes it clashes
    assert encoders.lookup("hash")[0] is encoders.builtins()["hash"]
    with pytest.raises(InputError) as err:
        encoders.check("hash")
    assert str(err.value).count("\n") == 0
    assert "the installed entry point hash = plugmod_enc:Letters (distribution enc-dist 0.3) clashes with the " \
           "built-in text encoder hash" in str(err.value)
    encoders.check("letters")                                          # the plug-in itself passes


def test_a_new_kind_needs_no_change_to_the_feature_code(tiny, tmp_path, monkeypatch):
    """What a kind declares is all the feature code follows: a test-only kind that supplies vectors per news id
    (as file: does) gets its features, key and dry-run check without naming it anywhere."""
    class Ones(encoders.Kind):
        name = "ones"
        per_news = True

        def parse(self, arg):
            return arg if arg and arg.isdigit() else None

        def identity(self, arg, found):
            return {"encoder": f"ones:{arg}", "identity": "ones", "weights_sha256": None, "inputs": found}

        def vectors(self, arg, news_ids):
            return np.ones((len(news_ids), int(arg)), dtype=np.float32)

        def width(self, arg):
            return int(arg)

    monkeypatch.setitem(encoders._KINDS, "ones", Ones())
    matrix, meta = text.text_features_with_meta(tiny, "ones:3", cache_dir=tmp_path, progress=False)
    assert matrix.shape == (len(tiny.news), 3) and meta["fields"] is None and meta["encoder"] == "ones:3"
    assert text.text_key(tiny, "ones:3", "title")[0] == text.text_key(tiny, "ones:3", "title+abstract")[0]
    assert params.text_width("ones:5") == 5
    text.check_text_inputs(tiny, "ones:3", cache_dir=tmp_path)
    with pytest.raises(InputError, match="ones: encoders hold vectors per news id"):
        text.encode_texts(["a title"], "ones:3")


# ----------------------------------------------------------------------------------------- keys as they were
@pytest.mark.parametrize("name,fields", list(PINNED_KEYS))
def test_feature_keys_are_those_of_before_the_registry(tiny, tmp_path, letters, name, fields):
    _vec_file(tmp_path, [str(n) for n in tiny.news.ids])
    key, ident = text.text_key(tiny, _spec(name, tmp_path), fields, cache_dir=tmp_path / "c")
    assert key == PINNED_KEYS[name, fields]
    # and the features under the key are the kind's own
    matrix = text.text_features(tiny, _spec(name, tmp_path), fields, cache_dir=tmp_path / "c", progress=False)
    assert matrix.shape[1] == params.text_width(_spec(name, tmp_path)) == {"hash": 384, "hash:64": 64, "file": 3,
                                                                            "plugmod_enc:Letters": 8}[name]


@pytest.mark.parametrize("spec", list(PINNED_RUN_IDS))
def test_run_ids_are_those_of_before_the_registry(letters, spec):
    assert RunConfig(modalities=("id", "llm"), text_encoder=spec).run_id("fp") == PINNED_RUN_IDS[spec]
