"""docs/plugins.md as a plugin author reads it: every name it gives exists, every entry-point group
is a registry's, and its two example modules register and work as written."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
import textwrap

from .conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def resolves(dotted: str) -> bool:
    """Whether ``vrt.a.b.C`` is a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_name_the_guide_gives_exists():
    from vrt.datasets.clips import ClipSpec
    from vrt.registry import REGISTRIES

    groups = {f"vrt.{kind}" for kind in REGISTRIES}
    prose = re.sub(r"```.*?```", "", DOC, flags=re.S)  # quoted output and example code aside
    named = set(re.findall(r"`[^`]*?\b(vrt(?:\.\w+)+)", prose))
    missing = [name for name in sorted(named - groups) if not resolves(name)]
    assert not missing, missing
    clip_calls = set(re.findall(r"`clips\.(\w+)", DOC))
    members = {field.name for field in dataclasses.fields(ClipSpec)} | set(dir(ClipSpec))
    assert clip_calls and clip_calls <= members, clip_calls - members
    table_groups = set(re.findall(r"^\| `(vrt\.\w+)` \|", DOC, flags=re.M))
    assert table_groups == groups  # one row per registry, and no group that is not one


def test_the_builder_snippet_is_the_example_plugins():
    loss = (REPO_ROOT / "examples" / "vrt-plugin-example" / "vrt_plugin_example" / "loss.py").read_text()
    snippet = DOC.split("## What a builder looks like", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    signature, docstring, body = snippet.strip().splitlines()  # the docstring shown is its first line
    quotes = '"' * 3
    shown = signature + "\n" + docstring.removesuffix(quotes)
    assert shown in loss and body in loss


def module_examples() -> list[str]:
    """The guide's complete example modules (those that register a component)."""
    return [block for block in re.findall(r"```python\n(.*?)```", DOC, flags=re.S) if ".register(" in block]


def test_the_example_modules_register_and_work(tmp_path):
    loss_module, dataset_module = module_examples()
    (tmp_path / "centre_pull_example.py").write_text(loss_module)
    (tmp_path / "pair_list_example.py").write_text(dataset_module)
    # In a child process: registering them here would add them to every registry-wide test.
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import torch
        import centre_pull_example, pair_list_example
        from vrt.config import config_from_dict
        from vrt.data.pipeline import build_data_splits
        from vrt.io.synthetic_video import write_test_video
        from vrt.losses.combined import build_loss

        config = config_from_dict({{"loss": {{"terms": [{{"name": "triplet_ranking"}}, {{"name": "centre_pull", "weight": 0.1}}]}}}})
        loss = build_loss(config.loss, bits=16, num_classes=2)
        value = loss(torch.randn(6, 16).tanh().requires_grad_(), torch.tensor([0, 0, 0, 1, 1, 1]))
        value.backward()
        assert torch.isfinite(value), value

        root = {str(tmp_path / "videos")!r}
        lines = {{"train": [], "test": []}}
        for label in range(2):
            for number in range(3):
                name = f"c{{label}}_{{number}}.avi"
                write_test_video(f"{{root}}/{{name}}", num_frames=8, seed=10 * label + number)
                lines["train" if number < 2 else "test"].append(f"{{name}} {{label}}")
        for subset, rows in lines.items():
            open(f"{{root}}/{{subset}}.txt", "w").write("\\n".join(rows) + "\\n")
        config = config_from_dict({{"data": {{"dataset": {{"name": "pair_list", "root": root}}, "num_frames": 4, "frame_size": 32, "val_fraction": 0.0}}}})
        splits = build_data_splits(config)
        assert len(splits.train_source) == 4 and len(splits.test_source) == 2, splits
        assert splits.test_source.load_clip(0, training=False).shape == (3, 4, 32, 32)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
