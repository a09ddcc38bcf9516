"""Numeric tables from CSV/TSV files, and the text-file plumbing the other loaders share.

``load_table(path, columns=, labels=, standardize=)`` reads a delimited text file with pandas' C
parser (fast path) and only when that parse fails or its result holds a missing or non-finite value
walks the file line by line to say exactly where the problem is (file, line, column).

Choices where the format is ambiguous:

- Delimiter: comma, tab or semicolon when one of them splits every sampled line into the same number
  (> 1) of fields (the one giving the most fields wins); otherwise runs of whitespace.
- Header: the first row is a header when some column is non-numeric in it and numeric below it, or
  when it contains a name asked for in ``columns``/``labels``; otherwise columns are named
  ``c0, c1, ...``.
- Row ids: a column named ``id`` (any case) becomes the row ids (kept as strings, excluded from the
  features) unless it is picked in ``columns``; otherwise rows are ``"0" .. "N-1"``.
- Features: the columns picked in ``columns`` (names or a comma-separated string), else every column
  except the label and id columns. A column where fewer than half the cells are numbers is excluded
  with a note (a text column); a column where most cells are numbers but one is not is an error naming
  that cell. In a table of text columns only (yes/no answers), or when picked, a text column with
  exactly two values (yes/no, y/n; missing markers aside) is encoded 0/1 with a note (the yes-like or alphabetically later value is 1). Text columns are listed in
  ``text_columns`` (ground-truth candidates).
- Missing values: empty cells and the markers ``?``, ``NA``, ``N/A``, ``NULL`` in a feature column
  are missing; ``missing="error"`` (default) raises :class:`MissingValuesError` (first cell, row
  count), ``missing="drop"`` drops those rows with a note (row ids keep the file's numbering).
  NaN and inf in a feature column are errors.
- Labels: ``labels`` names a column kept as ground truth (strings; empty cells become ``None``).
- Decimal commas (``1,5;2,5``): refused with a message saying so (a comma is never read as a
  decimal mark: ``1,000`` would be ambiguous).
- A header naming a column twice: the second becomes ``a.1`` with a note; picking such a name in
  ``columns`` or ``labels`` is an error (which one is meant?), and so is naming a column twice
  in ``columns``.
- Magnitude: a feature value beyond 1e150 in magnitude is refused unless ``standardize`` is on
  (the models square and sum values; beyond that, squares overflow double precision and the fit
  ends in inf/NaN). Standardising divides each column by its largest magnitude before taking the
  mean and standard deviation, so it never overflows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.data.types import DataError, TableData

_HEAD_BYTES = 1 << 16       # how much of the file the sniffers look at
_SAMPLE_LINES = 100
_CANDIDATES = (",", "\t", ";")
_NA_MARKERS = {"NA", "N/A", "NULL", "NONE", "?", "-", "--", ".", "MISSING"}
# Largest magnitude of a feature value without --standardize: its square (1e300) still fits a
# double, with room for sums over many rows.
MAX_MAGNITUDE = 1e150
_NEWLINE = re.compile(r"\r\n|\r|\n")     # universal newlines, as pandas reads them
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


# ---------------------------------------------------------------------------------------------
# Reading a text file: existence, encoding, hashing, sniffing, and the slow line-by-line scan.
# ---------------------------------------------------------------------------------------------

@dataclass
class Source:
    """A text file's bytes with what every loader needs to know about them."""

    path: str
    data: bytes            # the file's bytes without a UTF-8 byte-order mark
    sha256: str
    bom: int               # bytes of byte-order mark stripped (0 or 3)
    _text: str | None = None

    def text(self) -> str:
        """The whole file decoded (UTF-8 already validated)."""
        if self._text is None:
            self._text = self.data.decode("utf-8")
        return self._text

    def head_lines(self, comment: str = "") -> list[str]:
        """Up to ``_SAMPLE_LINES`` non-blank, non-comment lines from the start of the file."""
        head = self.data[:_HEAD_BYTES]
        if len(self.data) > _HEAD_BYTES and b"\n" in head:
            head = head[: head.rindex(b"\n")]
        text = head.decode("utf-8", errors="replace")
        out = []
        for line in _NEWLINE.split(text):
            s = line.strip()
            if not s or (comment and s[0] in comment):
                continue
            out.append(line)
            if len(out) >= _SAMPLE_LINES:
                break
        return out


def read_source(path) -> Source:
    """Read a file's bytes, hash them and check they are UTF-8 text; raise DataError otherwise."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", path=path)
    if p.is_dir():
        raise DataError("is a directory, not a file", path=path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", path=path) from None
    sha = hashlib.sha256(data).hexdigest()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError("unknown encoding: the file is UTF-16 (byte-order mark at byte offset 0), "
                        "not UTF-8; save it as UTF-8", path=path)
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if bom:
        data = data[bom:]
    if not data or data.isspace():
        raise DataError("the file is empty", path=path)
    nul = data.find(b"\x00", 0, _HEAD_BYTES)
    if nul >= 0:
        raise DataError(f"unknown encoding: NUL byte at byte offset {nul + bom}; this is not a UTF-8 "
                        "text file (binary, or UTF-16 without a byte-order mark?)",
                        path=path, line=data.count(b"\n", 0, nul) + 1)
    text = None
    if not data.isascii():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            bad = data[e.start]
            raise DataError(f"unknown encoding: byte 0x{bad:02x} at byte offset {e.start + bom} is "
                            "not valid UTF-8; save the file as UTF-8",
                            path=path, line=data.count(b"\n", 0, e.start) + 1) from None
    return Source(path=str(path), data=data, sha256=sha, bom=bom, _text=text)


def split_line(line: str, sep: str | None) -> list[str]:
    """Fields of one line: ``sep`` None means runs of whitespace; quotes honoured otherwise."""
    if sep is None:
        return line.split()
    try:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    except csv.Error:       # a stray quote or carriage return: plain splitting is what we can do
        return line.split(sep)


def sniff_separator(lines: list[str]) -> str | None:
    """Comma, tab or semicolon when one splits every line into the same number (> 1) of fields
    (most fields wins), else None (runs of whitespace); a single-column file gives ","."""
    best, best_n = None, 1
    for cand in _CANDIDATES:
        if not any(cand in ln for ln in lines):
            continue
        counts = {len(split_line(ln, cand)) for ln in lines}
        if len(counts) == 1 and (n := counts.pop()) > best_n:
            best, best_n = cand, n
    if best is not None:
        return best
    counts = {len(ln.split()) for ln in lines}
    if len(counts) == 1 and counts.pop() > 1:
        return None
    # Ragged sample: take the delimiter that appears in most lines, so the ragged-row error that
    # follows talks about the right fields.
    present = [(sum(c in ln for ln in lines), c) for c in _CANDIDATES]
    n, cand = max(present)
    if n > 0:
        return cand
    if any(len(ln.split()) > 1 for ln in lines):
        return None
    return ","


def is_number(s: str) -> bool:
    s = s.strip()
    if not s:
        return False
    try:
        float(s)
    except ValueError:
        return False
    return True


def records(src: Source, sep: str | None, comment: str = ""):
    """Yield ``(line_number, fields)`` for every non-blank, non-comment record of the file.

    The slow path: used only to locate a problem after the fast parse failed or found one.
    Line numbers are 1-based and count every line of the file (header, blanks and comments).
    """
    text = src.text()
    if sep is None:
        for k, line in enumerate(_NEWLINE.split(text), start=1):
            s = line.strip()
            if not s or (comment and s[0] in comment):
                continue
            yield k, s.split()
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    prev = 0
    for fields in _csv_rows(reader, src):
        start = prev + 1
        prev = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if comment and fields[0].lstrip()[:1] in tuple(comment):
            continue
        yield start, fields


def _csv_rows(reader, src: Source):
    """The csv reader's rows; its own errors (a stray quote, an over-long field) as DataErrors."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(f"cannot parse the line ({e})", path=src.path,
                            line=reader.line_num) from None
        yield fields


def check_number(cell: str, *, src: Source, line: int, column: str, what: str = "value") -> float:
    """Parse one cell as a finite float or raise a DataError naming where it is."""
    s = cell.strip()
    if not s:
        raise DataError(f"empty cell: a missing {what}; fill it in or remove the row",
                        path=src.path, line=line, column=column)
    try:
        v = float(s)
    except ValueError:
        hint = " (a missing-value marker; fill it in or remove the row)" if s.upper() in \
            _NA_MARKERS else ""
        raise DataError(f"non-numeric {what} {s!r}{hint}", path=src.path, line=line,
                        column=column) from None
    if not math.isfinite(v):
        raise DataError(f"{what} {s!r} is not a finite number (NaN and inf are not allowed)",
                        path=src.path, line=line, column=column)
    return v


def read_frame(src: Source, sep: str | None, *, header: bool, comment: str | None = None,
               dtype=None, skipinitialspace: bool = False) -> pd.DataFrame:
    """pandas C-engine parse of the whole file; raises pandas' own errors (callers locate them).

    pandas reads the file by its path (measurably faster than from an in-memory buffer); it
    skips a UTF-8 byte-order mark itself.
    """
    kw = dict(sep=r"\s+" if sep is None else sep, header=0 if header else None, index_col=False,
              keep_default_na=False, na_values=[""], engine="c", dtype=dtype, comment=comment,
              encoding="utf-8")
    if sep is not None and skipinitialspace:
        kw["skipinitialspace"] = True
    with warnings.catch_warnings():
        # A header shorter than the data rows makes pandas drop data with only a warning.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        # Mixed types in a column: the loaders check every column's cells themselves.
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        return pd.read_csv(src.path, **kw)


PARSE_ERRORS = (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
                UnicodeDecodeError, ValueError, IndexError)


def check_ragged(src: Source, sep: str | None, expected: int, comment: str = "") -> None:
    """Raise a DataError at the first record whose field count differs from ``expected``."""
    for line, fields in records(src, sep, comment):
        if len(fields) != expected:
            raise DataError(f"ragged row: expected {expected} fields, found {len(fields)}",
                            path=src.path, line=line)


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique the way pandas does it (``a``, ``a.1``, ``a.2``)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        new, k = name, 0
        while new in seen:
            k += 1
            new = f"{name}.{k}"
        seen.add(new)
        out.append(new)
    return out


def row_ids(n: int) -> np.ndarray:
    """``"0" .. "n-1"`` as a str array."""
    return np.arange(n).astype(str)


def parse_names(names, what: str = "columns") -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [s.strip() for s in names.split(",") if s.strip()]
    return [str(s) for s in names]


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def _has_header(lines: list[str], sep: str | None, wanted: set[str]) -> bool:
    rows = [split_line(ln, sep) for ln in lines]
    first = [s.strip() for s in rows[0]]
    if wanted & set(first):
        return True
    rest = rows[1:]
    if not rest:
        # A lone row: a header when nothing in it is a number.
        return not any(is_number(s) for s in first)
    for j, cell in enumerate(first):
        if not cell or is_number(cell):
            continue
        below = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if below and sum(is_number(c) for c in below) * 2 > len(below):
            return True
    # An all-text table (yes/no answers): a header names each column once, above a column of
    # at most two values (missing-value markers aside) that never repeats the name.
    cols = [{r[j].strip() for r in rest if j < len(r)} - _MISSING_CELLS
            for j in range(len(first))]
    return (len(rest) > 2 and all(cell and not is_number(cell) and cell not in col
                                  for cell, col in zip(first, cols))
            and any(0 < len(col) <= 2 for col in cols))


def _data_line(src: Source, sep, header: bool, k: int) -> int | None:
    """File line number of data row ``k`` (0-based)."""
    for n, (line, _) in enumerate(records(src, sep)):
        if n == k + header:
            return line
    return None


def _locate_table_problem(src: Source, sep, header: bool, names: list[str],
                          features: list[int]) -> None:
    """Walk the file and raise a DataError at the first ragged row or bad feature cell."""
    expected = len(names)
    it = records(src, sep)
    if header:
        next(it, None)
    for line, fields in it:
        if len(fields) != expected:
            raise DataError(f"ragged row: expected {expected} fields, found {len(fields)}",
                            path=src.path, line=line)
        for j in features:
            check_number(fields[j], src=src, line=line, column=names[j])


MISSING_CHOICES = ("error", "drop")
_MISSING_CELLS = {"", "?", "NA", "N/A", "NULL"}
_YES = {"y", "yes", "true", "t", "on", "1"}
_NAN_TOKEN = re.compile(rb"(?i)(?<![\w.])[+-]?nan(?![\w.])")


class MissingValuesError(DataError):
    """Feature cells empty or a missing-value marker (``?``, ``NA``) with ``missing="error"``;
    ``rows`` counts the rows that ``missing="drop"`` would drop."""

    def __init__(self, problem: str, *, rows: int, **where):
        self.rows = rows
        super().__init__(problem, **where)


def _missing_cells(col: pd.Series) -> np.ndarray:
    """Empty cells and missing-value markers of a text column (bool array)."""
    marker = col.astype(str).str.strip().str.upper().isin(_MISSING_CELLS)
    return (col.isna() | marker).to_numpy()


def _encode_two_valued(col: pd.Series, miss: np.ndarray):
    """A text column with exactly two values (yes/no, y/n, male/female) as 0/1 (NaN where
    missing): ``(values, value_0, value_1)``, the yes-like value (or the later one) as 1."""
    cells = col[~miss].astype(str).str.strip()
    uniq = sorted(cells.unique())
    if len(uniq) != 2 or len(cells) < 3:      # two rows of names are not yes/no answers
        return None
    lo, hi = uniq
    if lo.lower() in _YES and hi.lower() not in _YES:
        lo, hi = hi, lo
    v = np.full(len(col), np.nan)
    v[~miss] = (cells == hi).to_numpy(dtype=np.float64)
    return v, lo, hi


def _cell_of_row(src: Source, sep, header: bool, row: int, j: int) -> tuple[int, str]:
    """File line and text of data row ``row`` (0-based), field ``j``."""
    it = records(src, sep)
    if header:
        next(it, None)
    for r, (line, fields) in enumerate(it):
        if r == row:
            return line, fields[j] if j < len(fields) else ""
    return None, ""


def _decimal_commas(src: Source, lines: list[str]) -> None:
    """Raise a DataError when the numbers look written with decimal commas (``1,5;2,5``)."""
    for sep in (";", "\t"):
        rows = [split_line(ln, sep) for ln in lines]
        if len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
            continue
        hits = [k for k, r in enumerate(rows) if any(_DECIMAL_COMMA.match(c) for c in r)]
        if hits and len(hits) * 2 >= len(rows) - 1:
            k = hits[0]
            cell = next(c.strip() for c in rows[k] if _DECIMAL_COMMA.match(c))
            raise DataError(f"the numbers use a decimal comma ({cell!r}); this loader reads '.' "
                            "as the decimal mark: save the file with '.' decimals (or convert "
                            "it) and load it again", path=src.path,
                            line=_line_of(src, lines[k]))


def _line_of(src: Source, line: str) -> int | None:
    """1-based line number of the first line of the file equal to ``line``."""
    for k, ln in enumerate(_NEWLINE.split(src.text()), start=1):
        if ln == line:
            return k
    return None


def _safe_standardize(X: np.ndarray):
    """Column means and standard deviations without overflow: each column is divided by its
    largest magnitude first when its values are large (values near 1e200 overflowed x**2)."""
    big = np.abs(X).max(axis=0) > 1e100
    if not big.any():
        return X.mean(axis=0), X.std(axis=0)
    m = np.where(big, np.abs(X).max(axis=0), 1.0)
    Y = X / m
    return Y.mean(axis=0) * m, Y.std(axis=0) * m


def load_table(path, *, columns=None, labels=None, standardize: bool = False,
               missing: str = "error") -> TableData:
    """Load a numeric table from a CSV/TSV file; see the module docstring for the rules.

    ``missing``: what to do with rows whose feature cells are empty or a missing-value marker
    (``?``, ``NA``): ``"error"`` (a :class:`MissingValuesError` counting them) or ``"drop"``.
    """
    if missing not in MISSING_CHOICES:
        raise DataError(f"missing = {missing!r}: expected one of {', '.join(MISSING_CHOICES)}",
                        path=path)
    src = read_source(path)
    wanted = parse_names(columns)
    twice = sorted({c for c in wanted if wanted.count(c) > 1})
    if twice:
        raise DataError(f"column(s) {', '.join(repr(c) for c in twice)} named twice in the "
                        "feature columns; name each once", path=src.path)
    label_name = None if labels is None else str(labels).strip()
    lines = src.head_lines()
    if not lines:
        raise DataError("the file holds only blank lines", path=src.path)
    _decimal_commas(src, lines)
    sep = sniff_separator(lines)
    header = _has_header(lines, sep, set(wanted) | ({label_name} if label_name else set()))
    try:
        df = read_frame(src, sep, header=header)
    except PARSE_ERRORS as e:
        n0 = len(split_line(lines[0], sep))
        _locate_table_problem(src, sep, header, [f"c{j}" for j in range(n0)], [])
        raise DataError(f"cannot parse the file as a table: {str(e).strip()}",
                        path=src.path) from None
    notes: list[str] = []
    if header:
        raw = split_line(lines[0], sep)
        raw = [c.strip() for c in raw] if len(raw) == df.shape[1] else \
            [str(c).strip() for c in df.columns]
        names = unique_names(raw)
        dup = [c for k, c in enumerate(raw) if c in raw[:k]]
        if dup:
            shown = ", ".join(f"{c!r}" for c in dict.fromkeys(dup))
            asked = [c for c in dict.fromkeys(dup) if c in wanted or c == label_name]
            if asked:
                raise DataError(f"the header names column {asked[0]!r} more than once: which "
                                "one is meant? rename the columns", path=src.path, line=1)
            renamed = ", ".join(n for n, c in zip(names, raw) if n != c)
            notes.append(f"the header repeats {shown}; the repeats are called {renamed}")
    else:
        names = [f"c{j}" for j in range(df.shape[1])]
    df.columns = names
    if len(df) == 0:
        raise DataError("no data rows (only a header line)", path=src.path)
    if df.shape[1] > 1 and df.iloc[:, -1].isna().any():
        # pandas pads short rows with missing values: tell a short row from an empty last cell.
        check_ragged(src, sep, len(names))

    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise DataError(f"unknown feature column(s) {', '.join(repr(c) for c in unknown)}; the "
                        f"file has: {', '.join(names)}", path=src.path)
    if label_name and label_name not in names:
        raise DataError(f"unknown label column {label_name!r}; the file has: {', '.join(names)}",
                        path=src.path)
    if label_name and label_name in wanted:
        raise DataError(f"column {label_name!r} is both the label column and a feature",
                        path=src.path)

    id_name = next((c for c in names if c.lower() == "id" and c != label_name
                    and c not in wanted), None)
    if wanted:
        feats = list(wanted)
    else:
        feats = [c for c in names if c not in (label_name, id_name)]

    numeric: list[str] = []
    values: dict[str, np.ndarray] = {}      # feature columns converted here (markers -> NaN)
    two_valued: dict[str, tuple] = {}
    text: set[str] = set()
    for c in feats:
        col = df[c]
        if col.dtype.kind in "iufb":
            numeric.append(c)
            continue
        miss = _missing_cells(col)
        filled = ~miss
        n_filled = int(filled.sum())
        parsed = pd.to_numeric(col[filled].astype(str).str.strip(), errors="coerce")
        n_num = int(parsed.notna().sum())
        if n_filled and n_num == n_filled:          # numbers, with missing-value markers
            v = np.full(len(col), np.nan)
            v[filled] = parsed.to_numpy(dtype=np.float64)
            values[c] = v
            numeric.append(c)
            continue
        encoded = _encode_two_valued(col, miss) if n_num == 0 else None
        if encoded is not None:
            two_valued[c] = encoded
            numeric.append(c)
            text.add(c)
            continue
        if not wanted:
            if n_filled == 0 or n_num * 2 < n_filled:
                notes.append(f"column {c!r} is not numeric; excluded from the features")
                text.add(c)
                continue
        # Picked explicitly, or mostly numeric with a bad cell: say where.
        _locate_table_problem(src, sep, header, names, [names.index(c)])
        raise DataError("column is not numeric", path=src.path, column=c)
    # Two-valued text columns are encoded only in an all-text table (yes/no answers); beside
    # numeric columns such a column (a diagnosis, a sex) is more likely ground truth: excluded.
    all_text = len(two_valued) == len(numeric)
    for c, (v, lo, hi) in two_valued.items():
        if all_text or c in wanted:
            values[c] = v
            notes.append(f"column {c!r} holds two values: encoded {lo} = 0, {hi} = 1")
        else:
            numeric.remove(c)
            notes.append(f"column {c!r} is not numeric; excluded from the features")
    if not numeric:
        raise DataError("no numeric columns" + (f" ({'; '.join(notes)})" if notes else ""),
                        path=src.path)
    for c in names:
        if c not in feats and c != id_name and df[c].dtype.kind not in "iufb":
            parsed = pd.to_numeric(df[c].dropna().astype(str).str.strip(), errors="coerce")
            if parsed.notna().sum() * 2 < len(parsed):
                text.add(c)

    if values:
        X = np.empty((len(df), len(numeric)))
        for j, c in enumerate(numeric):
            X[:, j] = values[c] if c in values else df[c].to_numpy(dtype=np.float64)
    else:
        X = np.ascontiguousarray(df[numeric].to_numpy(dtype=np.float64))
        if not X.flags.writeable:
            # pandas' copy-on-write hands out a read-only view when no copy was needed (one
            # column): numba compiles separate kernels for read-only arrays, so every table is
            # writable.
            X = X.copy()
    n_rows = len(X)
    keep = None
    nan_rows = np.isnan(X).any(axis=1)
    if nan_rows.any():
        if _NAN_TOKEN.search(src.data):
            # a literal NaN is an error (not a missing value): say where, if it is a feature's
            _locate_table_problem(src, sep, header, names,
                                  [names.index(c) for c in numeric if c not in values])
        n_missing = int(nan_rows.sum())
        if missing == "drop":
            keep = ~nan_rows
            if not keep.any():
                raise DataError(f"every row has a missing value ({', '.join(numeric)})",
                                path=src.path)
            X = np.ascontiguousarray(X[keep])
            df = df.loc[keep]
            notes.append(f"dropped {n_missing} of {n_rows} rows with missing values")
        else:
            r = int(np.argmax(nan_rows))
            column = numeric[int(np.argmax(np.isnan(X[r])))]
            line, cell = _cell_of_row(src, sep, header, r, names.index(column))
            what = f"missing value {cell.strip()!r}" if cell.strip() else \
                "empty cell (a missing value)"
            rows = "1 row has" if n_missing == 1 else f"{n_missing} rows have"
            raise MissingValuesError(
                f"{what}; {rows} missing values: drop them (--missing drop; in the window "
                "'Drop rows with missing values') or fill them in",
                rows=n_missing, path=src.path, line=line, column=column)
    if not np.isfinite(X).all():
        _locate_table_problem(src, sep, header, names, [names.index(c) for c in numeric])
        raise DataError("missing or non-finite values", path=src.path)
    if not standardize:
        huge = np.abs(X) > MAX_MAGNITUDE
        if huge.any():
            i, j = np.argwhere(huge)[0]
            raise DataError(f"value {X[i, j]:g} is too large: beyond {MAX_MAGNITUDE:g} in "
                            "magnitude the models' squares and sums overflow; rescale the "
                            "column or standardise the columns (--standardize)",
                            path=src.path, line=_data_line(src, sep, header, int(i)),
                            column=numeric[j])

    if id_name is not None:
        ids = df[id_name].astype(str).str.strip().to_numpy(dtype=str)
        if len(set(ids)) != len(ids):
            notes.append(f"column {id_name!r} has repeated values; rows are numbered instead")
            ids = row_ids(n_rows) if keep is None else row_ids(n_rows)[keep]
        else:
            notes.append(f"column {id_name!r} used as row ids")
    else:
        ids = row_ids(n_rows) if keep is None else row_ids(n_rows)[keep]

    y = None
    if label_name:
        col = df[label_name]
        missing = col.isna().to_numpy()
        y = col.astype(str).str.strip().to_numpy(dtype=object)
        y[missing] = None

    offset = scale = None
    if standardize:
        offset, scale = _safe_standardize(X)
        if not X.flags.writeable:
            X = X.copy()
        flat = scale == 0
        if flat.any():
            notes.append("constant column(s) " + ", ".join(repr(numeric[k]) for k in
                                                          np.flatnonzero(flat))
                         + " left unscaled (zero variance)")
            scale[flat] = 1.0
        X -= offset
        X /= scale

    return TableData(X=X, columns=numeric, ids=ids, labels=y, label_name=label_name,
                     path=src.path, sha256=src.sha256, standardized=bool(standardize),
                     offset=offset, scale=scale, notes=notes,
                     text_columns=[c for c in names if c in text])
