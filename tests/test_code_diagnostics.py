"""Code diagnostics: distinct codes, bit balance, constant bits, bit correlation, the warnings."""

from __future__ import annotations

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.metrics.code_diagnostics import code_stats, code_warnings, degenerate_code_warnings


def from_bits(rows: list[str]) -> CodeSet:
    bits = np.array([[char == "1" for char in row] for row in rows])
    return CodeSet.from_bits(bits, labels=np.zeros(len(rows), dtype=np.int64), ids=[f"i{i}" for i in range(len(rows))])  # fmt: skip


def test_statistics_of_a_hand_made_set():
    # Bit 0 and bit 1 are equal on every item (correlation 1), bit 2 is their opposite (-1),
    # bit 3 is independent of them (0: each of its values meets each of theirs once), bits 4-7 are 0.
    codes = from_bits(["11000000", "11010000", "00100000", "00110000", "11000000"])
    stats = code_stats(codes)
    assert (stats.size, stats.bits, stats.unique_codes) == (5, 8, 4)
    assert stats.unique_fraction == 0.8 and stats.top_code_share == 0.4
    assert stats.bit_balance == (0.6, 0.6, 0.4, 0.4, 0.0, 0.0, 0.0, 0.0)
    assert stats.constant_bits == 4
    # Pairs of the four varying bits: (0,1), (0,2), (1,2) have |phi| = 1; bit 3 against each of
    # them: 2 of its 5 items are 1, split 1:1 over the 3:2 split of the others, phi = -1/6.
    assert stats.mean_abs_bit_correlation == pytest.approx((3 * 1 + 3 * (1 / 6)) / 6, abs=1e-12)
    assert stats.to_dict()["bit_balance"] == list(stats.bit_balance)


def test_correlation_is_none_below_two_varying_bits_and_codes_longer_than_a_word():
    assert code_stats(from_bits(["10000000", "00000000"])).mean_abs_bit_correlation is None
    rng = np.random.default_rng(0)
    bits = rng.random((300, 72)) < 0.5
    bits[150:] = bits[:150]  # every code twice: 150 distinct codes of 72 bits
    codes = CodeSet.from_bits(bits, labels=np.zeros(300, dtype=np.int64), ids=[f"i{i}" for i in range(300)])
    stats = code_stats(codes)
    assert stats.unique_codes == 150 and stats.top_code_share == pytest.approx(2 / 300)
    np.testing.assert_allclose(stats.bit_balance, bits.mean(axis=0), rtol=0, atol=1e-15)
    expected = np.abs(np.corrcoef(bits.T.astype(float))[np.triu_indices(72, k=1)]).mean()
    assert stats.mean_abs_bit_correlation == pytest.approx(expected, abs=1e-12)


def test_chunked_counts_are_exact(monkeypatch):
    import vrt.metrics.code_diagnostics as module

    rng = np.random.default_rng(1)
    codes = CodeSet.from_bits(rng.random((1000, 16)) < 0.3, labels=np.zeros(1000, dtype=np.int64), ids=[f"i{i}" for i in range(1000)])  # fmt: skip
    whole = code_stats(codes)
    monkeypatch.setattr(module, "_ITEMS_PER_CHUNK", 7)
    assert code_stats(codes) == whole


def test_degenerate_codes_are_named_with_their_reason():
    collapsed = code_stats(from_bits(["10101010"] * 3 + ["01010101"]))
    assert degenerate_code_warnings(collapsed, name="database codes") == [
        "degenerate database codes: 75.0% of the 4 items share one code (more than 50%; 2 distinct codes)"
    ]
    half = code_stats(from_bits(["10101010", "10101010", "01010101", "11110000"]))
    assert degenerate_code_warnings(half, name="codes") == []  # exactly half is not more than half
    # Any constant bit is wasted over 16 items or more (the demo's 320 codes had 4 of 32 bits
    # always 1, with no warning); over 15 a bit may be constant by chance.
    one_constant = [f"{i:04b}{15 - i:04b}"[:7] + "1" for i in range(16)]  # only bit 7 is constant
    assert code_warnings(from_bits(one_constant), name="validation codes") == [
        "degenerate validation codes: 1 of the 8 bits never change over the 16 items "
        "(wasted: the codes use 7 bits)"
    ]
    assert code_warnings(from_bits(one_constant[:15])) == []
    assert code_warnings(from_bits([row[:7] + str(i % 2) for i, row in enumerate(one_constant)])) == []
    assert code_warnings(from_bits(["00000000"])) == []  # one code says nothing about the spread


def test_an_empty_set_is_refused():
    empty = CodeSet(
        codes=np.zeros((0, 1), dtype=np.uint8), bits=8, labels=np.zeros(0, dtype=np.int64), ids=[]
    )
    with pytest.raises(ValueError, match="no codes"):
        code_stats(empty)


def test_code_warnings_name_the_set_codes_by_default():
    assert code_warnings(from_bits(["10101010"] * 3)) == [
        "degenerate codes: 100.0% of the 3 items share one code (more than 50%; 1 distinct code)"
    ]


def test_distinct_codes_are_told_apart_by_their_bits_not_as_numbers():
    """Rows compared as 64-bit words: codes whose bytes read as floats +0.0 and -0.0, or as two
    different NaNs, are still distinct codes."""
    rows = ["0" * 64, "0" * 56 + "10000000", "1" * 64, "1" * 63 + "0"]  # little-endian: sign bit last
    stats = code_stats(from_bits(rows))
    assert stats.unique_codes == 4 and stats.top_code_share == 0.25


def test_two_equal_codes_are_degenerate_and_an_empty_set_is_refused_by_name():
    assert code_warnings(from_bits(["10101010"] * 2)) == [
        "degenerate codes: 100.0% of the 2 items share one code (more than 50%; 1 distinct code)"
    ]
    empty = CodeSet(
        codes=np.zeros((0, 1), dtype=np.uint8), bits=8, labels=np.zeros(0, dtype=np.int64), ids=[]
    )
    with pytest.raises(ValueError, match=r"^no codes to describe$"):
        code_stats(empty)
