"""What a grid runs: modality subsets x fusions x seeds over one base config, parsed from the user's words."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

from newsbench.config import FUSIONS, MODALITIES, NO_FUSION, REAL_MODALITIES, RunConfig, canonical_fusion
from newsbench.errors import InputError

# The seed paper's ablation table: (subset, fusion), with the placebo control id+rand beside id+gnn (the same shape:
# what gnn adds over rand is what its graph carries). Seeds 0, 1, 2.
DEFAULT_TABLE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("id",), NO_FUSION),
    (("id", "llm"), "concat"),
    (("id", "gnn"), "concat"),
    (("id", "rand"), "concat"),
    (("id", "llm", "gnn"), "concat"),
    (("id", "llm", "gnn"), "gate"),
    (("id", "llm", "gnn"), "attention"),
)
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_SUBSETS = tuple(dict.fromkeys(s for s, _ in DEFAULT_TABLE))   # used when only --fusions is given
DEFAULT_FUSIONS = ("concat", "gate", "attention")                    # used when only --subsets is given


# The one spelling of a grid, the labels': subsets separated by ',', modalities of one subset joined by '+'.
SUBSET_SEP, MODALITY_JOIN = ",", "+"
SUBSETS_RULE = ("subsets are separated by ',' and the modalities of one subset joined by '+', as in the labels "
                "(e.g. id,id+llm,id+llm+gnn)")


def all_subsets() -> list[tuple[str, ...]]:
    """The 7 non-empty subsets of REAL_MODALITIES (id, llm, gnn): singletons first, then pairs, then all three,
    canonical order. The placebo `rand` is a control, asked for by name."""
    from itertools import combinations

    return [c for k in range(1, len(REAL_MODALITIES) + 1) for c in combinations(REAL_MODALITIES, k)]


def subset_label(subset: Sequence[str]) -> str:
    return MODALITY_JOIN.join(subset)


def subsets_text(subsets: Iterable[Sequence[str]]) -> str:
    """The --subsets value that selects `subsets`: 'id,id+llm'."""
    return SUBSET_SEP.join(subset_label(s) for s in subsets)


def _subset(text: str, join: str, option: str) -> tuple[str, ...]:
    """One subset whose modalities are joined by `join`, in canonical order; InputError naming `option` if bad."""
    mods = [m.strip().lower() for m in text.split(join)]
    if any(not m for m in mods):
        raise InputError(f"{option}: empty modality in {text.strip()!r}; {SUBSETS_RULE}")
    bad = [m for m in mods if m not in MODALITIES]
    if bad:
        raise InputError(f"{option}: unknown modality {bad[0]!r}; choose from {', '.join(MODALITIES)}")
    if len(set(mods)) != len(mods):
        raise InputError(f"{option}: modality repeated in {text.strip()!r}; {SUBSETS_RULE}")
    return tuple(m for m in MODALITIES if m in mods)


def parse_modalities(text: str, option: str = "--modalities") -> tuple[str, ...]:
    """One modality subset as a label writes it, 'llm+id' -> ('id', 'llm') in canonical order. The former spelling
    'id,llm' is refused with the new one (',' now separates subsets). Errors name `option` (the user's words)."""
    text = (text or "").strip()
    if SUBSET_SEP in text:
        try:
            hint = f": {option} {subset_label(_subset(text, SUBSET_SEP, option))}"
        except InputError:
            hint = ""
        raise InputError(f"{option} {text!r}: join modalities with '+', as in the labels{hint}")
    return _subset(text, MODALITY_JOIN, f"{option} {text!r}" if text else option)


def _parse_list(text: str, sep: str, join: str) -> list[tuple[str, ...]]:
    """Subsets separated by `sep`, modalities joined by `join`; duplicates dropped, order kept."""
    out: list[tuple[str, ...]] = []
    for part in text.split(sep):
        if not part.strip():
            raise InputError(f"--subsets {text!r}: empty subset; {SUBSETS_RULE}")
        subset = _subset(part, join, f"--subsets {text!r}")
        if subset not in out:
            out.append(subset)
    return out


def old_reading(text: str) -> list[tuple[str, ...]] | None:
    """What `text` meant in the former --subsets syntax ('+' between subsets, ',' within one), or None if it was
    not valid there. Only used to refuse or flag values whose meaning changed."""
    try:
        return _parse_list(text, MODALITY_JOIN, SUBSET_SEP)
    except InputError:
        return None


def parse_subsets(text: str) -> list[tuple[str, ...]]:
    """'all' or the labels' spelling: 'id,id+llm,llm+gnn' -> [(id,), (id, llm), (llm, gnn)].

    The former syntax swapped the separators ('id+id,llm' was `id` and `id+llm`). A value that is valid only in the
    former syntax is refused with its new spelling; a value valid in both reads the new way (see
    `changed_meaning` for the warning the CLI gives when the old reading had a subset of several modalities)."""
    text = (text or "").strip()
    if text.lower() == "all":
        return all_subsets()
    if not text:
        raise InputError(f"--subsets is empty; give 'all' or a list: {SUBSETS_RULE}")
    try:
        return _parse_list(text, SUBSET_SEP, MODALITY_JOIN)
    except InputError:
        old = old_reading(text)
        if old is None:
            raise
        raise InputError(f"--subsets {text!r} is the former syntax ('+' between subsets); {SUBSETS_RULE}: "
                         f"--subsets {subsets_text(old)}") from None


def changed_meaning(text: str) -> list[tuple[str, ...]] | None:
    """The former reading of a --subsets value valid in both syntaxes, when someone may well have meant it: that
    reading fused modalities (a subset of several), it differs from the new one, and the value does not look copied
    from labels (it has no '+', like 'id,llm', or a '+'-joined subset out of the labels' order, like 'llm+id').
    Else None."""
    text = (text or "").strip()
    if text.lower() == "all" or SUBSET_SEP not in text:
        return None
    old = old_reading(text)
    if old is None or all(len(s) == 1 for s in old):
        return None
    try:
        new = _parse_list(text, SUBSET_SEP, MODALITY_JOIN)
    except InputError:
        return None
    if sorted(old) == sorted(new):
        return None
    written = [[m.strip().lower() for m in part.split(MODALITY_JOIN)] for part in text.split(SUBSET_SEP)]
    as_labels = MODALITY_JOIN in text and all(w == [m for m in MODALITIES if m in w] for w in written)
    return None if as_labels else old


def parse_fusions(text: str) -> list[str]:
    """'concat,gate,attention' -> ['concat', 'gate', 'attention'] (deduplicated, order kept). A name that is no
    built-in is a plug-in (newsbench.model.registry): imported and checked to be a Module class here."""
    names = [canonical_fusion(f) for f in (text or "").split(",")]
    if not names or any(not f for f in names):
        raise InputError(f"--fusions {text!r}: empty name; choose from {', '.join(FUSIONS)}")
    plugins = [f for f in names if f not in FUSIONS]
    if plugins:
        from newsbench.model import registry

        for name in plugins:
            if not registry.known_name(name):
                raise InputError(f"--fusions {text!r}: unknown fusion {name!r}; choose from "
                                 f"{registry.choices_text()}")
            registry.resolve(name, "--fusions")
    return list(dict.fromkeys(names))


def parse_seeds(text: str | None = None, n_seeds: int | None = None) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; or n_seeds=N -> [0..N-1]. Exactly one may be given; neither -> DEFAULT_SEEDS."""
    if text is not None and n_seeds is not None:
        raise InputError("give --seeds or --n-seeds, not both")
    if n_seeds is not None:
        if n_seeds < 1:
            raise InputError(f"--n-seeds must be >= 1, got {n_seeds}")
        return list(range(n_seeds))
    if text is None:
        return list(DEFAULT_SEEDS)
    seeds = []
    for part in text.split(","):
        part = part.strip()
        try:
            seed = int(part)
        except ValueError:
            raise InputError(f"--seeds {text!r}: {part!r} is not an integer") from None
        if seed < 0:
            raise InputError(f"--seeds {text!r}: seeds must be >= 0")
        seeds.append(seed)
    return list(dict.fromkeys(seeds))


def expand_grid(subsets: Iterable[Sequence[str]], fusions: Iterable[str], seeds: Iterable[int],
                base: RunConfig) -> list[RunConfig]:
    """Cross product subsets x fusions x seeds on top of `base`, seed-major (all of seed 0 first, so a partial grid
    already holds one complete table). A single-modality subset runs once per seed, with no fusion. No duplicates."""
    fusions = list(fusions)
    out: dict[RunConfig, None] = {}
    for seed in seeds:
        for subset in subsets:
            for fusion in (fusions if len(subset) > 1 else [NO_FUSION]):
                out[dataclasses.replace(base, modalities=tuple(subset), fusion=fusion, seed=int(seed))] = None
    return list(out)


def default_grid(base: RunConfig, seeds: Iterable[int] = DEFAULT_SEEDS) -> list[RunConfig]:
    """The seed paper's table (DEFAULT_TABLE) for each seed, seed-major."""
    return [dataclasses.replace(base, modalities=s, fusion=f, seed=int(seed))
            for seed in seeds for s, f in DEFAULT_TABLE]


def needed_modalities(configs: Iterable[RunConfig]) -> tuple[str, ...]:
    mods = {m for c in configs for m in c.modalities}
    return tuple(m for m in MODALITIES if m in mods)
