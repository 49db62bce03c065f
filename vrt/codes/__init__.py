"""Binary codes: the code set, its interchange file, and the model that made it.

``vrt export``, ``vrt encode`` and training write codes files; ``vrt eval``, ``vrt index`` and
``vrt search`` read them. A :class:`CodeSet` holds codes packed 8 bits to a byte, their labels
(:data:`UNLABELLED` for an item of no known class), ids, class names and the
:class:`EncoderIdentity` of the model that made them; :func:`check_comparable` is the one check
that two sets of codes (or an index and a checkpoint) may be ranked against each other.

numpy only, never torch: loading codes must stay fast for command-line tools.
"""

from __future__ import annotations

from vrt.codes.codeset import (
    UNLABELLED,
    CodeSet,
    check_bits,
    merge_class_names,
    pack_bits,
    source_groups,
    unpack_bits,
)
from vrt.codes.files import codeset_arrays, is_codes_file, load_codes, save_codes
from vrt.codes.identity import CodesWarning, EncoderIdentity, check_comparable
from vrt.errors import ClassNamesError, CodesFileError, IncomparableCodesError

__all__ = [
    "UNLABELLED",
    "ClassNamesError",
    "CodeSet",
    "CodesFileError",
    "CodesWarning",
    "EncoderIdentity",
    "IncomparableCodesError",
    "check_bits",
    "check_comparable",
    "codeset_arrays",
    "is_codes_file",
    "load_codes",
    "merge_class_names",
    "pack_bits",
    "save_codes",
    "source_groups",
    "unpack_bits",
]
