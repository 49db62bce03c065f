"""Crash safety in pieces: checksummed checkpoints, the keep/fallback policy, atomic writes,
signal handling, per-clip augmentation seeds and the config keys that drive them."""

from __future__ import annotations

import io
import json
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vrt.checkpoints.format import _reason, _similar_runs_hint, load_checkpoint, save_checkpoint
from vrt.checkpoints.keeper import CheckpointKeeper
from vrt.codes import CodeSet, load_codes, save_codes
from vrt.config import ConfigError, config_from_dict, config_to_dict
from vrt.datasets.base import ClipView
from vrt.datasets.clips import ClipSpec
from vrt.errors import CheckpointError, NoCheckpointError
from vrt.index import HammingIndex
from vrt.rundir import RunDirectory
from vrt.runtime.fileio import HOST_TAG
from vrt.runtime.signals import REPEAT_GRACE_S, StopRequest
from vrt.training.interrupt import TrainingInterrupted
from vrt.training.metrics_log import MetricsLog

from .conftest import tiny_config_dict


def state(epoch: int, position: int = 0, value: float = 0.0) -> dict:
    return {"model": {"w": torch.full((64, 64), value)}, "epoch": epoch, "position": position, "note": "x"}


# -- checkpoint files ----------------------------------------------------------------------


def test_checkpoint_round_trip_keeps_tensors_and_plain_values(tmp_path):
    original = state(2, 5, 1.5) | {"rng": [3, (1.25, None), torch.arange(4)], "nan": float("nan")}
    save_checkpoint(tmp_path / "c.pt", original)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["model"]["w"], original["model"]["w"])
    assert loaded["rng"][1] == (1.25, None) and loaded["epoch"] == 2 and "sha256" not in loaded


def test_changed_bytes_inside_a_tensor_are_detected(tmp_path):
    # torch.load reads such a file without complaint; the stored checksum does not match.
    path = tmp_path / "c.pt"
    save_checkpoint(path, state(1, value=2.0))
    data = bytearray(path.read_bytes())
    offset = data.find(np.full(64, 2.0, dtype=np.float32).tobytes())
    assert offset > 0
    data[offset + 1] ^= 0x40
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # unnoticed by torch itself
    with pytest.raises(CheckpointError, match="corrupt.*checksum"):
        load_checkpoint(path)


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, state(1))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a vrt checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def _kind_message(path) -> str:
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    return str(refused.value)


def test_every_kind_of_file_given_as_a_checkpoint_is_named(tmp_path):
    """What each first-bytes check of the message says, one file per kind (no training needed)."""

    codes = CodeSet.from_bits(np.eye(8, dtype=bool), labels=np.arange(8), ids=[f"v{i}" for i in range(8)])
    files = {
        "empty": b"",
        "text": b"model:\n  backbone: tiny3d\n",
        "blank": b"   \n\n",
        "random": bytes(range(256)) * 2,
        "hdf5": b"\x89HDF\r\n\x1a\n" + bytes(64),
        "cut zip": b"PK\x03\x04" + bytes(64),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    save_codes(tmp_path / "codes", codes)
    HammingIndex.build(codes).save(tmp_path / "index")
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip", "w") as archive:
        archive.writestr("notes.txt", "hello")
    expected = {
        "empty": "it is an empty file, not a checkpoint",
        "text": "it is a text file (it starts 'model:'; a config is given to `vrt train CONFIG`)",
        "blank": "it is a text file (it starts ''; a config",
        "random": "it is a file of unknown binary content, neither a torch checkpoint nor a file vrt writes",
        "hdf5": "it is an HDF5 file (a feature file? train on it with `data.dataset: features`)",
        "cut zip": "it is a zip archive cut short (truncated by a copy or a full disk?)",
        "codes": "it is a codes file (give it to `vrt eval --query/--database` or `vrt index build --codes`)",
        "index": "it is a vrt index (give it to `vrt search --index`)",
        "zip": "it is a zip archive of other files, not a checkpoint",
    }
    for name, fragment in expected.items():
        message = _kind_message(tmp_path / name)
        assert message.startswith(f"checkpoint {tmp_path / name} cannot be read: ") and fragment in message, (
            name
        )


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


def test_a_pickle_that_is_not_a_checkpoint_says_so_and_a_python_object_is_refused(tmp_path):
    """Objects are refused as objects, whatever the protocol; damage is damage, not objects."""
    import pickle

    cases = {
        "plain.pkl": (
            pickle.dumps({"weights": [1, 2]}, protocol=2),
            "(truncated or corrupt?): Invalid magic number",
        ),
        "object.pkl": (
            pickle.dumps(Path("x"), protocol=2),
            "holds Python objects, not only tensors and plain",
        ),
        "system.pkl": (
            pickle.dumps(_RunsCode(), protocol=2),
            "(Trying to load unsupported GLOBAL posix.system",
        ),
        "newer.pkl": (
            pickle.dumps(_RunsCode(), protocol=4),
            "a pickle of protocol 4 or later, which torch does",
        ),
        "cut.pkl": (b"\x80\x02" + bytes(30), "cannot be read (truncated or corrupt?): Unsupported operand 0"),
    }
    for name, (data, fragment) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert fragment in _kind_message(tmp_path / name), name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([1, 2], [12]),
        ([1, 2], (1, 2)),
        ({"a": 1}, {"a": 1.0}),
        ({"a": True}, {"a": 1}),
        ("ab", ["ab"]),
        (None, "None"),
        ({"a": 1, "b": 2}, {"a": 2, "b": 1}),
        (torch.zeros(2), torch.zeros(1, 2)),
        (torch.zeros(2), torch.zeros(2, dtype=torch.float64)),
        (float("nan"), float("inf")),
    ],
)
def test_the_checksum_covers_structure_types_and_plain_values(first, second):
    """Before, only tensors were known to be covered: a changed plain value must change it too."""
    from vrt.checkpoints.format import content_digest

    assert content_digest({"x": first}) != content_digest({"x": second})
    assert content_digest({"x": first}) == content_digest({"x": first})


def test_torchs_refusals_are_cut_to_their_one_line_cause():
    from vrt.checkpoints.format import _reason

    refusal = RuntimeError(
        "Weights only load failed. This file can still be loaded...\n"
        "WeightsUnpickler error: Unsupported global: GLOBAL pathlib.PosixPath was not an allowed global "
        "by default. Please use `torch.serialization.add_safe_globals`. Check the recommended steps.\n"
        "WeightsUnpickler error: repeated"
    )
    assert (
        _reason(refusal)
        == "Unsupported global: GLOBAL pathlib.PosixPath was not an allowed global by default"
    )
    assert _reason(ValueError("\n  first line  \nsecond line")) == "first line"
    assert _reason(EOFError()) == "EOFError"


def test_the_checksum_of_a_known_state_never_changes():
    """Every checkpoint ever written carries this checksum: a change of how values are fed to it
    (a type tag, a string's encoding) would make every existing checkpoint read as corrupt."""
    from vrt.checkpoints.format import content_digest

    known = {
        "a": [1, (2.5, None)],
        "s": "é\ud800",
        "t": torch.arange(3, dtype=torch.int16),
        "b": True,
        "k": {3: "x"},
    }
    assert content_digest(known) == "e72d974a501383ee69e8db63c4f18068ea3ec726cb6ee4fac801b120cdac7162"
    assert content_digest({"a": 1}) != content_digest({"b": 1})  # keys count, not only values


def test_a_folder_or_a_missing_file_as_a_checkpoint_is_one_sentence(tmp_path):
    (tmp_path / "plain").mkdir()
    assert (
        _kind_message(tmp_path / "plain")
        == f"checkpoint {tmp_path / 'plain'} is a folder, not a checkpoint file"
    )
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "best.pt", state(1))
    assert _kind_message(tmp_path / "run") == (
        f"checkpoint {tmp_path / 'run'} is a folder, not a checkpoint file (a run? its checkpoint is "
        f"{tmp_path / 'run' / 'best.pt'})"
    )
    assert (
        _kind_message(tmp_path / "run" / "last.pt")
        == f"checkpoint {tmp_path / 'run' / 'last.pt'} does not exist"
    )


def test_only_a_dict_with_the_format_and_a_model_is_a_vrt_checkpoint(tmp_path):
    for name, content in {"list": [1, 2], "no-model": {"format": 1}, "no-format": {"model": {}}}.items():
        torch.save(content, tmp_path / name)
        assert _kind_message(tmp_path / name) == f"{tmp_path / name} is not a vrt checkpoint (format 1)"


def test_a_checkpoint_without_a_checksum_loads_and_a_stale_one_is_replaced_on_save(tmp_path):
    torch.save({"format": 1, "model": {"w": torch.ones(2)}}, tmp_path / "old.pt")  # before checksums
    assert load_checkpoint(tmp_path / "old.pt")["model"]["w"].tolist() == [1.0, 1.0]
    save_checkpoint(tmp_path / "again.pt", state(3) | {"sha256": "stale"})
    assert load_checkpoint(tmp_path / "again.pt")["epoch"] == 3


def test_a_file_torch_cannot_read_says_why_in_one_line(tmp_path):
    (tmp_path / "damaged.pt").write_bytes(b"\x80\x02" + bytes(30))  # a pickle's start, then nothing
    message = _kind_message(tmp_path / "damaged.pt")
    assert message.startswith(
        f"checkpoint {tmp_path / 'damaged.pt'} cannot be read (truncated or corrupt?): "
    )
    assert "None" not in message.rsplit(": ", 1)[1] and "\n" not in message


def test_a_missing_checkpoint_names_up_to_three_runs_named_like_its_folder(tmp_path, monkeypatch):
    import os

    from vrt.checkpoints.format import _similar_runs_hint

    runs = tmp_path / "runs"
    # Newest first by time, which here is not the order of the names.
    for hour, name in enumerate(["demo-4", "demo-1", "demo-3", "demo-2", "other", "xdemo"]):
        (runs / name).mkdir(parents=True)
        (runs / name / "best.pt").write_bytes(b"")
        os.utime(runs / name / "best.pt", (3600.0 * hour, 3600.0 * hour))
    (runs / "demo-5").mkdir()  # no best.pt: not named
    assert _similar_runs_hint(runs / "demo" / "best.pt") == (
        f"; did you mean {runs}/demo-2/best.pt or {runs}/demo-3/best.pt or {runs}/demo-1/best.pt? (newest first)"
    )
    assert _similar_runs_hint(runs / "other" / "last.pt") == ""  # the folder exists: the file is missing
    assert _similar_runs_hint(runs / "demo-1" / "last.pt") == ""  # also when others are named like it
    assert _similar_runs_hint(runs / "nothing" / "best.pt") == ""
    assert _similar_runs_hint(tmp_path / "gone" / "runs" / "best.pt") == ""  # no parent folder
    for name in ("demo-1", "demo-3"):
        (runs / name / "last.pt").write_bytes(b"")
    assert _similar_runs_hint(runs / "demo" / "last.pt") in (
        f"; did you mean {runs}/demo-3/last.pt or {runs}/demo-1/last.pt? (newest first)",
        f"; did you mean {runs}/demo-1/last.pt or {runs}/demo-3/last.pt? (newest first)",
    )
    (runs / "demo-3" / "last.pt").unlink()
    assert _similar_runs_hint(runs / "demo" / "last.pt") == f"; did you mean {runs}/demo-1/last.pt?"
    assert _similar_runs_hint(Path("best.pt")) == ""  # a bare name: its folder is the current one

    def unreadable(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", unreadable)
    assert _similar_runs_hint(runs / "demo" / "best.pt") == ""


# -- what is kept, and what a resume starts from ------------------------------------------


def keeper(tmp_path, keep: int = 2) -> tuple[CheckpointKeeper, list[str]]:
    warnings: list[str] = []
    return CheckpointKeeper(RunDirectory(tmp_path), keep_steps=keep, warn=warnings.append), warnings


def test_step_checkpoints_keep_the_newest_k_and_last_is_the_newest_state(tmp_path):
    checkpoints, _ = keeper(tmp_path, keep=2)
    for step in range(1, 6):
        checkpoints.save(state(0, step), step=step)
    checkpoints.save(state(1), best=True)  # end of the epoch
    assert [n for n, _ in checkpoints.paths.step_files()] == [4, 5]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1
    assert load_checkpoint(tmp_path / "previous.pt")["position"] == 5
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_resume_falls_back_to_the_newest_readable_checkpoint_and_names_the_bad_file(tmp_path):
    checkpoints, warnings = keeper(tmp_path, keep=3)
    for step in range(1, 4):
        checkpoints.save(state(0, step, value=step), step=step)
    writer = subprocess.Popen([sys.executable, "-c", "pass"])  # a writer no longer running
    writer.wait()
    # A checkpoint write killed half-way, named as atomic_write names its temporaries.
    (tmp_path / f".last.pt.{writer.pid}.{HOST_TAG}-k2j4x9.tmp").write_bytes(b"PK")
    (tmp_path / ".codes.npz.a8f3.tmp").write_bytes(b"PK")  # someone else's write in progress
    loaded, path = checkpoints.load_latest()
    assert path.name == "last.pt" and loaded["position"] == 3 and not warnings
    assert [p.name for p in tmp_path.glob(".*")] == [".codes.npz.a8f3.tmp"]

    (tmp_path / "last.pt").write_bytes(b"\0" * 100)  # damaged (not by vrt: its writes are atomic)
    (tmp_path / "step-00000003.pt").write_bytes(b"")
    loaded, path = checkpoints.load_latest()
    assert path.name == "step-00000002.pt" and loaded["position"] == 2
    assert any("last.pt cannot be read" in w for w in warnings)
    assert any("step-00000003.pt" in w for w in warnings)
    assert (tmp_path / "last.pt.corrupt").exists() and not (tmp_path / "last.pt").exists()
    # The damaged files are out of the way: pruning by name no longer sees a newer step 3.
    checkpoints.save(state(0, 3, value=3.0), step=3)
    assert load_checkpoint(tmp_path / "last.pt")["position"] == 3


def test_previous_wins_when_it_is_newer_than_every_readable_step_file(tmp_path):
    checkpoints, _ = keeper(tmp_path)
    checkpoints.save(state(0, 4), step=4)
    checkpoints.save(state(1))  # the epoch-end save; previous.pt now holds step 4
    checkpoints.save(state(1, 2))  # a stop mid-epoch 2, no step file
    (tmp_path / "last.pt").write_bytes(b"garbage")
    loaded, path = checkpoints.load_latest()
    assert path.name == "previous.pt" and (loaded["epoch"], loaded["position"]) == (1, 0)


def test_resume_without_any_checkpoint_is_a_clear_error(tmp_path):
    checkpoints, _ = keeper(tmp_path)
    with pytest.raises(NoCheckpointError, match="last.pt does not exist"):
        checkpoints.load_latest()
    (tmp_path / "last.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="none of its checkpoints"):
        checkpoints.load_latest()


# -- interrupted writes leave the previous file and no partial one ------------------------


def failing_savez(handle, **arrays):
    handle.write(b"PK\x03\x04 half an archive")
    raise OSError("No space left on device")


def codeset(n: int) -> CodeSet:
    return CodeSet.from_bits(np.ones((n, 16), dtype=bool), labels=[0] * n, ids=[f"v{i}" for i in range(n)])


def test_an_export_interrupted_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "codes.npz"
    save_codes(path, codeset(3))
    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space"):
        save_codes(path, codeset(5))
    monkeypatch.undo()
    assert len(load_codes(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.npz"]


def test_an_index_interrupted_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    from vrt.index.hamming_index import HammingIndex

    path = tmp_path / "db.index.npz"
    HammingIndex.build(codeset(3)).save(path)
    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space"):
        HammingIndex.build(codeset(5)).save(path)
    monkeypatch.undo()
    assert len(HammingIndex.load(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.index.npz"]


def test_a_checkpoint_interrupted_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state(1))

    def failing_save(payload, handle):
        handle.write(b"PK\x03\x04")
        raise KeyboardInterrupt  # Ctrl-C twice, mid-write

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, state(2))
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_metrics_drop_a_line_cut_short_and_records_after_the_checkpoint(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for epoch in (1, 2, 3):
        log.append({"epoch": epoch, "loss": 1.0})
    with log.path.open("a") as handle:
        handle.write('{"epoch": 4, "lo')  # the process died mid-append
    log.truncate(after_epoch=2)
    assert [json.loads(line)["epoch"] for line in log.path.read_text().splitlines()] == [1, 2]


# -- signals -------------------------------------------------------------------------------


def test_a_signal_only_raises_the_flag_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    heard: list[str] = []
    stop = StopRequest()
    with stop.installed(on_first=heard.append):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # another kind while stopping (torchrun's relay): ignored
        signal.raise_signal(signal.SIGTERM)  # the same one at once: an echo, ignored
        assert stop.requested and stop.signal_name == "SIGTERM" and heard == ["SIGTERM"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_second_ctrl_c_later_aborts_at_once():
    # Python's own Ctrl-C handler, whatever this process inherited: a shell that starts a job in
    # the background (`cmd &` without job control) makes it ignore SIGINT.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stop = StopRequest()
        with pytest.raises(KeyboardInterrupt), stop.installed():
            signal.raise_signal(signal.SIGINT)
            time.sleep(REPEAT_GRACE_S + 0.1)
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_an_ignored_signal_stays_ignored():
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job starts
    try:
        stop = StopRequest()
        with stop.installed():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            assert not stop.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_interruption_carries_the_shell_exit_code_and_survives_pickling(tmp_path):
    import pickle

    error = TrainingInterrupted(
        "stopped", signal_number=signal.SIGTERM, run_dir=tmp_path, checkpoint=tmp_path
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.exit_code, str(copy), copy.run_dir) == (143, "stopped", tmp_path)
    assert (
        TrainingInterrupted("x", signal_number=signal.SIGINT, run_dir=tmp_path, checkpoint=tmp_path).exit_code
        == 130
    )


# -- per-clip augmentation seeds -----------------------------------------------------------


def test_augmentation_depends_on_seed_epoch_and_video_not_on_order_or_global_rng():
    from vrt.datasets.synthetic import synthetic

    dataset = synthetic(
        subset="train",
        clips=ClipSpec(num_frames=4, frame_size=32),
        num_classes=2,
        videos_per_class=3,
        noise=0.2,
    )
    view = ClipView(dataset, range(6), training=True, augment_seed=7)
    forward = [view[(p, 1)][0] for p in range(6)]
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    backward = [view[(p, 1)][0] for p in reversed(range(6))][::-1]
    assert torch.equal(torch.get_rng_state(), rng_before)  # loading never moves the global stream
    assert all(torch.equal(a, b) for a, b in zip(forward, backward, strict=True))
    assert not torch.equal(view[(0, 2)][0], forward[0])  # a new epoch, new noise
    view.set_epoch(1)
    assert torch.equal(view[0][0], forward[0])  # bare positions take set_epoch's epoch
    other = ClipView(dataset, range(6), training=True, augment_seed=8)
    assert not torch.equal(other[(0, 1)][0], forward[0])
    assert not torch.equal(forward[0], dataset.load_clip(0, training=False))


# -- config keys ---------------------------------------------------------------------------


def test_cross_rank_is_accepted_beside_name_or_terms_and_written_back_only_when_set():
    single = tiny_config_dict()
    single["loss"]["cross_rank"] = True
    config = config_from_dict(single)
    assert config.loss.cross_rank and config.loss.terms[0].params["margin"] == 4.0
    written = config_to_dict(config)["loss"]
    assert written["name"] == "triplet_ranking" and written["margin"] == 4.0 and written["cross_rank"] is True

    terms = tiny_config_dict()
    terms["loss"] = {
        "terms": [{"name": "triplet_ranking"}, {"name": "quantization", "weight": 0.1}],
        "cross_rank": True,
    }
    config = config_from_dict(terms)
    assert config.loss.cross_rank and config_from_dict(config_to_dict(config)) == config

    assert "cross_rank" not in config_to_dict(config_from_dict(tiny_config_dict()))["loss"]
    single["loss"]["cross_rank"] = "yes"
    with pytest.raises(ConfigError, match="loss.cross_rank"):
        config_from_dict(single)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "checkpoint_every_steps", 0),
        ("train", "keep_checkpoints", 0),
        ("data", "prefetch_factor", 0),
        ("data", "pin_memory", "auto"),
        ("train", "compile", 1),
    ],
)
def test_speed_and_checkpoint_keys_are_validated(section, key, value):
    data = tiny_config_dict()
    data[section][key] = value
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        config_from_dict(data)


# Edges that mutation testing (make mutation) found untested: checkpoints.


def test_a_checkpoint_of_tensors_saved_on_a_gpu_loads_onto_the_cpu(tmp_path):
    """torch.save keeps each storage's device; one written from CUDA tensors (torch.save by hand,
    an older vrt) loads onto the CPU, also where there is no GPU."""
    buffer = io.BytesIO()
    torch.save({"format": 1, "model": {"w": torch.ones(2)}}, buffer)
    original = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(tmp_path / "gpu.pt", "w", zipfile.ZIP_STORED) as archive:
        for name in original.namelist():
            data = original.read(name)
            if name.endswith("data.pkl"):  # the storage's location, 'cpu', made 'cuda'
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x04\x00\x00\x00cuda")
                assert b"cuda" in data
            archive.writestr(name, data)
    state = load_checkpoint(tmp_path / "gpu.pt")
    assert state["model"]["w"].device.type == "cpu" and state["model"]["w"].tolist() == [1.0, 1.0]


def test_python_objects_are_refused_even_when_the_environment_turns_weights_only_off(tmp_path, monkeypatch):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD changes torch.load's default, not an explicit weights_only=True."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    torch.save({"format": 1, "model": {}, "where": Path("x")}, tmp_path / "objects.pt")
    with pytest.raises(CheckpointError, match="it holds Python objects"):
        load_checkpoint(tmp_path / "objects.pt")


def refusal(path: Path) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    return str(caught.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4:UserWarning")
def test_the_refusal_of_python_objects_and_of_newer_pickles_word_for_word(tmp_path):
    (tmp_path / "object.pkl").write_bytes(pickle.dumps(Path("x"), protocol=2))
    message = refusal(tmp_path / "object.pkl")
    start = (
        f"checkpoint {tmp_path / 'object.pkl'} cannot be read: it holds Python objects, not only "
        "tensors and plain values, and unpickling them could run code ("
    )
    assert message.startswith(start) and message.endswith(")")
    assert "GLOBAL pathlib.PosixPath" in message[len(start) :] and "\n" not in message
    (tmp_path / "newer.pkl").write_bytes(pickle.dumps({"model": 1}, protocol=4))
    assert refusal(tmp_path / "newer.pkl") == (
        f"checkpoint {tmp_path / 'newer.pkl'} cannot be read: it is a pickle of protocol 4 or later, "
        "which torch does not write (not a checkpoint; it may hold Python objects, and is not unpickled)"
    )


def test_torchs_refusal_names_the_blocked_global_when_an_earlier_line_does_not():
    refused = RuntimeError(
        "Weights only load failed.\nWeightsUnpickler error: while building the state\n"
        "WeightsUnpickler error: Unsupported global: GLOBAL os.system was not an allowed global by default. "
        "Please use `torch.serialization.add_safe_globals`."
    )
    assert "GLOBAL os.system was not an allowed global by default" in _reason(refused)


def test_a_missing_file_in_an_existing_folder_names_no_other_run(tmp_path):
    runs = tmp_path / "runs"
    (runs / "demo").mkdir(parents=True)  # the folder is there, its best.pt is not
    (runs / "demo-1").mkdir()
    save_checkpoint(runs / "demo-1" / "best.pt", {"model": {}})
    assert _similar_runs_hint(runs / "demo" / "best.pt") == ""
    assert _similar_runs_hint(runs / "demo-" / "best.pt") == f"; did you mean {runs / 'demo-1' / 'best.pt'}?"
