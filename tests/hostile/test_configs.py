"""Hostile configs: bad values, broken YAML, empty files, absurd sizes, settings that cannot train.

Each fails when the config is loaded or before the run folder exists, with one line naming the
file and the key; test_config.py tests the validation behind them.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.hostile.helpers import assert_one_line_error, snapshot, tiny_config, unchanged, vrt, write_yaml

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.head.bits=12", "model.head.bits: must be a positive multiple of 8"),
        ("model.head.bits=0", "model.head.bits: must be a positive multiple of 8"),
        ("model.head.bits=80000000000", "model.head.bits: must be at most 4096, vrt's longest code"),
        ("model.head.bits=4104", "model.head.bits: must be at most 4096"),
        ("loss.margin=0", "loss.margin: must be a finite number > 0"),
        ("loss.margin=-2", "loss.margin: must be a finite number > 0"),
        ("loss.margin=.nan", "loss.margin: must be a finite number > 0"),
        ("train.optimizer.lr=.inf", "train.optimizer.lr: must be a finite number > 0"),
        ("loss.weight=.inf", "loss.weight: must be > 0 and finite"),
    ],
)
def test_invalid_values_fail_at_config_time_naming_file_and_key(tree, tmp_path, override, expected):
    result = vrt("train", tree.clean, "--output", tmp_path / "run", "--set", override)
    assert_one_line_error(result, f"{tree.clean}: {expected}")
    assert not (tmp_path / "run").exists()


def test_margin_of_a_weighted_loss_term_is_located(tree, tmp_path):
    config = yaml.safe_load(tree.clean.read_text(encoding="utf-8"))
    config["loss"] = {
        "terms": [{"name": "quantization", "weight": 0.1}, {"name": "contrastive", "margin": -1}]
    }
    path = write_yaml(tmp_path / "terms.yaml", config)
    with unchanged(tmp_path):
        assert_one_line_error(
            vrt("config", "show", path), f"{path}: loss.terms[1].margin: must be a finite number > 0"
        )


def test_exponent_without_a_dot_is_a_float_where_a_float_is_expected(tree, tmp_path):
    # YAML 1.1 reads `1e-4` as text; a learning rate written that way must not be an error.
    text = tree.clean.read_text(encoding="utf-8").replace("lr: 0.003", "lr: 1e-4")
    assert "lr: 1e-4" in text
    path = tmp_path / "exponent.yaml"
    path.write_text(text, encoding="utf-8")
    result = vrt("config", "show", path, "--set", "train.optimizer.weight_decay=5E-4")
    assert result.code == 0, result.stderr
    optimizer = yaml.safe_load(result.stdout)["train"]["optimizer"]
    assert (optimizer["lr"], optimizer["weight_decay"]) == (1e-4, 5e-4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model: {backbone: {name: tiny3d}\n  head: [\n",
            "invalid YAML at line 2, column 3: expected ',' or '}'",
        ),
        ("train:\n\tepochs: 1\n", "invalid YAML at line 2, column 1: found character '\\t'"),
        ("- just\n- a list\n", "expected a mapping at the top level, got list"),
        ("", "the config file is empty"),
        ("# a comment, nothing else\n\n", "the config file is empty"),
        ("\n   \n", "the config file is empty"),
    ],
    ids=["unclosed", "tab", "not-a-mapping", "empty", "only-comments", "blank"],
)
def test_invalid_or_empty_yaml_is_one_line_with_file_and_position(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_one_line_error(vrt("train", path, "--output", tmp_path / "run"), f"{path}: {expected}")
    assert not (tmp_path / "run").exists()


def test_an_empty_base_file_is_named(tmp_path):
    (tmp_path / "base.yaml").write_text("")
    child = tmp_path / "child.yaml"
    child.write_text("_base_: base.yaml\ntrain: {epochs: 1}\n")
    with unchanged(tmp_path):
        assert_one_line_error(
            vrt("config", "show", child), f"{tmp_path / 'base.yaml'}: the config file is empty"
        )


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with unchanged(tmp_path):
        assert_one_line_error(vrt("config", "show", path), f"{path}: not UTF-8 text")


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with unchanged(tmp_path):
        line = assert_one_line_error(vrt("config", "show", path), f"{path}: invalid YAML at line 1")
        assert "could not determine a constructor for the tag" in line
        assert not marker.exists()


@pytest.mark.parametrize("key", ["root", "train_list"])
def test_missing_dataset_root_or_list_names_the_key_before_the_run_folder_exists(tree, tmp_path, key):
    absent = tmp_path / "not-there"
    result = vrt("train", tree.clean, "--output", tmp_path / "run", "--set", f"data.dataset.{key}={absent}")
    assert_one_line_error(result, f"data.dataset.{key}: {absent} does not exist")
    assert not (tmp_path / "run").exists()


def test_config_errors_on_resume_leave_the_run_untouched(trained_run):
    before = snapshot(trained_run)
    for override in ("model.head.bits=12", "loss.margin=0", "model.head.bits=32"):
        result = vrt("train", "--output", trained_run, "--resume", "--set", override)
        assert result.code == 2 and "Traceback" not in result.stderr
    assert snapshot(trained_run) == before


# -- settings that cannot train: found before the run folder exists ------------------------------


@pytest.mark.parametrize("command", ["train", "summary"])
def test_more_classes_per_batch_than_classes(tmp_path, command):
    config = tiny_config(tmp_path / "pk.yaml")
    args = (
        ["train", config, "--output", tmp_path / "run"] if command == "train" else ["data", "summary", config]
    )
    line = assert_one_line_error(
        vrt(*args, "--set", "data.batch.classes_per_batch=9"),
        "data.batch.classes_per_batch: 9 classes per batch, but the training videos cover only 4 classes",
    )
    assert "set it to at most 4, or use data.batch.sampler: shuffle" in line
    assert not (tmp_path / "run").exists()
    if command == "summary":  # the advice works
        assert vrt("data", "summary", config, "--set", "data.batch.sampler=shuffle").code == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_fails_before_the_run_folder_exists(tmp_path):
    config = tiny_config(tmp_path / "c.yaml", device="cuda")
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(
        result, "train.device is 'cuda' but CUDA is not available here; use 'auto' or 'cpu'"
    )
    assert not (tmp_path / "run").exists()


def test_a_single_training_video_cannot_rank(tmp_path):
    config = tiny_config(tmp_path / "c.yaml")
    overrides = ["--set", "data.dataset.num_classes=1", "--set", "data.dataset.videos_per_class=1"]
    overrides += ["--set", "data.val_fraction=0.0", "--set", "data.batch.sampler=shuffle"]
    result = vrt("train", config, "--output", tmp_path / "run", *overrides)
    assert_one_line_error(result, "the training split has a single video; ranking needs at least two")
    assert not (tmp_path / "run").exists()


def test_a_missing_pretrained_weights_file_fails_before_the_run_folder_exists(tmp_path):
    config = tiny_config(tmp_path / "c.yaml")
    data = yaml.safe_load(config.read_text())
    data["model"]["backbone"] = {"name": "r3d_18", "pretrained": str(tmp_path / "weights.pt")}
    write_yaml(config, data)
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(
        result, f"pretrained weights '{tmp_path / 'weights.pt'}' for r3d_18 are neither a named weight"
    )
    assert not (tmp_path / "run").exists()
