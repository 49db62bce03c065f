"""The public API: the names `import vrt` offers (pinned), what each package exports, and
docs/api.md's examples, run as written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

import vrt

from .conftest import REPO_ROOT

API = [
    "CodeSet",
    "Config",
    "EncoderIdentity",
    "Evaluation",
    "Index",
    "Item",
    "ItemList",
    "TrainedModel",
    "VrtError",
    "__version__",
    "check_comparable",
    "create_model",
    "encode",
    "evaluate",
    "list_backbones",
    "list_datasets",
    "list_decoders",
    "list_encoders",
    "list_heads",
    "list_items",
    "list_losses",
    "list_miners",
    "list_motion_streams",
    "list_optimizers",
    "list_reducers",
    "list_samplers",
    "list_schedulers",
    "list_temporal_modules",
    "load",
    "load_codes",
    "load_config",
    "save_codes",
]
# What the packages export: what users call, not the helpers behind it.
PACKAGE_EXPORTS = {
    "vrt.codes": [
        "UNLABELLED", "ClassNamesError", "CodeSet", "CodesFileError", "CodesWarning", "EncoderIdentity",
        "IncomparableCodesError", "check_bits", "check_comparable", "codeset_arrays", "is_codes_file",
        "load_codes", "merge_class_names", "pack_bits", "save_codes", "source_groups", "unpack_bits",
    ],
    "vrt.inference": ["TrainedModel"],
    "vrt.metrics": [
        "METRIC_DEFINITIONS", "METRIC_DEFINITIONS_VERSION", "ClassScore", "CodeStats", "PRCurve",
        "QueryScores", "RetrievalReport", "UnlabelledQueryError", "code_stats", "code_warnings",
        "evaluate_retrieval", "hamming_distances", "score_queries", "tie_aware_average_precision",
    ],
    "vrt.index": [
        "INDEX_KINDS", "HammingIndex", "IndexEditError", "IndexFileError", "IndexParameterError",
        "QueryMismatchError", "UnknownIdError", "add_codes", "describe_items", "describe_size", "exact_topk", "load_index", "merge_indexes",
        "read_id_list", "read_manifest", "remove_ids",
    ],
    "vrt.datasets": ["ClipSpec", "ClipView", "Item", "ItemDataset", "ItemList", "VideoDataset", "VideoFileDataset", "list_items"],
}  # fmt: skip


def test_the_public_names_are_pinned_and_each_resolves():
    assert vrt.__all__ == API
    for name in API:
        assert getattr(vrt, name) is not None, name
    assert sorted(name for name in API if name.startswith("list_") and name != "list_items") == sorted(
        f"list_{kind}" for kind in __import__("vrt.registry", fromlist=["REGISTRIES"]).REGISTRIES
    )
    with pytest.raises(AttributeError, match="no attribute 'create_modle'"):
        vrt.create_modle  # noqa: B018


@pytest.mark.parametrize("package", sorted(PACKAGE_EXPORTS))
def test_packages_export_what_users_call(package):
    module = __import__(package, fromlist=["__all__"])
    assert sorted(module.__all__) == sorted(PACKAGE_EXPORTS[package])
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_importing_vrt_is_cheap():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, vrt; vrt.list_losses; assert 'torch' not in sys.modules"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr


def api_examples() -> list[str]:
    text = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_api_docs_examples_run_as_written(footage, encoder_checkpoint, tmp_path, monkeypatch, capsys):
    """Every ```python block of docs/api.md, in order, in one namespace, where the docs' paths exist:
    runs/demo/best.pt (a checkpoint of `vrt train`) and my_videos/ (a folder of videos)."""
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    shutil.copy(encoder_checkpoint, tmp_path / "runs" / "demo" / "best.pt")
    shutil.copytree(footage, tmp_path / "my_videos")
    monkeypatch.chdir(tmp_path)
    blocks = api_examples()
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102 - the docs' own examples
    printed = capsys.readouterr().out
    assert "['r3d_18']" in printed and "unknown backbone 'tiny3dd'. Did you mean 'tiny3d'?" in printed
    assert "tiny3d + linear, 32 bits, checkpoint" in printed
    assert (tmp_path / "eval" / "results.json").is_file() and (tmp_path / "mine.index.npz").is_file()
