"""The codes interchange: bit packing, CodeSet validation, atomic save and strict load."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vrt.codes import CodeSet, CodesFileError, load_codes, pack_bits, save_codes, unpack_bits
from vrt.codes import files as codes_files


def make_codeset(
    n: int = 5, bits: int = 16, *, class_names: list[str] | None = None, seed: int = 0
) -> CodeSet:
    rng = np.random.default_rng(seed)
    num_classes = len(class_names) if class_names else 3
    return CodeSet(
        codes=rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8),
        bits=bits,
        labels=rng.integers(0, num_classes, size=n),
        ids=np.array([f"video_{i:03d}" for i in range(n)]),
        class_names=class_names,
    )


# -- bit packing ----------------------------------------------------------------------------


def test_pack_bits_is_big_endian_within_each_byte():
    bits = np.zeros((1, 16), dtype=bool)
    bits[0, 0] = True  # first bit -> most significant bit of byte 0
    bits[0, 15] = True  # last bit -> least significant bit of byte 1
    np.testing.assert_array_equal(pack_bits(bits), np.array([[0b1000_0000, 0b0000_0001]], dtype=np.uint8))


def test_pack_unpack_round_trip():
    bits = np.random.default_rng(1).random((7, 48)) >= 0.5
    packed = pack_bits(bits)
    assert packed.dtype == np.uint8 and packed.shape == (7, 6)
    np.testing.assert_array_equal(unpack_bits(packed), bits)
    assert unpack_bits(packed).dtype == np.bool_


def test_pack_bits_accepts_zero_one_integers():
    bits = np.random.default_rng(2).integers(0, 2, size=(3, 8))
    np.testing.assert_array_equal(pack_bits(bits), pack_bits(bits.astype(bool)))


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        (np.zeros((2, 12), dtype=bool), "multiple of 8"),
        (np.zeros(8, dtype=bool), "2-D"),
        (np.zeros((2, 8), dtype=np.float32), "binarise first"),
        (np.full((2, 8), 2), "only 0 and 1"),
    ],
)
def test_pack_bits_rejects_bad_input(bits, message):
    with pytest.raises(ValueError, match=message):
        pack_bits(bits)


# -- CodeSet validation ---------------------------------------------------------------------


def test_codeset_normalises_lossless_inputs():
    codeset = CodeSet(
        codes=np.zeros((2, 1), dtype=np.uint8),
        bits=np.int64(8),
        labels=np.array([0, 1], dtype=np.int32),
        ids=["a", "b"],
    )
    assert codeset.labels.dtype == np.int64
    assert codeset.ids.dtype.kind == "U"
    assert type(codeset.bits) is int and len(codeset) == 2


def test_codeset_from_bits_packs():
    bits = np.random.default_rng(3).random((4, 32)) >= 0.5
    codeset = CodeSet.from_bits(bits, labels=[0, 1, 0, 1], ids=["a", "b", "c", "d"], class_names=("x", "y"))
    assert codeset.bits == 32 and codeset.class_names == ["x", "y"]
    np.testing.assert_array_equal(unpack_bits(codeset.codes), bits)


def test_empty_codeset_is_valid():
    codeset = CodeSet(codes=np.zeros((0, 2), dtype=np.uint8), bits=16, labels=[], ids=[])
    assert len(codeset) == 0 and codeset.labels.dtype == np.int64 and codeset.ids.dtype.kind == "U"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"codes": np.zeros((3, 2), dtype=np.int64)}, "uint8"),
        ({"codes": np.zeros((3, 2, 1), dtype=np.uint8)}, "2-D"),
        ({"bits": 24}, "bytes per row"),
        ({"bits": 12}, "multiple of 8"),
        ({"bits": True}, "integer"),
        ({"labels": np.array([0.0, 1.0, 2.0])}, "integers"),
        ({"labels": np.array([0, 1])}, "same length"),
        ({"ids": np.array(["a", "b"])}, "same length"),
        ({"ids": np.array(["a", "b", "a"])}, r"unique.*'a'"),
        ({"ids": np.array(["a", "b", "c"], dtype=object)}, "unicode"),
        ({"ids": np.array([b"a", b"b", b"c"])}, "unicode"),
        ({"class_names": ["only"]}, r"\[0, 1\)"),
    ],
)
def test_codeset_rejects_inconsistent_fields(change, message):
    fields = {
        "codes": np.zeros((3, 2), dtype=np.uint8),
        "bits": 16,
        "labels": np.array([0, 1, 2]),
        "ids": np.array(["a", "b", "c"]),
        "class_names": None,
    }
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        CodeSet(**fields)


# -- save / load ----------------------------------------------------------------------------


@pytest.mark.parametrize("class_names", [None, ["run", "jump", "swim"]])
def test_save_load_round_trip(tmp_path, class_names):
    original = make_codeset(n=6, bits=48, class_names=class_names)
    target = tmp_path / "nested" / "codes.npz"
    assert save_codes(target, original) == target
    loaded = load_codes(target)
    np.testing.assert_array_equal(loaded.codes, original.codes)
    np.testing.assert_array_equal(loaded.labels, original.labels)
    np.testing.assert_array_equal(loaded.ids, original.ids)
    assert loaded.bits == 48 and loaded.class_names == class_names
    assert loaded.codes.dtype == np.uint8 and loaded.labels.dtype == np.int64 and loaded.ids.dtype.kind == "U"


def test_saved_file_reads_with_plain_numpy_without_pickle(tmp_path):
    original = make_codeset(class_names=["a", "b", "c"])
    save_codes(tmp_path / "codes.npz", original)
    with np.load(tmp_path / "codes.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {"codes", "bits", "labels", "ids", "class_names"}
        assert int(archive["bits"]) == 16
        np.testing.assert_array_equal(np.unpackbits(archive["codes"], axis=1), unpack_bits(original.codes))


def test_save_uses_the_name_as_given(tmp_path):
    save_codes(tmp_path / "codes.bin", make_codeset())
    assert sorted(os.listdir(tmp_path)) == ["codes.bin"]  # no ".npz" appended, no temporary left
    assert len(load_codes(tmp_path / "codes.bin")) == 5


def test_interrupted_save_keeps_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "codes.npz"
    save_codes(target, make_codeset(seed=0))
    before = target.read_bytes()

    def failing_savez(handle, **arrays):
        handle.write(b"partial archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(codes_files.np, "savez", failing_savez)
    with pytest.raises(KeyboardInterrupt):
        save_codes(target, make_codeset(seed=1))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["codes.npz"]


def test_save_rejects_non_codeset(tmp_path):
    with pytest.raises(TypeError, match="CodeSet"):
        save_codes(tmp_path / "codes.npz", {"codes": np.zeros((1, 1), dtype=np.uint8)})


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def valid_arrays() -> dict[str, np.ndarray]:
    return {
        "codes": np.zeros((2, 1), dtype=np.uint8),
        "bits": np.array(8),
        "labels": np.array([0, 1]),
        "ids": np.array(["a", "b"]),
    }


def test_load_missing_file(tmp_path):
    with pytest.raises(CodesFileError, match="not found") as error:
        load_codes(tmp_path / "absent.npz")
    assert "absent.npz" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_load_not_an_archive(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip file at all")
    with pytest.raises(CodesFileError, match="junk.npz"):
        load_codes(tmp_path / "junk.npz")


def test_load_single_array_file(tmp_path):
    np.save(tmp_path / "codes.npy", np.zeros((2, 1), dtype=np.uint8))
    with pytest.raises(CodesFileError, match="single numpy array"):
        load_codes(tmp_path / "codes.npy")


def test_load_missing_keys(tmp_path):
    arrays = valid_arrays()
    del arrays["ids"], arrays["bits"]
    with pytest.raises(CodesFileError, match=r"missing keys \['bits', 'ids'\]"):
        load_codes(write_npz(tmp_path / "codes.npz", **arrays))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("codes", np.zeros((2, 1), dtype=np.int8), "'codes' must be uint8"),
        ("codes", np.zeros(2, dtype=np.uint8), "'codes' must be uint8"),
        ("bits", np.array([8]), "'bits' must be an integer scalar"),
        ("bits", np.array(8.0), "'bits' must be an integer scalar"),
        ("bits", np.array(16), "1 bytes per row"),
        ("labels", np.array([0.0, 1.0]), "'labels' must be int64"),
        ("labels", np.array([0, 1, 2]), "same length"),
        ("ids", np.array([1, 2]), "'ids' must be unicode"),
        ("class_names", np.array([1, 2]), "'class_names' must be unicode"),
    ],
)
def test_load_rejects_wrong_dtypes_and_shapes(tmp_path, key, value, message):
    arrays = valid_arrays()
    arrays[key] = value
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CodesFileError, match=message) as error:
        load_codes(path)
    assert str(path) in str(error.value)


def test_load_refuses_pickled_ids(tmp_path):
    arrays = valid_arrays()
    arrays["ids"] = np.array(["a", "b"], dtype=object)
    with pytest.raises(CodesFileError, match="'ids' cannot be read without pickle"):
        load_codes(write_npz(tmp_path / "pickled.npz", **arrays))


def test_the_file_kinds_know_the_keys_of_a_codes_file():
    """vrt.runtime.file_kinds (below vrt.codes) names a codes file by these keys: kept equal."""
    from vrt.codes.files import _REQUIRED_KEYS
    from vrt.runtime.file_kinds import _CODES_KEYS

    assert _CODES_KEYS == set(_REQUIRED_KEYS)
