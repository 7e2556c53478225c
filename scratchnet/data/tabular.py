"""Tabular classification from a CSV file: the lecture's Otto Group exercise.

The Otto data (``train.csv``) has a header ``id,feat_1,...,feat_93,target`` and one
product per row: an id, 93 integer counts and a class name ``Class_1``..``Class_9``.
``CSVDataset(path, target_column="target", drop_columns=("id",))`` turns it into
float32 features ``(N, 93)`` and int64 class indices ``(N,)`` in ``0..8``: the
custom ``Dataset`` the lecture asks for, ready for :class:`~scratchnet.data.DataLoader`.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..checks import float_dtype
from .idx import CorruptDataError
from .loader import ArrayDataset

__all__ = ["CSVDataset", "sort_classes"]

_CHUNK_ROWS = 8192  # rows parsed per NumPy conversion: bounds the memory held as Python strings


def _natural_key(label: str):
    # re.split with a capturing group alternates non-digit text (even positions) and
    # digit runs (odd positions), so compared keys always meet str with str, int with int.
    parts = re.split(r"(\d+)", label)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), label


def sort_classes(labels) -> list:
    """Sort class names the way a person would: numerically, or in natural order.

    Parameters
    ----------
    labels : iterable of str
        Distinct class names.

    Returns
    -------
    list of str
        If every name is a finite number (``'0'``, ``'2.5'``, ``'-1'``), ordered by value;
        otherwise in natural order, where digit runs compare as integers, so
        ``Class_2`` precedes ``Class_10`` (plain ``sorted`` would put it after).
        Ties (``'1'`` and ``'1.0'``, ``'07'`` and ``'7'``) are broken by the string.
    """
    labels = list(labels)
    try:
        values = [float(s) for s in labels]
    except ValueError:
        values = None
    if values is not None and all(np.isfinite(values)):
        return [s for _, s in sorted(zip(values, labels))]
    return sorted(labels, key=_natural_key)


class CSVDataset(ArrayDataset):
    """Numeric feature columns and one class column of a CSV file, as arrays.

    Parameters
    ----------
    path : str or os.PathLike
        CSV file with a header row. Blank lines are skipped; a UTF-8 byte-order
        mark is ignored.
    target_column : str, optional
        Name of the class column. Defaults to the last column.
    drop_columns : sequence of str, default ()
        Columns that are neither features nor target, e.g. ``("id",)`` for Otto.
    classes : sequence of str, optional
        The class names in index order. By default, the distinct values of the
        target column ordered by :func:`sort_classes`. Pass the training set's
        ``classes`` when loading a validation file, so both map names alike.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Feature dtype. Values are parsed as float64, then cast (as
        ``pandas.read_csv(...).to_numpy(np.float32)`` would).
    delimiter : str, default ","

    Attributes
    ----------
    features : numpy.ndarray
        ``(N, F)`` of ``dtype``, the columns other than the target and dropped ones,
        in file order.
    targets : numpy.ndarray
        ``(N,)`` int64 class indices in ``0..K-1``.
    classes : list of str
        ``K`` class names; ``targets == k`` means ``classes[k]``.
    class_to_idx : dict
        ``{name: index}``.
    feature_names : list of str
        Names of the ``F`` feature columns.
    path : pathlib.Path

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty or has no data rows; a named column is missing or
        duplicated; no feature column is left; a row has the wrong number of
        fields; a feature value is not a number (the message gives line, column
        and value); a class name is empty or absent from ``classes``.
    CorruptDataError
        (a ValueError) If the file is not UTF-8 (the message gives the line and the
        byte) or the csv module cannot parse it (the line).

    Examples
    --------
    >>> train = CSVDataset("otto/train.csv", target_column="target", drop_columns=("id",))  # doctest: +SKIP
    >>> train.features.shape, train.classes[:2]              # doctest: +SKIP
    ((61878, 93), ['Class_1', 'Class_2'])
    >>> loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)  # doctest: +SKIP
    """

    def __init__(self, path, target_column: str | None = None, drop_columns=(), *, classes=None,
                 dtype=np.float32, delimiter: str = ",") -> None:
        self.path = Path(path)
        dtype = float_dtype("CSVDataset", dtype)
        if isinstance(drop_columns, str):
            drop_columns = (drop_columns,)
        # The reader sits in one try: the file decodes lazily, so a byte that is not
        # UTF-8 (a Latin-1 or UTF-16 export) surfaces from any next(), as does csv's
        # own error for a NUL byte or an over-long field.
        reader = None
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f, delimiter=delimiter)
                header = next(reader, None)
                while header is not None and not header:  # leading blank lines
                    header = next(reader, None)
                if header is None:
                    raise ValueError(f"CSVDataset: {self.path} is empty (no header row)")
                header = [h.strip() for h in header]
                target_idx, feature_idx = self._columns(header, target_column, tuple(drop_columns))
                blocks, raw_labels = [], []
                rows, lines = [], []
                for row in reader:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    if len(row) != len(header):
                        raise ValueError(
                            f"CSVDataset: {self.path} line {reader.line_num} has {len(row)} fields, "
                            f"the header has {len(header)}"
                        )
                    rows.append(row)
                    lines.append(reader.line_num)
                    if len(rows) == _CHUNK_ROWS:
                        blocks.append(self._parse(rows, lines, header, feature_idx))
                        raw_labels.extend(r[target_idx].strip() for r in rows)
                        rows, lines = [], []
                if rows:
                    blocks.append(self._parse(rows, lines, header, feature_idx))
                    raw_labels.extend(r[target_idx].strip() for r in rows)
        except UnicodeDecodeError:
            raise CorruptDataError(self._not_utf8()) from None
        except csv.Error as err:
            line = reader.line_num if reader is not None else 1
            raise CorruptDataError(f"CSVDataset: {self.path} line {line}: {err}") from None
        if not raw_labels:
            raise ValueError(f"CSVDataset: {self.path} has a header but no data rows")
        if "" in raw_labels:
            raise ValueError(
                f"CSVDataset: {self.path} has an empty value in target column {header[target_idx]!r} "
                f"(data row {raw_labels.index('') + 1})"
            )
        self.classes = self._classes(raw_labels, classes, header[target_idx])
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        targets = np.array([self.class_to_idx[label] for label in raw_labels], dtype=np.int64)
        features = np.concatenate(blocks).astype(dtype, copy=False)
        self.feature_names = [header[j] for j in feature_idx]
        super().__init__(features, targets)

    @property
    def features(self) -> np.ndarray:
        """``(N, F)`` feature matrix."""
        return self.arrays[0]

    @property
    def targets(self) -> np.ndarray:
        """``(N,)`` int64 class indices."""
        return self.arrays[1]

    def _columns(self, header, target_column, drop_columns):
        duplicates = sorted({h for h in header if header.count(h) > 1})
        named = set(drop_columns) | ({target_column} if target_column is not None else set())
        clash = [d for d in duplicates if d in named]
        if clash:
            raise ValueError(f"CSVDataset: {self.path} has more than one column named {clash[0]!r}")
        missing = [c for c in (target_column, *drop_columns) if c is not None and c not in header]
        if missing:
            raise ValueError(
                f"CSVDataset: {self.path} has no column {missing[0]!r}; columns are {', '.join(header)}"
            )
        target_idx = len(header) - 1 if target_column is None else header.index(target_column)
        if header[target_idx] in drop_columns:
            raise ValueError(f"CSVDataset: target column {header[target_idx]!r} is also in drop_columns")
        dropped = {header.index(c) for c in drop_columns}
        feature_idx = [j for j in range(len(header)) if j != target_idx and j not in dropped]
        if not feature_idx:
            raise ValueError(
                f"CSVDataset: {self.path} leaves no feature column (columns {', '.join(header)}; "
                f"target {header[target_idx]!r}, dropped {', '.join(drop_columns) or 'none'})"
            )
        return target_idx, feature_idx

    def _not_utf8(self) -> str:
        """Describe the first byte of the file that is not UTF-8 (only run once decoding failed)."""
        raw = self.path.read_bytes()
        body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            at = err.start + len(raw) - len(body)
            line = raw.count(b"\n", 0, at) + 1
            return (
                f"CSVDataset: {self.path} line {line} is not UTF-8: byte 0x{raw[at]:02X} at "
                f"offset {at} ({err.reason}); save the file as UTF-8"
            )
        return f"CSVDataset: {self.path} is not UTF-8"

    def _parse(self, rows, lines, header, feature_idx) -> np.ndarray:
        cells = np.array([[row[j] for j in feature_idx] for row in rows], dtype=str)
        try:
            return cells.astype(np.float64)
        except ValueError as err:
            located = self._bad_cell(cells, lines, header, feature_idx)
            raise ValueError(located or f"CSVDataset: {self.path}: {err}") from None

    def _bad_cell(self, cells, lines, header, feature_idx) -> str | None:
        """Describe the first cell NumPy cannot parse (only run once parsing has failed)."""
        for i, row in enumerate(cells):
            for k, value in enumerate(row):
                try:
                    np.array(value).astype(np.float64)
                except ValueError:
                    what = "an empty (missing) value" if not value.strip() else f"non-numeric value {str(value)!r}"
                    return (
                        f"CSVDataset: {self.path} line {lines[i]}, feature column "
                        f"{header[feature_idx[k]]!r}: {what}; feature columns must be numbers "
                        "(list other columns in drop_columns)"
                    )
        return None

    def _classes(self, raw_labels, classes, column):
        present = set(raw_labels)
        if classes is None:
            return sort_classes(present)
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            raise ValueError(f"CSVDataset: classes contains duplicates: {classes}")
        unknown = sort_classes(present - set(classes))
        if unknown:
            raise ValueError(
                f"CSVDataset: {self.path} column {column!r} has class(es) {', '.join(map(repr, unknown))} "
                f"not in the given classes {classes}"
            )
        return classes
