"""The table loaders' pipeline: the named steps a CSV/TSV file and a columnar file share.

A table is loaded in the same order whatever its format; only the readers differ
(:mod:`explorer.data.table` for delimited text, :mod:`explorer.data.columnar` for Parquet, Feather
and ``.npy``):

1. the options: :func:`check_missing` (and the columnar ``dtype``);
2. the file: a regular file, its first bytes sniffed (another format is named, a binary file
   refused): ``table.read_source`` / ``columnar._check_path``;
3. the user's column choice, before anything is parsed: :func:`column_choice`;
4. the columns' names, read by the format's reader and made unique: :func:`name_columns`;
5. the choice checked against them: :func:`check_choice`; the row-id column:
   :func:`id_column`; the candidate features: :func:`feature_columns`;
6. the values converted to numbers by the reader, each bad cell an error naming the file, the
   line (or row) and the column; values too large: :func:`too_large`;
7. missing values dropped (:func:`dropped_rows`) or refused (:func:`missing_values_error`);
8. the row ids: :func:`row_ids_from`;
9. the table built: :func:`build_table` (label-like and calendar columns flagged by
   :func:`flag_columns`, the columns standardised).

Every message the steps raise is the one both formats give for the same problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from explorer.data.types import DataError, TableData

MISSING_CHOICES = ("error", "drop")
# Largest magnitude of a feature value without --standardize: its square (1e300) still fits a
# double, with room for sums over many rows.
MAX_MAGNITUDE = 1e150


class MissingValuesError(DataError):
    """Feature cells empty or a missing-value marker (``?``, ``NA``) with ``missing="error"``;
    ``rows`` counts the rows that ``missing="drop"`` would drop."""

    def __init__(self, problem: str, *, rows: int, **where):
        self.rows = rows
        super().__init__(problem, **where)


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


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


def repeats(names: list[str]) -> list[str]:
    """The names that occur earlier in ``names``, in order (a set: linear in the columns; a
    ``c in names[:k]`` scan was quadratic, minutes for 100,000 columns)."""
    seen: set[str] = set()
    out = []
    for c in names:
        if c in seen:
            out.append(c)
        seen.add(c)
    return out


def named_twice(wanted: list[str]) -> list[str]:
    """The names given more than once in ``wanted``, sorted."""
    return sorted(set(repeats(wanted)))


def row_ids(n: int) -> np.ndarray:
    """``"0" .. "n-1"`` as a str array."""
    return np.arange(n).astype(str)


def parse_names(names, what: str = "columns") -> list[str]:
    """Column names given as a comma-separated string or a list, blanks dropped from a string."""
    if names is None:
        return []
    if isinstance(names, str):
        return [s.strip() for s in names.split(",") if s.strip()]
    return [str(s) for s in names]


# ---------------------------------------------------------------------------------------------
# Steps 1, 3-5: the options and the columns
# ---------------------------------------------------------------------------------------------


def check_missing(missing: str, path) -> None:
    """Step 1: ``missing`` is one of :data:`MISSING_CHOICES`."""
    if missing not in MISSING_CHOICES:
        raise DataError(
            f"missing = {missing!r}: expected one of {', '.join(MISSING_CHOICES)}", path=path
        )


@dataclass(frozen=True)
class ColumnChoice:
    """The user's column choice: the feature columns picked (``columns``, empty: all numeric
    ones) and the ground-truth column (``labels``)."""

    wanted: list[str]
    label: str | None

    @property
    def wanted_set(self) -> set[str]:
        return set(self.wanted)

    def asks_for(self, name: str) -> bool:
        """Whether ``name`` is picked as a feature or as the label."""
        return name in self.wanted_set or name == self.label


def column_choice(columns, labels, path) -> ColumnChoice:
    """Step 3: the user's choice of columns, each feature named once."""
    wanted = parse_names(columns)
    twice = named_twice(wanted)
    if twice:
        raise DataError(
            f"column(s) {', '.join(repr(c) for c in twice)} named twice in the "
            "feature columns; name each once",
            path=path,
        )
    return ColumnChoice(wanted=wanted, label=None if labels is None else str(labels).strip())


def name_columns(
    raw: list[str],
    choice: ColumnChoice,
    notes: list[str],
    *,
    path,
    where: str,
    line: int | None = None,
) -> list[str]:
    """Step 4: the file's column names made unique (a repeat of ``a`` becomes ``a.1``, with a
    note); a repeated name the user picked is an error (which one is meant?). ``where`` is what
    holds the names in the messages ("header", "file")."""
    names = unique_names(raw)
    dup = list(dict.fromkeys(repeats(raw)))
    if not dup:
        return names
    asked = [c for c in dup if choice.asks_for(c)]
    if asked:
        raise DataError(
            f"the {where} names column {asked[0]!r} more than once: which one is "
            "meant? rename the columns",
            path=path,
            line=line,
        )
    renamed = ", ".join(n for n, c in zip(names, raw) if n != c)
    notes.append(
        f"the {where} repeats {', '.join(repr(c) for c in dup)}; the repeats are called {renamed}"
    )
    return names


def check_choice(names: list[str], choice: ColumnChoice, path) -> None:
    """Step 5: every picked column is in the file, and the label column is not a feature."""
    present = set(names)
    unknown = [c for c in choice.wanted if c not in present]
    if unknown:
        raise DataError(
            f"unknown feature column(s) {', '.join(repr(c) for c in unknown)}; the "
            f"file has: {', '.join(names)}",
            path=path,
        )
    label = choice.label
    if label and label not in present:
        raise DataError(
            f"unknown label column {label!r}; the file has: {', '.join(names)}", path=path
        )
    if label and label in choice.wanted_set:
        raise DataError(f"column {label!r} is both the label column and a feature", path=path)


def id_column(names: list[str], choice: ColumnChoice) -> str | None:
    """Step 5: the column giving the row ids: the first named ``id`` (any case) that is neither
    the label nor a picked feature, else None."""
    wanted = choice.wanted_set
    return next(
        (c for c in names if c.lower() == "id" and c != choice.label and c not in wanted), None
    )


def feature_columns(names: list[str], choice: ColumnChoice, id_name: str | None) -> list[str]:
    """Step 5: the candidate features: the picked columns, else all but the label and ids."""
    if choice.wanted:
        return list(choice.wanted)
    return [c for c in names if c not in (choice.label, id_name)]


def no_numeric_columns(notes: list[str], path) -> DataError:
    """Step 6: the error when no feature column holds numbers (the notes say why)."""
    return DataError("no numeric columns" + (f" ({'; '.join(notes)})" if notes else ""), path=path)


# ---------------------------------------------------------------------------------------------
# Steps 6-8: values, missing values, row ids
# ---------------------------------------------------------------------------------------------


def too_large(value: float, *, at: str = "", **where) -> DataError:
    """Step 6: the error for a feature value beyond :data:`MAX_MAGNITUDE` without standardising
    (``at``: where the reader cannot name a line, " in row N")."""
    return DataError(
        f"value {value:g}{at} is too large: beyond {MAX_MAGNITUDE:g} in magnitude "
        "the models' squares and sums overflow; rescale the column or standardise "
        "the columns (--standardize)",
        **where,
    )


def missing_values_error(what: str, n_missing: int, **where) -> MissingValuesError:
    """Step 7 with ``missing="error"``: ``what`` is the first missing cell, ``n_missing`` the
    rows that ``missing="drop"`` would drop."""
    rows = "1 row has" if n_missing == 1 else f"{n_missing} rows have"
    return MissingValuesError(
        f"{what}; {rows} missing values: drop them (--missing drop; in the window "
        "'Drop rows with missing values') or fill them in",
        rows=n_missing,
        **where,
    )


def dropped_rows(
    n_missing: int, n_rows: int, n_kept: int, numeric: list[str], notes: list[str], path
) -> None:
    """Step 7 with ``missing="drop"``: a note counting the dropped rows, an error when no row
    is kept."""
    if n_kept == 0:
        raise DataError(f"every row has a missing value ({', '.join(numeric)})", path=path)
    notes.append(f"dropped {n_missing} of {n_rows} rows with missing values")


def row_ids_from(
    ids,
    id_name: str | None,
    valid: bool,
    numbered: Callable[[], object],
    notes: list[str],
    *,
    problem: str = "repeated values",
):
    """Step 8: the id column's values when ``valid`` (each once), else ``numbered()`` (the
    file's row numbers), with a note saying which."""
    if id_name is None:
        return numbered()
    if not valid:
        notes.append(f"column {id_name!r} has {problem}; rows are numbered instead")
        return numbered()
    notes.append(f"column {id_name!r} used as row ids")
    return ids


# ---------------------------------------------------------------------------------------------
# Step 9: the table. Numeric columns that are not features: labels and calendar values (issue 21)
# ---------------------------------------------------------------------------------------------

# Words (in a column's name) of a ground-truth column.
LABEL_WORDS = {
    "class",
    "classes",
    "label",
    "labels",
    "target",
    "digit",
    "species",
    "cultivar",
    "group",
    "y",
    "category",
    "cluster",
    "outcome",
}
# Words of a calendar column (a date, a year of the calendar: not a duration like "years").
CALENDAR_WORDS = {"date", "datetime", "timestamp", "year"}
MAX_LABEL_VALUES = 50  # a label takes at most this many values
_FLAG_SAMPLE_ROWS = 100_000  # the flags look at this many rows, spread over the table


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))  # camelCase -> camel Case
    return {w for w in re.split(r"[^0-9a-zA-Z]+|(?<=[a-zA-Z])(?=[0-9])", spaced.lower()) if w}


def _label_values(col: np.ndarray) -> int | None:
    """How many distinct whole numbers ``col`` holds when it could be a label (at most
    ``MAX_LABEL_VALUES``, fewer than half its length, more than one), else None."""
    if not (col == np.floor(col)).all():
        return None
    k = len(np.unique(col))
    return k if 1 < k <= MAX_LABEL_VALUES and k * 2 < len(col) else None


def _lone_non_binary(S: np.ndarray, columns: list[str], flagged: list[str]):
    """``(column, distinct values)`` of the only column of ``S`` that is not 0/1, when the table
    has three or more columns and that column could be a label; else None."""
    binary = ((S == 0) | (S == 1)).all(axis=0)
    rest = np.flatnonzero(~binary)
    if len(rest) != 1 or S.shape[1] < 3 or columns[rest[0]] in flagged:
        return None
    j = int(rest[0])
    k = _label_values(S[:, j])
    return None if k is None else (columns[j], k)


def flag_columns(X: np.ndarray, columns: list[str], notes: list[str]) -> tuple[list, list]:
    """Numeric feature columns that look like something else: ``(label_candidates,
    calendar_columns)``, each with a note saying what to do. Nothing is dropped (the user
    decides); the window offers "use as ground truth" and a feature picker from these lists.

    - A label: whole numbers with at most ``MAX_LABEL_VALUES`` distinct values (and fewer than half
      the rows), named with a word of ``LABEL_WORDS`` (``digit``, ``class_id``, ``Species``), or
      the only such non-0/1 column of a table whose other columns (two or more) are all 0/1.
    - A calendar column: named with a word of ``CALENDAR_WORDS`` (``end_date``, ``year``).

    Decided on at most ``_FLAG_SAMPLE_ROWS`` rows taken evenly (a hint, cheap on big tables).
    """
    n, d = X.shape
    if n < 2 or d < 2:
        return [], []
    S = X[:: max(1, n // _FLAG_SAMPLE_ROWS)]
    labels, calendar = [], []
    for j, c in enumerate(columns):
        words = _name_words(c)
        if words & CALENDAR_WORDS:
            calendar.append(c)
        elif words & LABEL_WORDS and (k := _label_values(S[:, j])) is not None:
            labels.append(c)
            notes.append(
                f"column {c!r} looks like a label (its name; whole numbers, {k} "
                f"distinct values) but is fitted as a feature: pass --labels {c} to "
                "use it as ground truth"
            )
    lone = _lone_non_binary(S, columns, labels + calendar)
    if lone is not None:
        c, k = lone
        labels.append(c)
        notes.append(
            f"column {c!r} is the only column that is not 0/1 ({k} distinct whole "
            f"numbers: a label?) and is fitted as a feature: pass --labels {c} to "
            "use it as ground truth"
        )
    for c in calendar:
        others = [o for o in columns if o != c]
        shown_others = ",".join(others[:4]) + (",..." if len(others) > 4 else "")
        notes.append(
            f"column {c!r} looks like a date or a calendar year and is fitted as a "
            f"feature: to leave it out, choose the features (--columns {shown_others})"
        )
    return labels, calendar


Standardizer = Callable[[np.ndarray, list[str], list[str]], tuple[np.ndarray, np.ndarray]]


def build_table(
    X: np.ndarray,
    numeric: list[str],
    *,
    choice: ColumnChoice,
    ids,
    labels,
    path: str,
    sha256: str | None,
    standardize: bool,
    standardizer: Standardizer,
    notes: list[str],
    text_columns: list[str],
) -> TableData:
    """Step 9: the :class:`TableData`: label-like and calendar feature columns flagged (unless
    the user picked the features), the columns standardised in place by the reader's
    ``standardizer(X, columns, notes) -> (offset, scale)`` when asked."""
    label_candidates, calendar_columns = (
        ([], []) if choice.wanted else flag_columns(X, numeric, notes)
    )
    offset = scale = None
    if standardize:
        if not X.flags.writeable:
            X = X.copy()
        offset, scale = standardizer(X, numeric, notes)
    return TableData(
        X=X,
        columns=numeric,
        ids=ids,
        labels=labels,
        label_name=choice.label,
        path=path,
        sha256=sha256,
        standardized=bool(standardize),
        offset=offset,
        scale=scale,
        notes=notes,
        text_columns=text_columns,
        label_candidates=label_candidates,
        calendar_columns=calendar_columns,
    )
