"""The ``ivf`` kind's faiss structure: built by k-means on a sample, or rebuilt from what its file keeps.

An index file keeps an ivf index as its centroids and each item's list (:mod:`vrt.index.storage`),
so that loading copies the items into their lists instead of running k-means and assigning every
code again (minutes at ten million codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from vrt.index.kinds import IndexParameterError

if TYPE_CHECKING:
    import faiss

__all__ = ["IVF_TRAIN_PER_LIST", "build_ivf", "ivf_layout"]

# k-means of an ivf index sees at most this many codes per list (faiss samples 256 per list;
# 64 keeps the build of 10M codes in seconds with centroids as good for Hamming search).
IVF_TRAIN_PER_LIST = 64


def build_ivf(
    bits: int,
    params: Mapping[str, int],
    codes: np.ndarray,
    *,
    centroids: np.ndarray | None = None,
    lists: np.ndarray | None = None,
) -> faiss.IndexBinaryIVF:
    """An ivf index of ``codes``: trained on a fixed sample of them, or from stored ``centroids``
    and each code's list (``lists``: what an index file keeps, so loading skips k-means and the
    assignment of every code)."""
    import faiss

    nlist = params["nlist"]
    if centroids is None:
        if len(codes) < nlist:
            raise IndexParameterError(
                f"an ivf index of {nlist} lists needs at least {nlist} codes to train on, got "
                f"{len(codes)} (lower --nlist, or use --kind flat)"
            )
        # A seeded sample in database order: the same codes give the same index.
        rng = np.random.default_rng(0)
        size = min(len(codes), IVF_TRAIN_PER_LIST * nlist)
        sample = codes if size == len(codes) else codes[np.sort(rng.choice(len(codes), size, replace=False))]
        quantizer = faiss.IndexBinaryFlat(bits)
        index = faiss.IndexBinaryIVF(quantizer, bits, nlist)
        index.cp.verbose = False
        index.train(np.ascontiguousarray(sample))
        if len(codes):
            index.add(np.ascontiguousarray(codes))
        return index
    quantizer = faiss.IndexBinaryFlat(bits)
    quantizer.add(np.ascontiguousarray(centroids))
    index = faiss.IndexBinaryIVF(quantizer, bits, nlist)  # keeps a reference to the quantizer
    assert lists is not None and len(lists) == len(codes)
    if len(codes):
        assignments = np.ascontiguousarray(lists, dtype=np.int64)
        index.add_core(
            len(codes), faiss.swig_ptr(np.ascontiguousarray(codes)), None, faiss.swig_ptr(assignments)
        )
    return index


def ivf_layout(index: faiss.IndexBinaryIVF) -> tuple[np.ndarray, np.ndarray]:
    """The centroids ``uint8 [nlist, bits/8]`` and each stored code's list ``int32 [ntotal]``, in
    database order: what :func:`build_ivf` rebuilds the index from."""
    import faiss

    centroids = faiss.vector_to_array(faiss.downcast_IndexBinary(index.quantizer).xb)
    lists = np.empty(index.ntotal, dtype=np.int32)
    invlists = index.invlists
    for number in range(index.nlist):
        size = invlists.list_size(number)
        if size:
            ids = faiss.rev_swig_ptr(invlists.get_ids(number), size)
            lists[ids] = number
    return centroids.reshape(index.nlist, index.code_size), lists
