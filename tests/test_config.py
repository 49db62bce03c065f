"""YAML -> typed Config: validation errors name the file, the key path and the expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vrt.config import ConfigError, config_to_dict, config_to_yaml, load_config

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "configs" / "demo_synthetic.yaml"


def write(path: Path, data: dict | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def minimal(**sections) -> dict:
    config = {
        "model": {"backbone": {"name": "tiny3d"}, "head": {"name": "linear", "bits": 16}},
        "data": {"dataset": {"name": "synthetic"}, "num_frames": 4, "frame_size": 32},
        "train": {"epochs": 1},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    return config


def test_demo_config_loads_with_expected_key_paths():
    config = load_config(DEMO)
    assert config.model.backbone.name == "tiny3d"
    assert config.model.head.params["bits"] == 32
    assert config.train.epochs >= 1
    assert isinstance(config.train.seed, int)
    assert config.train.device == "cpu"


def test_resolved_yaml_round_trips(tmp_path):
    config = load_config(DEMO, ["model.head.bits=64", "train.seed=3"])
    again = load_config(write(tmp_path / "resolved.yaml", config_to_yaml(config)))
    assert config_to_dict(again) == config_to_dict(config)
    assert again.model.head.params["bits"] == 64 and again.train.seed == 3


def test_unknown_backbone_suggests_the_registered_name(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(model={"backbone": {"name": "r3d18"}}))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "model.backbone.name" in message
    assert "r3d_18" in message and "tiny3d" in message


def test_unknown_top_level_key_is_located(tmp_path):
    path = write(tmp_path / "c.yaml", {**minimal(), "trian": {"epochs": 3}})
    with pytest.raises(ConfigError, match=r"trian: unknown key \(did you mean 'train'\?\)"):
        load_config(path)


def test_unknown_nested_key_names_the_key_path(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(train={"optimizer": {"name": "sgd", "learning_rate": 0.1}}))
    with pytest.raises(
        ConfigError, match=r"train\.optimizer\.learning_rate: unknown parameter; expected one of: lr"
    ):
        load_config(path)


def test_wrong_type_says_what_was_expected(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(train={"epochs": "ten"}))
    with pytest.raises(ConfigError, match=r"train\.epochs: expected int, got 'ten' \(str\)"):
        load_config(path)


def test_bool_is_not_an_int(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(train={"seed": True}))
    with pytest.raises(ConfigError, match=r"train\.seed: expected int"):
        load_config(path)


def test_literal_choices_are_listed(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(train={"optimizer": {"name": "lamb"}}))
    with pytest.raises(
        ConfigError,
        match=r"train\.optimizer\.name: unknown optimizer 'lamb'\. Available optimizers: adam, adamw, sgd",
    ):
        load_config(path)


def test_component_parameters_are_checked_against_the_builder(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(model={"head": {"name": "linear", "bitz": 16}}))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert "model.head.bitz: unknown parameter (did you mean 'bits'?)" in str(excinfo.value)


def test_component_parameter_types_are_checked(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(model={"head": {"name": "linear", "bits": "many"}}))
    with pytest.raises(ConfigError, match=r"model\.head\.bits: expected int"):
        load_config(path)


def test_injected_parameters_cannot_be_set(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(model={"head": {"name": "linear", "bits": 16, "in_dim": 3}}))
    with pytest.raises(ConfigError, match=r"model\.head\.in_dim: 'in_dim' is set by vrt"):
        load_config(path)


def test_range_checks(tmp_path):
    path = write(tmp_path / "c.yaml", minimal(data={"val_fraction": 1.5}))
    with pytest.raises(ConfigError, match=r"data\.val_fraction: must be in \[0, 1\)"):
        load_config(path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path / "bad.yaml", "model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML") as excinfo:
        load_config(path)
    assert str(path) in str(excinfo.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_base_is_deep_merged(tmp_path):
    write(tmp_path / "base.yaml", minimal(train={"epochs": 5, "seed": 7}))
    child = write(tmp_path / "child.yaml", {"_base_": "base.yaml", "train": {"epochs": 2}})
    config = load_config(child)
    assert config.train.epochs == 2 and config.train.seed == 7
    assert config.model.backbone.name == "tiny3d"


def test_base_component_with_new_name_replaces_the_section(tmp_path):
    write(tmp_path / "base.yaml", minimal(model={"backbone": {"name": "tiny3d", "width": 8}}))
    child = write(tmp_path / "child.yaml", {"_base_": "base.yaml", "model": {"backbone": {"name": "r3d_18"}}})
    config = load_config(child)
    assert config.model.backbone.name == "r3d_18"
    assert "width" not in config.model.backbone.params  # tiny3d's option did not leak into r3d_18


def test_base_chains_are_refused(tmp_path):
    write(tmp_path / "root.yaml", minimal())
    write(tmp_path / "middle.yaml", {"_base_": "root.yaml"})
    leaf = write(tmp_path / "leaf.yaml", {"_base_": "middle.yaml"})
    with pytest.raises(ConfigError, match="only one level"):
        load_config(leaf)


def test_overrides_parse_yaml_values(tmp_path):
    path = write(tmp_path / "c.yaml", minimal())
    config = load_config(path, ["train.optimizer.lr=0.5", "train.grad_clip=2", "model.backbone.width=8"])
    assert (
        config.train.optimizer.name == "sgd" and config.train.optimizer.params["lr"] == 0.5
    )  # the default optimiser
    assert config.train.grad_clip == 2.0
    assert config.model.backbone.params["width"] == 8


@pytest.mark.parametrize("override", ["train.epochs", "=3", "train..epochs=3"])
def test_malformed_overrides(tmp_path, override):
    path = write(tmp_path / "c.yaml", minimal())
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(path, [override])


def test_override_into_a_value_fails(tmp_path):
    path = write(tmp_path / "c.yaml", minimal())
    with pytest.raises(ConfigError, match="train.epochs is a value, not a section"):
        load_config(path, ["train.epochs.x=3"])


def test_weighted_loss_terms_parse_validate_and_round_trip(tmp_path):
    terms = [
        {"name": "triplet_ranking", "margin": 4.0},
        {"name": "triplet-ranking", "weight": 0.5, "margin": 2.0},
    ]
    path = write(tmp_path / "c.yaml", {**minimal(), "loss": {"terms": terms}})
    config = load_config(path)
    assert [(t.name, t.weight, t.params["margin"]) for t in config.loss.terms] == [
        ("triplet_ranking", 1.0, 4.0),
        ("triplet_ranking", 0.5, 2.0),
    ]
    again = load_config(write(tmp_path / "resolved.yaml", config_to_yaml(config)))
    assert config_to_dict(again) == config_to_dict(config)


def test_single_loss_stays_flat_in_the_resolved_config():
    assert config_to_dict(load_config(DEMO, ["loss.name=triplet_ranking", "loss.margin=8"]))["loss"] == {
        "name": "triplet_ranking",
        "margin": 8.0,
        "reduction": "mean",  # the builder's defaults are written out
        "miner": "all",
    }


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (
            {"terms": [{"name": "triplet_ranking"}, {"name": "tripletranking"}]},
            r"loss\.terms\[1\]\.name: unknown loss",
        ),
        ({"terms": [{"name": "triplet_ranking", "weight": -1}]}, r"loss\.terms\[0\]\.weight: must be > 0"),
        ({"terms": []}, r"loss\.terms: expected a non-empty list"),
        (
            {"name": "triplet_ranking", "margn": 3},
            r"loss\.margn: unknown parameter \(did you mean 'margin'\?\)",
        ),
        ({"terms": [{"name": "triplet_ranking"}], "margin": 3}, r"loss\.margin: unknown key beside 'terms'"),
    ],
)
def test_loss_errors_name_the_term(tmp_path, loss, message):
    path = write(tmp_path / "c.yaml", {**minimal(), "loss": loss})
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (
            {"name": "triplet_ranking", "miner": "semihrd"},
            r"c\.yaml: loss\.miner\.name: unknown miner 'semihrd'\. Did you mean 'semihard'\?",
        ),
        (
            {"name": "triplet_ranking", "miner": {"name": "semihard", "margn": 3}},
            r"loss\.miner\.margn: unknown parameter \(did you mean 'margin'\?\); expected one of: margin: float$",
        ),
        (
            {"name": "triplet_ranking", "miner": {"name": "semihard", "margin": "wide"}},
            r"loss\.miner\.margin: expected float, got 'wide' \(str\)$",
        ),
        (
            {"name": "triplet_ranking", "miner": {"name": "triplet_margin", "type_of_triplets": "medium"}},
            r"loss\.miner\.type_of_triplets: expected one of 'all', 'hard', 'semihard', 'easy'",
        ),
        (
            {"name": "triplet_ranking", "miner": {"name": "semihard", "margin": 0}},
            r"loss\.miner\.margin: must be a finite number > 0 \(a distance between codes\), got 0",
        ),
        (
            {"name": "triplet_ranking", "miner": {"margin": 3}},
            r"loss\.miner\.name: expected a component name",
        ),
        ({"name": "triplet_ranking", "miner": 3}, r"loss\.miner: expected a component name or a mapping"),
        ({"name": "dpsh", "miner": "semihard"}, r"loss\.miner: missing required parameter\(s\): margin$"),
        (
            {"name": "triplet_ranking", "reduction": "avg"},
            r"loss\.reduction\.name: unknown reducer 'avg'\. .*Available reducers: mean, mean_active, sum",
        ),
        (
            {"terms": [{"name": "quantization"}, {"name": "contrastive", "miner": {"name": "all", "k": 1}}]},
            r"loss\.terms\[1\]\.miner\.k: unknown parameter; this component takes no parameters",
        ),
        (
            {"name": "triplet_ranking", "maner": "all"},
            r"loss\.maner: unknown parameter \(did you mean 'miner'\?\); expected one of: margin: float, "
            r"reduction: a reducer \(name or section\), miner: a miner \(name or section\)",
        ),
    ],
)
def test_a_bad_nested_miner_or_reducer_section_is_one_located_line(tmp_path, loss, message):
    path = write(tmp_path / "c.yaml", {**minimal(), "loss": loss})
    with pytest.raises(ConfigError, match=message) as excinfo:
        load_config(path)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("miner", "resolved"),
    [
        ("batch_hard", "batch_hard"),  # as existing configs write it, and as they are stored
        ("Batch-Hard", "batch_hard"),  # names compare as everywhere: case, - for _
        ({"name": "semihard"}, "semihard"),
        ({"name": "semihard", "margin": 10}, {"name": "semihard", "margin": 10.0}),
        ({"name": "triplet_margin"}, {"name": "triplet_margin", "type_of_triplets": "all"}),
        (None, None),
    ],
)
def test_nested_sections_resolve_to_the_name_or_their_checked_parameters(tmp_path, miner, resolved):
    loss = {"name": "triplet_ranking", "margin": 6, "miner": miner, "reduction": {"name": "mean_active"}}
    config = load_config(write(tmp_path / "c.yaml", {**minimal(), "loss": loss}))
    assert config_to_dict(config)["loss"] == {
        "name": "triplet_ranking",
        "margin": 6.0,
        "reduction": "mean_active",
        "miner": resolved,
    }
    again = load_config(write(tmp_path / "resolved.yaml", config_to_yaml(config)))
    assert config_to_dict(again) == config_to_dict(config)


def test_a_miner_follows_the_loss_margin_unless_its_section_sets_one(tmp_path):
    from vrt.losses.combined import build_loss

    loss = {"name": "triplet_ranking", "margin": 6, "miner": "semihard"}
    path = write(tmp_path / "c.yaml", {**minimal(), "loss": loss})
    # The inherited margin is not written out, so an override of the loss's margin reaches the miner.
    for overrides, margins in (([], (6.0, 6.0)), (["loss.margin=9"], (9.0, 9.0))):
        (term,) = build_loss(load_config(path, overrides).loss, bits=16, num_classes=4).terms
        assert (term.margin, term.miner.margin) == margins
    explicit = load_config(path, ["loss.miner={name: semihard, margin: 2}"])
    (term,) = build_loss(explicit.loss, bits=16, num_classes=4).terms
    assert (term.margin, term.miner.margin) == (6.0, 2.0)


def test_pair_losses_resolve_without_a_miner_and_with_the_mean(tmp_path):
    config = load_config(write(tmp_path / "c.yaml", {**minimal(), "loss": {"name": "contrastive"}}))
    assert config_to_dict(config)["loss"] == {
        "name": "contrastive",
        "margin": None,
        "miner": None,
        "reduction": "mean",
    }


def test_base_single_loss_can_become_a_weighted_list(tmp_path):
    write(tmp_path / "base.yaml", {**minimal(), "loss": {"name": "triplet_ranking", "margin": 4.0}})
    terms = [{"name": "triplet_ranking", "margin": 2.0}, {"name": "triplet_ranking", "weight": 0.1}]
    child = write(tmp_path / "child.yaml", {"_base_": "base.yaml", "loss": {"terms": terms}})
    config = load_config(child)
    # The base's margin 4.0 is not merged into the list; the second term gets the builder's default.
    assert [(t.weight, t.params.get("margin")) for t in config.loss.terms] == [(1.0, 2.0), (0.1, 14.0)]


@pytest.mark.parametrize(
    ("data", "train", "message"),
    [
        ({"augment": {"flip": "no"}}, {}, r"data\.augment\.flip: expected bool"),
        ({"augment": {"scale": [1.0]}}, {}, r"data\.augment\.scale: unknown key \(did you mean 'scales'\?\)"),
        ({"augment": {"scales": [1.0, 1.2]}}, {}, r"data\.augment\.scales: must be a non-empty list"),
        ({"augment": {"scales": []}}, {}, r"data\.augment\.scales: must be a non-empty list"),
        (
            {"frame_size": 64, "augment": {"resize_short": 32}},
            {},
            r"data\.augment\.resize_short: must be at least",
        ),
        ({"augment": {"temporal_jitter": 1.0}}, {}, r"data\.augment\.temporal_jitter: must lie in \[0, 1\)"),
        ({"augment": {"color": {"hue": 0.7}}}, {}, r"data\.augment\.color\.hue: must lie in \[0, 0\.5\]"),
        (
            {"augment": {"color": {"brightness": -0.1}}},
            {},
            r"data\.augment\.color\.brightness: must be a finite",
        ),
        ({}, {"epochs": 3, "warmup_epochs": 3}, r"train\.warmup_epochs: must lie in \[0, train\.epochs\)"),
        (
            {},
            {"epochs": 5, "warmup_epochs": 2, "scheduler": {"name": "plateau"}},
            r"train\.warmup_epochs: a warmup",
        ),
    ],
)
def test_augment_and_warmup_values_are_checked(tmp_path, data, train, message):
    path = write(tmp_path / "c.yaml", minimal(data=data, train=train))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_augment_resize_short_is_resolved_and_written_out(tmp_path):
    config = load_config(write(tmp_path / "c.yaml", minimal(data={"frame_size": 112})))
    assert config.data.augment.resize_short == 128  # C3D's 128 for 112-pixel clips
    assert "resize_short: 128" in config_to_yaml(config)
    stored = load_config(write(tmp_path / "d.yaml", config_to_yaml(config)), ["data.augment.flip=false"])
    assert stored.data.augment.resize_short == 128 and stored.data.augment.flip is False
