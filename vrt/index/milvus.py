"""Milvus as an index backend: the codes in a Milvus collection, searched there (no torch).

An index reference ``milvus://LOCATION/COLLECTION`` names a collection:

* ``milvus://vectors.db/videos``, ``milvus:///data/vectors.db/videos``: a file of milvus-lite
  (embedded Milvus, one process; LOCATION ends in ``.db``);
* ``milvus://milvus.example.org:19530/videos``: a Milvus server or cluster (``https://...`` in
  LOCATION for TLS), its token in the environment variable ``MILVUS_TOKEN``.

The collection holds one entity per item: ``position`` (INT64 primary key: the item's place in
database order), ``item`` (its id), ``label`` and ``code`` (``BINARY_VECTOR`` of the code length,
a ``BIN_FLAT`` index with the ``HAMMING`` metric: exact). A second collection ``COLLECTION_vrt``
holds one JSON record: the format, code length, class names and the model that made the codes.

A :class:`MilvusIndex` is a :class:`~vrt.index.HammingIndex` whose search runs in Milvus; the
items' ids, labels and codes are read once when it is opened (id queries and the web page's item
list need them), and edits write only what changed. Results equal a flat faiss index's: Milvus
orders ties at the K-th distance as it likes, so the items at that distance are fetched with a
range search and the first ones in database order kept (up to 16,384 of them, Milvus's limit).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vrt.codes import CodeSet, EncoderIdentity
from vrt.errors import VrtError
from vrt.index.hamming_index import HammingIndex

__all__ = ["SCHEME", "MilvusError", "MilvusIndex", "MilvusLocation", "is_milvus_reference"]

SCHEME = "milvus://"
FORMAT = "vrt-milvus-index"
FORMAT_VERSION = 1
TOKEN_VARIABLE = "MILVUS_TOKEN"
_META_SUFFIX = "_vrt"
_MAX_ID_LENGTH = 65_535  # Milvus's longest VARCHAR
_MAX_TOPK = 16_384  # Milvus's largest limit per search
_INSERT_BATCH = 10_000
_QUERY_BATCH = 512


class MilvusError(VrtError, ValueError):
    """A Milvus reference that is malformed, a collection that is missing or not vrt's, or a
    Milvus that cannot be reached."""


def is_milvus_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


@dataclass(frozen=True)
class MilvusLocation:
    """Where a collection is: ``uri`` as pymilvus takes it (a milvus-lite file or a server URL)."""

    uri: str
    collection: str

    @classmethod
    def parse(cls, reference: str) -> MilvusLocation:
        location, _, collection = reference.removeprefix(SCHEME).rpartition("/")
        if not is_milvus_reference(reference) or not location or not collection:
            raise MilvusError(
                f"{reference!r} is not a Milvus index: write milvus://FILE.db/COLLECTION (milvus-lite) "
                "or milvus://HOST:PORT/COLLECTION (a server)"
            )
        if not collection.replace("_", "a").isalnum() or collection[0].isdigit():
            raise MilvusError(
                f"{reference}: {collection!r} is no Milvus collection name (a letter or _, then letters, digits, _)"
            )
        if location.endswith(".db"):
            return cls(uri=location, collection=collection)
        return cls(uri=location if "://" in location else f"http://{location}", collection=collection)

    def __str__(self) -> str:
        return f"{SCHEME}{self.uri.removeprefix('http://')}/{self.collection}"


def _client(location: MilvusLocation) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise VrtError(
            "a Milvus index needs pymilvus (and milvus-lite for a .db file): pip install 'vrt[milvus]'"
        ) from None
    try:
        with warnings.catch_warnings():
            # milvus-lite 2.x imports pkg_resources, which warns on every start: not the user's business.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            return MilvusClient(location.uri, token=os.environ.get(TOKEN_VARIABLE, ""))
    except Exception as error:  # pymilvus raises its own exception types, and ConnectionError
        hint = " (milvus-lite lets one process open a file at a time)" if location.uri.endswith(".db") else ""
        raise MilvusError(f"cannot open Milvus at {location.uri}{hint}: {error}") from None


class MilvusIndex(HammingIndex):
    """The items of a Milvus collection, searched by Milvus; :meth:`open` or :meth:`create` one."""

    def __init__(
        self, *, codeset: CodeSet, positions: np.ndarray, location: MilvusLocation, client: Any
    ) -> None:
        # No faiss structure: HammingIndex's search is replaced, its item accessors are kept.
        self.codeset = codeset
        self.kind = "milvus"
        self.params: dict[str, int] = {}
        self._faiss = None
        self._positions = positions  # the primary key of each row of codeset, increasing
        self.location = location
        self._client = client

    # -- opening and writing a collection ------------------------------------------------

    @classmethod
    def create(cls, codeset: CodeSet, reference: str, *, replace: bool = False) -> MilvusIndex:
        """Store ``codeset`` in a new collection (``replace``: drop one of that name first)."""
        from pymilvus import DataType

        location = MilvusLocation.parse(reference)
        client = _client(location)
        exists = client.has_collection(location.collection)
        if exists and not replace:
            raise MilvusError(
                f"{location} already exists: pass --force to replace it, or choose another name"
            )
        if exists:
            _read_metadata(client, location)  # a collection of anything else is never dropped
            client.drop_collection(location.collection)
            client.drop_collection(location.collection + _META_SUFFIX)
        longest = max((len(item_id.encode()) for item_id in codeset.ids.tolist()), default=1)
        if longest > _MAX_ID_LENGTH:
            raise MilvusError(f"an id of {longest} bytes is longer than Milvus stores ({_MAX_ID_LENGTH})")
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("position", DataType.INT64, is_primary=True)
        schema.add_field("item", DataType.VARCHAR, max_length=_MAX_ID_LENGTH)
        schema.add_field("label", DataType.INT64)
        schema.add_field("code", DataType.BINARY_VECTOR, dim=codeset.bits)
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="code", index_type="BIN_FLAT", metric_type="HAMMING")
        client.create_collection(location.collection, schema=schema, index_params=index_params)
        meta = client.create_schema(auto_id=False, enable_dynamic_field=False)
        meta.add_field("key", DataType.INT64, is_primary=True)
        meta.add_field("record", DataType.VARCHAR, max_length=_MAX_ID_LENGTH)
        meta.add_field("unused", DataType.BINARY_VECTOR, dim=8)  # Milvus needs a vector field
        meta_index = client.prepare_index_params()
        meta_index.add_index(field_name="unused", index_type="BIN_FLAT", metric_type="HAMMING")
        client.create_collection(location.collection + _META_SUFFIX, schema=meta, index_params=meta_index)
        positions = np.arange(len(codeset), dtype=np.int64)
        index = cls(codeset=codeset, positions=positions, location=location, client=client)
        index._write_rows(np.arange(len(codeset)), positions, upsert=False)
        index._write_metadata()
        client.load_collection(location.collection)
        return index

    @classmethod
    def open(cls, reference: str) -> MilvusIndex:
        """The collection's items, read once; searches go to Milvus."""
        location = MilvusLocation.parse(reference)
        client = _client(location)
        if not client.has_collection(location.collection):
            raise MilvusError(
                f"{location}: no such collection (build it with `vrt index build --out {location}`)"
            )
        record = _read_metadata(client, location)
        client.load_collection(location.collection)
        positions, ids, labels, codes = [], [], [], []
        for batch in _all_rows(client, location.collection):
            for row in batch:
                positions.append(row["position"])
                ids.append(row["item"])
                labels.append(row["label"])
                codes.append(row["code"][0] if isinstance(row["code"], list) else row["code"])
        order = np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
        width = record["bits"] // 8
        packed = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, width)
        try:
            encoder = None if record.get("encoder") is None else EncoderIdentity.from_dict(record["encoder"])
            codeset = CodeSet(
                codes=packed[order],
                bits=record["bits"],
                labels=np.asarray(labels, dtype=np.int64)[order],
                ids=np.asarray(ids, dtype=np.str_)[order] if ids else np.empty(0, dtype=np.str_),
                class_names=record.get("class_names"),
                encoder=encoder,
            )
        except ValueError as error:
            raise MilvusError(
                f"{location}: the collection's items are not a valid code set ({error})"
            ) from None
        return cls(
            codeset=codeset,
            positions=np.asarray(positions, dtype=np.int64)[order],
            location=location,
            client=client,
        )

    def _write_rows(self, rows: np.ndarray, positions: np.ndarray, *, upsert: bool) -> None:
        """Rows ``rows`` of the code set, stored under ``positions``."""
        write = self._client.upsert if upsert else self._client.insert
        codes, ids, labels = self.codeset.codes, self.codeset.ids, self.codeset.labels
        for start in range(0, len(rows), _INSERT_BATCH):
            chunk = rows[start : start + _INSERT_BATCH]
            entities = [
                {
                    "position": int(position),
                    "item": str(ids[row]),
                    "label": int(labels[row]),
                    "code": codes[row].tobytes(),
                }
                for row, position in zip(chunk, positions[start : start + _INSERT_BATCH], strict=True)
            ]
            write(self.location.collection, entities)

    def _write_metadata(self) -> None:
        record = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "bits": self.bits,
            "class_names": self.class_names,
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
        }
        entity = {"key": 0, "record": json.dumps(record, sort_keys=True), "unused": bytes(1)}
        self._client.upsert(self.location.collection + _META_SUFFIX, [entity])

    # -- editing: write what changed -----------------------------------------------------

    def rebuilt(self, codeset: CodeSet) -> MilvusIndex:
        """The collection made to hold ``codeset`` (an edit of this index's: items kept in their
        order, new ones after them), writing only the items that were added, changed or removed."""
        old_row = {item_id: row for row, item_id in enumerate(self.ids.tolist())}
        new_ids = codeset.ids.tolist()
        kept = [old_row.get(item_id) for item_id in new_ids]
        gone = sorted(set(old_row) - set(new_ids))
        if gone:
            drop = [int(self._positions[old_row[item_id]]) for item_id in gone]
            for start in range(0, len(drop), _INSERT_BATCH):
                self._client.delete(self.location.collection, ids=drop[start : start + _INSERT_BATCH])
        next_position = int(self._positions.max()) + 1 if len(self._positions) else 0
        positions = np.empty(len(codeset), dtype=np.int64)
        changed, added = [], []
        for row, old in enumerate(kept):
            if old is None:
                positions[row] = next_position
                next_position += 1
                added.append(row)
            else:
                positions[row] = self._positions[old]
                if codeset.labels[row] != self.labels[old] or not np.array_equal(
                    codeset.codes[row], self.codes[old]
                ):
                    changed.append(row)
        edited = MilvusIndex(
            codeset=codeset, positions=positions, location=self.location, client=self._client
        )
        edited._write_rows(np.asarray(changed, dtype=np.int64), positions[changed], upsert=True)
        edited._write_rows(np.asarray(added, dtype=np.int64), positions[added], upsert=False)
        edited._write_metadata()
        return edited

    # -- search --------------------------------------------------------------------------

    @property
    def exact(self) -> bool:
        return True  # BIN_FLAT, with ties completed in database order

    def search(self, query_codes: np.ndarray, topk: int) -> tuple[np.ndarray, np.ndarray]:
        query_codes = self._check_queries(query_codes)
        if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
            raise ValueError(f"topk must be a positive integer, got {topk!r}")
        k = min(int(topk), len(self), _MAX_TOPK)
        distances = np.full((len(query_codes), k), self.bits + 1, dtype=np.int32)
        positions = np.full((len(query_codes), k), -1, dtype=np.int64)
        if k == 0 or len(query_codes) == 0:
            return distances, positions
        for start in range(0, len(query_codes), _QUERY_BATCH):
            batch = query_codes[start : start + _QUERY_BATCH]
            hits = self._search(batch, limit=k)
            for offset, found in enumerate(hits):
                row = self._exact_order(batch[offset], found, k)
                distances[start + offset, : len(row)] = [distance for distance, _ in row]
                positions[start + offset, : len(row)] = np.searchsorted(
                    self._positions, [key for _, key in row]
                )
        return distances, positions

    def _search(
        self, queries: np.ndarray, *, limit: int, within: int | None = None
    ) -> list[list[tuple[int, int]]]:
        """Per query, ``(distance, position key)`` of up to ``limit`` hits (``within``: exactly at that distance)."""
        params: dict[str, Any] = {"metric_type": "HAMMING"}
        if within is not None:  # a range search: range_filter <= distance < radius
            params["params"] = {"radius": within + 1, "range_filter": within}
        found = self._client.search(
            self.location.collection,
            data=[code.tobytes() for code in queries],
            anns_field="code",
            limit=limit,
            search_params=params,
            output_fields=[],
        )
        return [[(round(hit["distance"]), int(hit["id"])) for hit in hits] for hits in found]

    def _exact_order(self, query: np.ndarray, found: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
        """The top ``k`` in the order a flat index gives: by distance, ties in database order."""
        found = sorted(found)
        if len(found) < k or k == len(self):
            return found
        last = found[-1][0]
        (tied,) = self._search(query[None], limit=_MAX_TOPK, within=last)
        nearer = [hit for hit in found if hit[0] < last]
        return nearer + sorted(tied)[: k - len(nearer)]

    def save(self, path: str | os.PathLike[str]) -> Any:
        """Nothing to write for the collection itself (edits are written as they are made)."""
        if not is_milvus_reference(str(path)) or MilvusLocation.parse(str(path)) != self.location:
            raise MilvusError(f"{self.location} lives in Milvus; it is not written to {path}")
        return self.location

    def close(self) -> None:
        """Let go of the collection; a milvus-lite file can then be opened by another process."""
        self._client.close()
        if self.location.uri.endswith(".db"):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.location.uri)

    def describe_storage(self) -> dict[str, Any]:
        return {"backend": "milvus", "uri": self.location.uri, "collection": self.location.collection}


def _read_metadata(client: Any, location: MilvusLocation) -> dict[str, Any]:
    name = location.collection + _META_SUFFIX
    rows = (
        client.query(name, filter="key == 0", output_fields=["record"]) if client.has_collection(name) else []
    )
    try:
        record = json.loads(rows[0]["record"]) if rows else None
    except (ValueError, KeyError, TypeError):
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise MilvusError(
            f"{location} is not a vrt index (no {name} record): vrt reads and replaces only its own"
        )
    if record.get("version") != FORMAT_VERSION or not isinstance(record.get("bits"), int):
        raise MilvusError(f"{location}: vrt index format version {record.get('version')!r} is not supported")
    return record


def _all_rows(client: Any, collection: str) -> Iterator[list[dict[str, Any]]]:
    iterator = client.query_iterator(
        collection, batch_size=10_000, output_fields=["position", "item", "label", "code"]
    )
    try:
        while batch := iterator.next():
            yield batch
    finally:
        iterator.close()
