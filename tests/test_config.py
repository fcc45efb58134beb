import dataclasses

import pytest

from newsbench.config import NO_FUSION, RunConfig


def test_modalities_are_canonicalised_and_single_modality_has_no_fusion():
    cfg = RunConfig(modalities=("gnn", "id"), fusion="gate")
    assert cfg.modalities == ("id", "gnn")
    assert cfg.label == "id+gnn/gate"
    single = RunConfig(modalities=("llm",), fusion="attention")
    assert single.fusion == NO_FUSION and single.label == "llm"


def test_run_id_depends_on_config_and_dataset_but_group_ignores_seed():
    a, b = RunConfig(seed=0), RunConfig(seed=1)
    assert a.run_id("fp") != b.run_id("fp")
    assert a.run_id("fp") != a.run_id("other")
    assert a.group_key == b.group_key
    assert RunConfig.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("bad", [dict(modalities=()), dict(modalities=("text",)), dict(fusion="sum")])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        RunConfig(**bad)


def test_atomic_writes_leave_ordinary_permissions(tmp_path):
    import os

    from newsbench import atomic

    target = tmp_path / "x.json"
    atomic.write_json(target, {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert not list(tmp_path.glob(atomic.TMP_PREFIX + "*"))


def test_id_dropout_is_part_of_the_run_identity_and_must_be_a_share():
    assert RunConfig(id_dropout=0.1).run_id("fp") != RunConfig(id_dropout=0.2).run_id("fp")
    assert RunConfig(id_dropout=0.1).group_key != RunConfig(id_dropout=0.2).group_key
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError):
            RunConfig(id_dropout=bad)


def test_frozen_modality_controls_are_part_of_the_run_identity_when_they_can_act():
    base = RunConfig(modalities=("id", "rand"), fusion="concat")
    for change in (dict(frozen_init="zero"), dict(frozen_lr=0.1), dict(news_dropout=0.2), dict(warmup=0.1),
                   dict(lr_decay="linear")):
        assert dataclasses.replace(base, **change).run_id("fp") != base.run_id("fp"), change
    # an `id` run has no frozen projection: frozen_init and frozen_lr leave it the same run; news_dropout does not
    idr = RunConfig(modalities=("id",))
    assert dataclasses.replace(idr, frozen_init="zero", frozen_lr=0.1).run_id("fp") == idr.run_id("fp")
    assert dataclasses.replace(idr, news_dropout=0.2).run_id("fp") != idr.run_id("fp")
    assert RunConfig(frozen_init="ZERO").frozen_init == "zero"
    for bad in (dict(frozen_init="xavier"), dict(frozen_lr=0.0), dict(news_dropout=1.0), dict(warmup=1.0),
                dict(lr_decay="step")):
        with pytest.raises(ValueError):
            RunConfig(**bad)


def test_training_controls_at_their_neutral_values_keep_the_run_ids_of_older_records():
    # a record made before these fields existed has no such keys: its run id must not change
    from newsbench.options import NEUTRAL, identity_fields

    cfg = RunConfig(modalities=("id", "llm", "rand"), fusion="gate")
    old = {k: v for k, v in cfg.to_dict().items() if k not in NEUTRAL}
    assert identity_fields(cfg.to_dict()) == identity_fields(old)
    assert set(NEUTRAL) <= set(cfg.to_dict()) and all(getattr(cfg, k) == v for k, v in NEUTRAL.items())
