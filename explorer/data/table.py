"""Numeric tables from CSV/TSV files, and the text-file plumbing the other loaders share.

``load_table(path, columns=, labels=, standardize=)`` reads a delimited text file with pandas' C
parser (fast path) and only when that parse fails or its result holds a missing or non-finite value
walks the file line by line to say exactly where the problem is (file, line, column).

Every text loader reads a file through :func:`open_source` (regular file, first bytes: another
format named, UTF-16, NUL; no hash: enough for the sniffers) and :func:`read_source` (one streaming
pass: sha256, UTF-8 and NUL throughout, no field longer than ``MAX_FIELD_BYTES`` = 1 MiB). Nothing
holds the whole file; pandas parses it by its path and the slow path streams it.

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
  A numeric feature column that looks like a label or a date is kept as a feature, flagged in
  ``label_candidates`` / ``calendar_columns`` with a note (:func:`flag_columns`).
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

import codecs
import csv
import hashlib
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from explorer.data.pipeline import (
    MAX_MAGNITUDE,
    ColumnChoice,
    build_table,
    check_choice,
    check_missing,
    column_choice,
    dropped_rows,
    feature_columns,
    id_column,
    missing_values_error,
    name_columns,
    no_numeric_columns,
    row_ids,
    row_ids_from,
    too_large,
)

# re-exported: the window and the tests import these from here
from explorer.data.pipeline import MissingValuesError as MissingValuesError
from explorer.data.pipeline import repeats as repeats
from explorer.data.types import DataError, TableData

_HEAD_BYTES = 1 << 16  # how much of the file the sniffers look at (at least)
_HEAD_MAX_BYTES = 1 << 22  # ... and at most, to see a few whole lines of a very wide file
_HEAD_MIN_LINES = 3
_SAMPLE_LINES = 100
_CHUNK_BYTES = 1 << 20  # the streaming scan's read size
# The longest field a text file may hold: a run of more bytes than this without a separator or a
# line break is refused during the scan, before any parser builds it as a string (a 200-million
# character field cost 2.3 GB before it was refused). 1 MiB is far beyond any number or name.
MAX_FIELD_BYTES = 1 << 20
_CANDIDATES = (",", "\t", ";")
_NA_MARKERS = {"NA", "N/A", "NULL", "NONE", "?", "-", "--", ".", "MISSING"}
_NEWLINE = re.compile(r"\r\n|\r|\n")  # universal newlines, as pandas reads them
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
# The slow path's csv reader must accept every field the scan let through.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_BYTES + 1))

# Formats that are not delimited text, by their first bytes: what to call them in an error.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (
        b"PK\x03\x04",
        "a zip archive (or an Excel .xlsx / OpenDocument file, which are zip "
        "archives: save the sheet as CSV)",
    ),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
    (b"BZh", None),  # bzip2 only with its block magic, below
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (b"(\xb5/\xfd", "a zstd-compressed file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old Microsoft Office file (an Excel .xls? save the sheet as CSV)",
    ),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"PAR1", "a Parquet file (give it the .parquet extension)"),
    (b"ARROW1", "a Feather / Arrow IPC file (give it the .feather extension)"),
    (b"\x93NUMPY", "a NumPy .npy array (give it the .npy extension)"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"\x80\x04\x95", "a Python pickle (never loaded: it could run code)"),
    (b"\x80\x05\x95", "a Python pickle (never loaded: it could run code)"),
)
_BREAK = re.compile(rb"[\n\r,;\t ]")
_WEBP = re.compile(rb"^RIFF....WEBP", re.S)
_BZIP2 = re.compile(rb"^BZh[1-9]1AY&SY", re.S)


def binary_format(head: bytes) -> str | None:
    """What a file that is not text is, from its first bytes ("a PNG image"), else None."""
    for magic, what in _SIGNATURES:
        if what and head.startswith(magic):
            return what
    if _BZIP2.match(head):
        return "a bzip2-compressed file (decompress it first)"
    if _WEBP.match(head):
        return "a WebP image"
    return None


def regular_file(path) -> int:
    """The size of ``path``, or a DataError when it is missing or not a regular file: reading a
    FIFO, a device or a socket could block forever or never end."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError("is a directory, not a file", path=path)
    if not stat.S_ISREG(st.st_mode):
        what = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a character device"
            if stat.S_ISCHR(st.st_mode)
            else "a block device"
            if stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise DataError(
            f"is {what}, not a regular file; the explorer reads data only from "
            "regular files (save the stream to a file first)",
            path=path,
        )
    return st.st_size


# ---------------------------------------------------------------------------------------------
# Reading a text file: existence, encoding, hashing, sniffing, and the slow line-by-line scan.
# ---------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A text file: its first lines, and (after :func:`read_source`'s scan) what every loader
    needs to know about the rest. The file is never held in memory whole: parsers read it by
    its path, the slow path streams it (:func:`records`)."""

    path: str
    head: bytes  # the first whole lines (at least 64 KiB of them), byte-order mark off
    size: int  # the file's size in bytes
    bom: int  # bytes of byte-order mark stripped (0 or 3)
    whole: bool  # ``head`` is the whole file
    sha256: str | None = None  # set by the scan
    comments: str = ""  # which of "#", "%" start some line (after blanks): the scan

    def head_lines(self, comment: str = "") -> list[str]:
        """Up to ``_SAMPLE_LINES`` non-blank, non-comment lines from the start of the file."""
        text = self.head.decode("utf-8", errors="replace")
        out = []
        for line in _NEWLINE.split(text):
            s = line.strip()
            if not s or (comment and s[0] in comment):
                continue
            out.append(line)
            if len(out) >= _SAMPLE_LINES:
                break
        return out

    def lines(self):
        """The file's lines, decoded, without line ends (universal newlines), streamed."""
        with open(self.path, encoding="utf-8-sig", newline=None) as fh:
            for line in fh:
                yield line.rstrip("\r\n")

    def contains(self, pattern: re.Pattern) -> bool:
        """Whether a bytes ``pattern`` that never spans lines matches in the file (streamed)."""
        with open(self.path, "rb") as fh:
            return any(pattern.search(line) for line in fh)


def open_source(path) -> Source:
    """The first lines of a text file, checked before anything else is read: a regular file (not a
    FIFO), not empty, not another format (an image, an archive: said by name), no NUL byte, valid
    UTF-8. Nothing is hashed: sniffers (``guess_kind``) need only this."""
    size = regular_file(path)
    if size == 0:
        raise DataError("the file is empty", path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
            _sniff_binary(path, head)  # before reading more: a binary file stops here
            whole = len(head) == size
            while not whole and len(head) < _HEAD_MAX_BYTES and head.count(b"\n") < _HEAD_MIN_LINES:
                more = fh.read(len(head))
                whole = not more or len(head) + len(more) >= size
                head += more
                if len(more) > MAX_FIELD_BYTES and not _BREAK.search(more):
                    break  # one endless field: the scan refuses it
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", path=path) from None
    if not whole and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines only
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    head = head[bom:]
    if whole and (not head or head.isspace()):
        raise DataError("the file is empty", path=path)
    _check_text(path, head, offset=bom, decoder=None, final=whole)
    return Source(path=str(path), head=head, size=size, bom=bom, whole=whole)


def _sniff_binary(path, head: bytes) -> None:
    """Refuse a file whose first bytes say it is not UTF-8 text: another format (by name), UTF-16,
    a NUL byte."""
    what = binary_format(head)
    if what:
        raise DataError(
            f"this is {what}, not a data file; the explorer reads delimited text "
            "(CSV/TSV, edge lists), GML/GraphML, Parquet, Feather and .npy files",
            path=path,
        )
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(
            "unknown encoding: the file is UTF-16 (byte-order mark at byte offset 0), "
            "not UTF-8; save it as UTF-8",
            path=path,
        )
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    _check_text(path, head[bom:], offset=bom, decoder=None)


def _line_at(path, offset: int) -> int:
    """1-based line number of byte ``offset`` of the file (counted only when an error needs it)."""
    n = 0
    with open(path, "rb") as fh:
        while offset > 0 and (chunk := fh.read(min(_CHUNK_BYTES, offset))):
            n += chunk.count(b"\n")
            offset -= len(chunk)
    return n + 1


def _check_text(path, chunk: bytes, *, offset: int, decoder, final: bool = False) -> None:
    """Raise a DataError at a NUL byte or at bytes that are not UTF-8 in ``chunk`` (which starts
    at byte ``offset`` of the file). ``decoder`` carries a character split between chunks (None:
    check ``chunk`` alone, a character cut at its end allowed unless ``final``)."""
    nul = chunk.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"unknown encoding: NUL byte at byte offset {offset + nul}; this is not a "
            "UTF-8 text file (binary, or UTF-16 without a byte-order mark?)",
            path=path,
            line=_line_at(path, offset + nul),
        )
    pending = decoder is not None and decoder.getstate()[0]
    if chunk.isascii() and not pending:
        return
    dec = decoder or codecs.getincrementaldecoder("utf-8")()
    try:
        dec.decode(chunk, final)
    except UnicodeDecodeError as e:
        buf = (pending or b"") + chunk  # what the decoder saw
        at = offset - len(pending or b"") + e.start
        raise DataError(
            f"unknown encoding: byte 0x{buf[e.start]:02x} at byte offset {at} is "
            "not valid UTF-8; save the file as UTF-8",
            path=path,
            line=_line_at(path, at),
        ) from None


_COMMENT_AT_LINE_START = {c: re.compile(rb"[\r\n][ \t]*" + re.escape(c.encode())) for c in "#%"}
_BLANKS_THEN = {c: re.compile(rb"[ \t]*" + re.escape(c.encode())) for c in "#%"}


def read_source(path) -> Source:
    """Check a text file (see :func:`open_source`), then stream it once: its sha256, UTF-8 and no
    NUL byte throughout, no field longer than ``MAX_FIELD_BYTES``, and which comment characters
    start lines. Memory stays at one chunk (1 MiB) whatever the file's size."""
    src = open_source(path)
    sep = sniff_separator(src.head_lines(comment="#%") or [""])
    breaks = (b"\n", b"\r") + ((b" ", b"\t") if sep is None else (sep.encode(),))
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    run = 0  # bytes since the last separator or line break
    at_line_start = True  # the next chunk starts a line (blanks aside)
    content = False  # something other than blanks seen
    comments = set()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK_BYTES):
                h.update(chunk)
                if offset == 0 and src.bom:
                    chunk, offset = chunk[src.bom :], src.bom
                _check_text(path, chunk, offset=offset, decoder=decoder)
                # A field longer than a chunk spans a chunk boundary: only runs across
                # boundaries can exceed the bound (the chunk is as long as the bound).
                first = min((k for k in (chunk.find(b) for b in breaks) if k >= 0), default=-1)
                if first < 0:
                    run += len(chunk)
                else:
                    run += first
                if run > MAX_FIELD_BYTES:
                    start = offset + (first if first >= 0 else len(chunk)) - run
                    raise DataError(
                        f"a field longer than {MAX_FIELD_BYTES:,} bytes (from byte "
                        f"offset {start:,}, no separator or line break); a table or "
                        "an edge list holds numbers and names",
                        path=path,
                        line=_line_at(path, start),
                    )
                if first >= 0:
                    run = len(chunk) - 1 - max(chunk.rfind(b) for b in breaks)
                if not content and not chunk.isspace():
                    content = True
                for c, pattern in _COMMENT_AT_LINE_START.items():
                    # (the search only when the character occurs: a regex scan costs 20 ms/MB)
                    if (
                        c not in comments
                        and c.encode() in chunk
                        and (
                            pattern.search(chunk)
                            or (at_line_start and _BLANKS_THEN[c].match(chunk))
                        )
                    ):
                        comments.add(c)
                last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
                rest = chunk[last + 1 :]
                at_line_start = (at_line_start or last >= 0) and not rest.strip(b" \t")
                offset += len(chunk)
        _check_text(path, b"", offset=offset, decoder=decoder, final=True)  # a cut-off character
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", path=path) from None
    if not content:
        raise DataError("the file is empty", path=path)
    src.sha256 = h.hexdigest()
    src.comments = "".join(sorted(comments, key="#%".index))
    return src


def split_line(line: str, sep: str | None) -> list[str]:
    """Fields of one line: ``sep`` None means runs of whitespace; quotes honoured otherwise."""
    if sep is None:
        return line.split()
    try:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    except csv.Error:  # a stray quote or carriage return: plain splitting is what we can do
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
    if sep is None:
        for k, line in enumerate(src.lines(), start=1):
            s = line.strip()
            if not s or (comment and s[0] in comment):
                continue
            yield k, s.split()
        return
    with open(src.path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep, skipinitialspace=True)
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
            raise DataError(
                f"cannot parse the line ({e})", path=src.path, line=reader.line_num
            ) from None
        yield fields


def shown(cell, limit: int = 40) -> str:
    """A cell quoted for a one-line message: its repr, cut to about ``limit`` characters (a
    field may be a megabyte long)."""
    text = str(cell)
    return (
        repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"
    )


def check_number(cell: str, *, src: Source, line: int, column: str, what: str = "value") -> float:
    """Parse one cell as a finite float or raise a DataError naming where it is."""
    s = cell.strip()
    if not s:
        raise DataError(
            f"empty cell: a missing {what}; fill it in or remove the row",
            path=src.path,
            line=line,
            column=column,
        )
    try:
        v = float(s)
    except ValueError:
        hint = (
            " (a missing-value marker; fill it in or remove the row)"
            if s.upper() in _NA_MARKERS
            else ""
        )
        raise DataError(
            f"non-numeric {what} {shown(s)}{hint}", path=src.path, line=line, column=column
        ) from None
    if not math.isfinite(v):
        raise DataError(
            f"{what} {shown(s)} is not a finite number (NaN and inf are not allowed)",
            path=src.path,
            line=line,
            column=column,
        )
    return v


def read_frame(
    src: Source,
    sep: str | None,
    *,
    header: bool,
    comment: str | None = None,
    dtype=None,
    skipinitialspace: bool = False,
) -> pd.DataFrame:
    """pandas C-engine parse of the whole file; raises pandas' own errors (callers locate them).

    pandas reads the file by its path (measurably faster than from an in-memory buffer); it
    skips a UTF-8 byte-order mark itself.
    """
    kw = dict(
        sep=r"\s+" if sep is None else sep,
        header=0 if header else None,
        index_col=False,
        keep_default_na=False,
        na_values=[""],
        engine="c",
        dtype=dtype,
        comment=comment,
        encoding="utf-8",
    )
    if sep is not None and skipinitialspace:
        kw["skipinitialspace"] = True
    with warnings.catch_warnings():
        # A header shorter than the data rows makes pandas drop data with only a warning.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        # Mixed types in a column: the loaders check every column's cells themselves.
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        try:
            return pd.read_csv(src.path, **kw)
        except MemoryError:
            raise DataError(
                f"not enough memory to parse the file ({src.size / 1e9:.2f} GB of "
                "text): save big tables as Parquet (read batch by batch, float32 "
                "kept) or free memory",
                path=src.path,
            ) from None


PARSE_ERRORS = (
    pd.errors.ParserError,
    pd.errors.ParserWarning,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    ValueError,
    IndexError,
)


def check_width(src: Source, line: int, fields: list, expected: int) -> None:
    """Raise the DataError of a ragged row when the record at ``line`` does not have
    ``expected`` fields."""
    if len(fields) != expected:
        message = f"ragged row: expected {expected} fields, found {len(fields)}"
        raise DataError(message, path=src.path, line=line)


def check_ragged(src: Source, sep: str | None, expected: int, comment: str = "") -> None:
    """Raise a DataError at the first record whose field count differs from ``expected``."""
    for line, fields in records(src, sep, comment):
        check_width(src, line, fields, expected)


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
    cols = [{r[j].strip() for r in rest if j < len(r)} - _MISSING_CELLS for j in range(len(first))]
    return (
        len(rest) > 2
        and all(cell and not is_number(cell) and cell not in col for cell, col in zip(first, cols))
        and any(0 < len(col) <= 2 for col in cols)
    )


def _data_line(src: Source, sep, header: bool, k: int) -> int | None:
    """File line number of data row ``k`` (0-based)."""
    for n, (line, _) in enumerate(records(src, sep)):
        if n == k + header:
            return line
    return None


def _locate_table_problem(
    src: Source, sep, header: bool, names: list[str], features: list[int]
) -> None:
    """Walk the file and raise a DataError at the first ragged row or bad feature cell."""
    expected = len(names)
    it = records(src, sep)
    if header:
        next(it, None)
    for line, fields in it:
        check_width(src, line, fields, expected)
        for j in features:
            check_number(fields[j], src=src, line=line, column=names[j])


_MISSING_CELLS = {"", "?", "NA", "N/A", "NULL"}
_YES = {"y", "yes", "true", "t", "on", "1"}
_NAN_TOKEN = re.compile(rb"(?i)(?<![\w.])[+-]?nan(?![\w.])")


def _missing_cells(col: pd.Series) -> np.ndarray:
    """Empty cells and missing-value markers of a text column (bool array)."""
    marker = col.astype(str).str.strip().str.upper().isin(_MISSING_CELLS)
    return (col.isna() | marker).to_numpy()


def _encode_two_valued(col: pd.Series, miss: np.ndarray):
    """A text column with exactly two values (yes/no, y/n, male/female) as 0/1 (NaN where
    missing): ``(values, value_0, value_1)``, the yes-like value (or the later one) as 1."""
    cells = col[~miss].astype(str).str.strip()
    uniq = sorted(cells.unique())
    if len(uniq) != 2 or len(cells) < 3:  # two rows of names are not yes/no answers
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
            raise DataError(
                f"the numbers use a decimal comma ({cell!r}); this loader reads '.' "
                "as the decimal mark: save the file with '.' decimals (or convert "
                "it) and load it again",
                path=src.path,
                line=_line_of(src, lines[k]),
            )


def _line_of(src: Source, line: str) -> int | None:
    """1-based line number of the first line of the file equal to ``line``."""
    for k, ln in enumerate(src.lines(), start=1):
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


def _standardize_table(X: np.ndarray, columns: list[str], notes: list[str]):
    """Each column of ``X`` to zero mean and unit variance, in place; a constant column is left
    unscaled with a note. Returns ``(offset, scale)``."""
    offset, scale = _safe_standardize(X)
    flat = scale == 0
    if flat.any():
        notes.append(
            "constant column(s) "
            + ", ".join(repr(columns[k]) for k in np.flatnonzero(flat))
            + " left unscaled (zero variance)"
        )
        scale[flat] = 1.0
    X -= offset
    X /= scale
    return offset, scale


# ---------------------------------------------------------------------------------------------
# The CSV/TSV reader's steps of the table pipeline (explorer.data.pipeline)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    """How a delimited text file is laid out: its separator (None: runs of whitespace), whether
    its first line is a header, and its first non-blank lines."""

    src: Source
    sep: str | None
    header: bool
    lines: list[str]

    def locate(self, names: list[str], features: list[int]) -> None:
        """Walk the file and raise at the first ragged row or bad cell of ``features``."""
        _locate_table_problem(self.src, self.sep, self.header, names, features)


@dataclass
class _Columns:
    """The feature columns as numbers: their names in order, the values converted here (text
    cells with missing-value markers, two-valued text columns; the others pandas parsed as
    numbers) and the file's text columns (ground-truth candidates)."""

    numeric: list[str] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    text: set[str] = field(default_factory=set)


def _sniff_layout(src: Source, choice: ColumnChoice) -> _Layout:
    """Step 2 (text): the separator and the header from the first lines (a column the user
    names makes the first line a header); decimal commas refused."""
    lines = src.head_lines()
    if not lines:
        raise DataError("the file holds only blank lines", path=src.path)
    _decimal_commas(src, lines)
    sep = sniff_separator(lines)
    asked = choice.wanted_set | ({choice.label} if choice.label else set())
    return _Layout(src=src, sep=sep, header=_has_header(lines, sep, asked), lines=lines)


def _parse_frame(lay: _Layout) -> pd.DataFrame:
    """Step 6 (text): pandas' fast parse of the whole file; when it fails, the slow path names
    the line (a ragged row), else pandas' reason is given."""
    try:
        return read_frame(lay.src, lay.sep, header=lay.header)
    except PARSE_ERRORS as e:
        n0 = len(split_line(lay.lines[0], lay.sep))
        lay.locate([f"c{j}" for j in range(n0)], [])
        raise DataError(
            f"cannot parse the file as a table: {str(e).strip()}", path=lay.src.path
        ) from None


def _header_names(
    lay: _Layout, df: pd.DataFrame, choice: ColumnChoice, notes: list[str]
) -> list[str]:
    """Step 4 (text): the header's names, as the first line splits (pandas' names when it
    splits otherwise), made unique; ``c0, c1, ...`` without a header."""
    if not lay.header:
        return [f"c{j}" for j in range(df.shape[1])]
    raw = split_line(lay.lines[0], lay.sep)
    raw = (
        [c.strip() for c in raw]
        if len(raw) == df.shape[1]
        else [str(c).strip() for c in df.columns]
    )
    return name_columns(raw, choice, notes, path=lay.src.path, where="header", line=1)


def _check_rows(lay: _Layout, df: pd.DataFrame, names: list[str]) -> None:
    """Step 6 (text): some data row, and none shorter than the header."""
    if len(df) == 0:
        raise DataError("no data rows (only a header line)", path=lay.src.path)
    if df.shape[1] > 1 and df.iloc[:, -1].isna().any():
        # pandas pads short rows with missing values: tell a short row from an empty last cell.
        check_ragged(lay.src, lay.sep, len(names))


def _read_text_column(col: pd.Series):
    """Step 6 (text): a column pandas did not read as numbers, as ``("numbers", values)`` when
    every filled cell is a number (NaN where missing), ``("two", (values, lo, hi))`` for two
    text values (:func:`_encode_two_valued`), else ``("text", mostly_numbers)``: mostly numbers
    means a bad cell, not a text column."""
    miss = _missing_cells(col)
    filled = ~miss
    n_filled = int(filled.sum())
    parsed = pd.to_numeric(col[filled].astype(str).str.strip(), errors="coerce")
    n_num = int(parsed.notna().sum())
    if n_filled and n_num == n_filled:  # numbers, with missing-value markers
        v = np.full(len(col), np.nan)
        v[filled] = parsed.to_numpy(dtype=np.float64)
        return "numbers", v
    encoded = _encode_two_valued(col, miss) if n_num == 0 else None
    if encoded is not None:
        return "two", encoded
    return "text", not (n_filled == 0 or n_num * 2 < n_filled)


def _encode_or_exclude(
    two_valued: dict, cols: _Columns, choice: ColumnChoice, notes: list[str]
) -> None:
    """Step 6 (text): two-valued text columns are encoded 0/1 only in an all-text table (yes/no
    answers) or when picked; beside numeric columns such a column (a diagnosis, a sex) is more
    likely ground truth: excluded."""
    all_text = len(two_valued) == len(cols.numeric)
    excluded = set()
    for c, (v, lo, hi) in two_valued.items():
        if all_text or c in choice.wanted_set:
            cols.values[c] = v
            notes.append(f"column {c!r} holds two values: encoded {lo} = 0, {hi} = 1")
        else:
            excluded.add(c)
            notes.append(f"column {c!r} is not numeric; excluded from the features")
    if excluded:
        cols.numeric = [c for c in cols.numeric if c not in excluded]


def _numeric_columns(
    lay: _Layout,
    df: pd.DataFrame,
    names: list[str],
    feats: list[str],
    id_name: str | None,
    choice: ColumnChoice,
    notes: list[str],
) -> _Columns:
    """Step 6 (text): which feature columns hold numbers. A text column is excluded with a
    note; a picked text column, or a column of numbers with a bad cell, is an error naming the
    cell."""
    cols = _Columns()
    two_valued: dict[str, tuple] = {}
    kinds = dict(zip(names, (t.kind for t in df.dtypes)))  # (df[c] costs ~10 us a column)
    for c in feats:
        if kinds[c] in "iufb":
            cols.numeric.append(c)
            continue
        what, result = _read_text_column(df[c])
        if what == "numbers":
            cols.values[c] = result
            cols.numeric.append(c)
        elif what == "two":
            two_valued[c] = result
            cols.numeric.append(c)
            cols.text.add(c)
        elif not choice.wanted and not result:
            notes.append(f"column {c!r} is not numeric; excluded from the features")
            cols.text.add(c)
        else:  # picked explicitly, or mostly numeric with a bad cell: say where
            lay.locate(names, [names.index(c)])
            raise DataError("column is not numeric", path=lay.src.path, column=c)
    _encode_or_exclude(two_valued, cols, choice, notes)
    if not cols.numeric:
        raise no_numeric_columns(notes, lay.src.path)
    _other_text_columns(df, names, set(feats) | {id_name}, kinds, cols.text)
    return cols


def _other_text_columns(
    df: pd.DataFrame, names: list[str], skip: set, kinds: dict, text: set[str]
) -> None:
    """Step 6 (text): the columns that are neither candidate features nor the ids (the label,
    columns left out of a choice) and hold mostly text are added to ``text`` (ground-truth
    candidates)."""
    for c in names:
        if c not in skip and kinds[c] not in "iufb":
            parsed = pd.to_numeric(df[c].dropna().astype(str).str.strip(), errors="coerce")
            if parsed.notna().sum() * 2 < len(parsed):
                text.add(c)


def _feature_matrix(df: pd.DataFrame, names: list[str], cols: _Columns) -> np.ndarray:
    """Step 6 (text): the features as a writable C-ordered float64 matrix (NaN where missing)."""
    numeric = cols.numeric
    if cols.values:
        X = np.empty((len(df), len(numeric)))
        for j, c in enumerate(numeric):
            X[:, j] = cols.values[c] if c in cols.values else df[c].to_numpy(dtype=np.float64)
        return X
    if numeric == names:  # every column, in order: no df[numeric] (a take, slow when wide)
        X = np.ascontiguousarray(df.to_numpy(dtype=np.float64))
    else:
        X = np.ascontiguousarray(df[numeric].to_numpy(dtype=np.float64))
    # pandas' copy-on-write hands out a read-only view when no copy was needed (one column):
    # numba compiles separate kernels for read-only arrays, so every table is writable.
    return X if X.flags.writeable else X.copy()


def _missing_rows(
    lay: _Layout,
    df: pd.DataFrame,
    X: np.ndarray,
    names: list[str],
    cols: _Columns,
    missing: str,
    notes: list[str],
):
    """Step 7 (text): rows with a missing feature value, dropped (``missing="drop"``) or refused
    naming the first cell; a literal NaN is an error, not a missing value. Returns ``(X, df,
    keep)``, ``keep`` None when no row was dropped."""
    nan_rows = np.isnan(X).any(axis=1)
    if not nan_rows.any():
        return X, df, None
    position = {c: j for j, c in enumerate(names)}
    if lay.src.contains(_NAN_TOKEN):
        # a literal NaN is an error (not a missing value): say where, if it is a feature's
        lay.locate(names, [position[c] for c in cols.numeric if c not in cols.values])
    n_missing = int(nan_rows.sum())
    if missing == "drop":
        keep = ~nan_rows
        dropped_rows(n_missing, len(X), int(keep.sum()), cols.numeric, notes, lay.src.path)
        return np.ascontiguousarray(X[keep]), df.loc[keep], keep
    r = int(np.argmax(nan_rows))
    column = cols.numeric[int(np.argmax(np.isnan(X[r])))]
    line, cell = _cell_of_row(lay.src, lay.sep, lay.header, r, position[column])
    what = f"missing value {cell.strip()!r}" if cell.strip() else "empty cell (a missing value)"
    raise missing_values_error(what, n_missing, path=lay.src.path, line=line, column=column)


def _check_values(
    lay: _Layout, X: np.ndarray, names: list[str], numeric: list[str], standardize: bool
) -> None:
    """Step 6 (text): every feature value finite (else the first bad cell is named) and, unless
    standardising, at most ``MAX_MAGNITUDE`` in magnitude."""
    if not np.isfinite(X).all():
        position = {c: j for j, c in enumerate(names)}
        lay.locate(names, [position[c] for c in numeric])
        raise DataError("missing or non-finite values", path=lay.src.path)
    if standardize:
        return
    huge = np.abs(X) > MAX_MAGNITUDE
    if huge.any():
        i, j = np.argwhere(huge)[0]
        raise too_large(
            X[i, j],
            path=lay.src.path,
            line=_data_line(lay.src, lay.sep, lay.header, int(i)),
            column=numeric[j],
        )


def _table_ids(df: pd.DataFrame, id_name: str | None, n_rows: int, keep, notes: list[str]):
    """Step 8 (text): the id column's values (stripped strings), or the file's row numbers."""

    def numbered():
        return row_ids(n_rows) if keep is None else row_ids(n_rows)[keep]

    if id_name is None:
        return row_ids_from(None, None, False, numbered, notes)
    ids = df[id_name].astype(str).str.strip().to_numpy(dtype=str)
    return row_ids_from(ids, id_name, len(set(ids)) == len(ids), numbered, notes)


def _table_labels(df: pd.DataFrame, label: str | None) -> np.ndarray | None:
    """The label column's cells as stripped strings, None where empty."""
    if not label:
        return None
    col = df[label]
    empty = col.isna().to_numpy()
    y = col.astype(str).str.strip().to_numpy(dtype=object)
    y[empty] = None
    return y


def load_table(
    path, *, columns=None, labels=None, standardize: bool = False, missing: str = "error"
) -> TableData:
    """Load a numeric table from a CSV/TSV file; see the module docstring for the rules, and
    :mod:`explorer.data.pipeline` for the steps.

    ``missing``: what to do with rows whose feature cells are empty or a missing-value marker
    (``?``, ``NA``): ``"error"`` (a :class:`MissingValuesError` counting them) or ``"drop"``.
    """
    check_missing(missing, path)
    src = read_source(path)
    choice = column_choice(columns, labels, src.path)
    lay = _sniff_layout(src, choice)
    df = _parse_frame(lay)
    notes: list[str] = []
    df.columns = names = _header_names(lay, df, choice, notes)
    _check_rows(lay, df, names)
    check_choice(names, choice, src.path)
    id_name = id_column(names, choice)
    cols = _numeric_columns(
        lay, df, names, feature_columns(names, choice, id_name), id_name, choice, notes
    )
    X = _feature_matrix(df, names, cols)
    n_rows = len(X)
    X, df, keep = _missing_rows(lay, df, X, names, cols, missing, notes)
    _check_values(lay, X, names, cols.numeric, standardize)
    ids = _table_ids(df, id_name, n_rows, keep, notes)
    return build_table(
        X,
        cols.numeric,
        choice=choice,
        ids=ids,
        labels=_table_labels(df, choice.label),
        path=src.path,
        sha256=src.sha256,
        standardize=standardize,
        standardizer=_standardize_table,
        notes=notes,
        text_columns=[c for c in names if c in cols.text],
    )
