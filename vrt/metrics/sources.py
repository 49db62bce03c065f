"""Source relevance: whether a search finds *the same* video, not only videos of its class.

An item is relevant to a query when both come from the same source video (their
:func:`~vrt.codes.source_groups`: UCF101's ``<Class>_gGG`` recording, the video a ``#t=`` window
was cut from, a dataset's groups), the query itself excluded. The queries are searched in the
database together with the queries themselves, so that the other clips of a source count
wherever they are (UCF101's test clips share their recordings with other test clips, not with
training clips). A model that gives every video of a class one code finds a query's class and
not its source: source mAP, beside class mAP, shows it. numpy only.
"""

from __future__ import annotations

import numpy as np

from vrt.codes import CodeSet, source_groups
from vrt.metrics.retrieval import score_queries
from vrt.metrics.scores import QueryScores
from vrt.runtime.limits import MAX_CLASSES

__all__ = ["score_sources"]


def score_sources(
    query: CodeSet, database: CodeSet, *, topk: int = 100, radius: int = 2, workers: int | None = None
) -> QueryScores | None:
    """Tie-aware metrics of ``query`` with source relevance, against ``database`` plus the
    queries, each query's own item left out; None when no query has another item of its source
    (nothing to find) or when there are more sources than labels can number."""
    extra = ~np.isin(query.ids, database.ids)
    pool_ids = np.concatenate([database.ids, query.ids[extra]])
    pool_groups = np.concatenate([source_groups(database), source_groups(query)[extra]])
    names, pool_labels = np.unique(pool_groups, return_inverse=True)
    if names.shape[0] > MAX_CLASSES:
        return None
    index = {name: label for label, name in enumerate(names.tolist())}
    query_labels = np.asarray([index[group] for group in source_groups(query).tolist()], dtype=np.int64)
    sizes = np.bincount(pool_labels, minlength=names.shape[0])
    if not (sizes[query_labels] > 1).any():
        return None
    pool = CodeSet(
        codes=np.concatenate([database.codes, query.codes[extra]]),
        bits=database.bits,
        labels=pool_labels.astype(np.int64),
        ids=pool_ids,
    )
    as_sources = CodeSet(codes=query.codes, bits=query.bits, labels=query_labels, ids=query.ids)
    return score_queries(
        as_sources, pool, topk=topk, radius=radius, workers=workers, database_order=False, exclude_self=True
    )
