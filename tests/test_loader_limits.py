"""Loaders under hostile files (issue 22, items 1, 4, 5, 6, 16): what is not a regular file, what
is not text, what is huge, what lies in its header, what is very wide. Each case is refused (one
line naming the file) or loaded after reading only what it must: the tests count bytes held
(tracemalloc peaks), hashes and reads, never wall time (bench/bench_load_wide.py times them)."""

import hashlib
import os
import threading
import tracemalloc

import numpy as np
import pytest

from explorer.data import DataError, kind_for_model, load, load_network, load_table
from explorer.data.table import _CHUNK_BYTES, MAX_FIELD_BYTES

MiB = 1 << 20


def refused(fn, *args, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return info.value


def peak_bytes(fn, *args, **kw):
    """(result or exception, peak bytes Python allocated while ``fn`` ran)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - returned for the caller to check
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- item 6: a FIFO (or another special file) as the data file -------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("kind", ["table", "network", "temporal", None])
def test_fifo_is_refused_without_blocking(tmp_path, kind):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    outcome = {}

    def run():
        try:
            load(fifo, kind=kind)
        except Exception as e:  # noqa: BLE001
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    blocked = t.is_alive()
    if blocked:  # the old loader waits in open() for a writer: give it one so the test ends
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(20)
    assert not blocked, "loading a FIFO blocked"
    e = outcome["error"]
    assert isinstance(e, DataError) and "named pipe (FIFO)" in str(e)
    assert str(e).startswith(str(fifo))


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_character_device_is_refused():
    e = refused(load_table, "/dev/null")  # was "the file is empty"; /dev/zero never ended
    assert "character device" in str(e)


# ---- item 5: sniff first, stream, bound a field, hash once -----------------------------------


def test_huge_sparse_csv_is_refused_from_its_first_bytes(tmp_path):
    """2.5 GB of NUL bytes (a sparse file: no disk used): the old loader read all of it (2.86 GB
    resident) to report the NUL byte at offset 0."""
    p = tmp_path / "sparse.csv"
    with open(p, "wb") as fh:
        fh.truncate(2_500 * MiB)
    out, peak = peak_bytes(load, p)
    assert isinstance(out, DataError) and "NUL byte at byte offset 0" in str(out), out
    assert peak < 16 * MiB, peak


def test_a_nul_byte_deep_in_the_file_is_found_with_its_line(tmp_path):
    rows = "".join(f"{k},{k + 1}\n" for k in range(40_000))  # ~ 420 KB, beyond the head
    p = tmp_path / "t.csv"
    p.write_bytes(b"a,b\n" + rows.encode() + b"1,\x002\n")
    e = refused(load_table, p)
    assert "NUL byte" in str(e) and e.line == 40_002


def test_a_field_longer_than_the_bound_is_refused_streaming(tmp_path):
    """The bound is exact (a field of MAX_FIELD_BYTES bytes passes the scan, one more is
    refused) and checked while streaming: a 32 MiB field is refused holding a few MiB (the old
    loader held the whole file, then pandas built the field)."""
    ok = tmp_path / "ok.csv"
    ok.write_bytes(b"a,b\n1,2\n3," + b"x" * MAX_FIELD_BYTES + b"\n")
    d = load_table(ok, labels="b")  # the scan lets it through
    assert d.X.shape == (2, 1) and len(d.labels[1]) == MAX_FIELD_BYTES
    over = tmp_path / "over.csv"
    over.write_bytes(b"a,b\n1,2\n3," + b"7" * (MAX_FIELD_BYTES + 1) + b"\n")
    e = refused(load_table, over)
    assert f"longer than {MAX_FIELD_BYTES:,} bytes" in str(e) and e.line == 3
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as fh:
        fh.write(b"a,b\n1,2\n3,")
        for _ in range(32):
            fh.write(b"7" * MiB)
        fh.write(b"\n")
    out, peak = peak_bytes(load_table, huge)
    assert isinstance(out, DataError) and "longer than" in str(out), out
    assert peak < 12 * MiB, peak


def test_a_bad_byte_after_the_first_chunk_is_located(tmp_path):
    """The scan reads 1 MiB chunks: a bad byte far beyond the head is still found, with its
    byte offset and line."""
    filler = "".join(f"{k},{k}\n" for k in range(200_000)).encode()
    assert len(filler) > 2 * _CHUNK_BYTES
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n" + filler + b"caf\xe9,3\n")
    e = refused(load_table, bad)
    assert "not valid UTF-8" in str(e) and f"byte offset {4 + len(filler) + 3}" in str(e)
    assert e.line == 200_002


def test_a_character_exactly_on_the_chunk_boundary(tmp_path):
    rows = b"a,b\n"
    line = b"1,2\n"
    n = (_CHUNK_BYTES - len(rows) - 1) // len(line)
    body = rows + line * n
    body += b"3" * (_CHUNK_BYTES - len(body) - 2) + b",\xc3"  # 'é' split at 1 MiB
    assert len(body) == _CHUNK_BYTES
    p = tmp_path / "split.csv"
    p.write_bytes(body + b"\xa9\n" + b"4,5\n")
    d = load_table(p, columns="a", labels="b")
    assert d.X.shape == (n + 2, 1) and d.labels[-2] == "é"


@pytest.mark.parametrize(
    "magic, what",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "a zip archive"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a gzip-compressed file"),
        (b"PAR1\x15\x04\x15", "a Parquet file"),
        (b"\x93NUMPY\x01\x00v\x00{'descr'", "a NumPy .npy array"),
    ],
)
@pytest.mark.parametrize("kind", ["table", "network", "temporal"])
def test_other_formats_are_named(tmp_path, magic, what, kind):
    p = tmp_path / "data.csv"
    p.write_bytes(magic + bytes(range(256)) * 4)
    e = refused(load, p, kind=kind)
    assert f"this is {what}" in str(e) and "NUL" not in str(e)


def test_a_csv_mentioning_pdf_is_still_a_csv(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("PK,GIF\n1,2\n3,4\n")
    assert load_table(p).columns == ["PK", "GIF"]


@pytest.mark.parametrize(
    "model_kinds, text",
    [
        (("table",), "a,b\n1,2\n3,4\n5,6\n"),
        (("network",), "source,target\n0,1\n1,2\n2,0\n"),
        (("network",), "0 1\n1 2\n2 0\n"),
        (("temporal",), "t,i,j\n0,a,b\n1,b,c\n"),
        (("table", "network"), "source,target\n0,1\n1,2\n2,0\n"),
    ],
)
def test_a_load_hashes_the_file_once(tmp_path, monkeypatch, model_kinds, text):
    """The kind check and the load used to read and hash the file up to 3 times."""
    p = tmp_path / "f.csv"
    p.write_text(text)
    made = []
    real = hashlib.sha256

    def counting(*a, **kw):
        made.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(hashlib, "sha256", counting)
    kind = kind_for_model(p, model_kinds, model_id="m")
    d = load(p, kind=kind)
    assert d.sha256 == real(p.read_bytes()).hexdigest()
    assert len(made) == 1


def test_a_comment_deep_in_an_edge_list_is_skipped(tmp_path):
    """The comment characters are found by the streaming scan (it was a regex over the whole
    file held in memory), including a comment after the first chunk."""
    rows = "".join(f"{k} {k + 1}\n" for k in range(150_000))
    p = tmp_path / "e.txt"
    p.write_text(rows + "# a comment after 1 MiB\n150000 0\n")
    d = load_network(p)
    assert d.n_edges == 150_001


def test_a_session_reload_hashes_the_data_once(tmp_path, monkeypatch):
    """explorer.session.load_dataset hashed the file, then the loader hashed it again."""
    from explorer.session import DatasetEntry, Session, load_dataset

    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n3,4\n5,6\n")
    real = hashlib.sha256
    digest = real(p.read_bytes()).hexdigest()
    session = Session(datasets=[DatasetEntry(path=str(p), kind="table", sha256=digest)])
    made = []

    def counting(*a, **kw):
        made.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(hashlib, "sha256", counting)
    assert load_dataset(session, 0).sha256 == digest
    assert len(made) == 1
    p.write_text("a,b\n1,2\n3,4\n5,7\n")
    e = refused(load_dataset, session, 0)
    assert "changed since the session was saved" in str(e)


# ---- items 1 and 16: columnar files checked by their header and magic before anything else ----


def _npy_header_only(path, shape, descr="<f4", extra=b""):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": descr, "fortran_order": False, "shape": shape}
        )
        fh.write(extra)


@pytest.mark.parametrize("shape", [(2, 10**9), (10**13, 2), (10**6,), (3, 4)])
def test_npy_header_longer_than_the_file_is_refused_before_allocating(tmp_path, shape):
    """A 192-byte file whose header claims (2, 10^9) float32 made the old loader allocate the
    8 GB matrix (MemoryError after 18 s); (10^13, 2) raised numpy's _ArrayMemoryError."""
    p = tmp_path / "lie.npy"
    _npy_header_only(p, shape, extra=b"\x00" * 40)
    out, peak = peak_bytes(load, p)
    assert isinstance(out, DataError), out
    assert "the file is shorter than its header says" in str(out) and "\n" not in str(out)
    assert peak < MiB, peak


def test_npy_of_the_right_size_loads(tmp_path):
    p = tmp_path / "ok.npy"
    np.save(p, np.arange(12.0).reshape(3, 4))
    assert load(p).X.shape == (3, 4)


@pytest.mark.parametrize("suffix", [".parquet", ".npy", ".feather"])
def test_huge_sparse_columnar_file_is_refused_before_hashing(tmp_path, monkeypatch, suffix):
    """A 5 GB sparse file (no disk used): the old loader started hashing it on a second thread
    and reported the bad magic only when the hash was done (21 s)."""
    import explorer.data.columnar as columnar

    hashed = []
    real = columnar._hash
    monkeypatch.setattr(columnar, "_hash", lambda *a: hashed.append(a) or real(*a))
    p = tmp_path / f"sparse{suffix}"
    with open(p, "wb") as fh:
        fh.truncate(5 * 1024 * MiB)
    e = refused(load, p)
    assert "starts with NUL bytes" in str(e), e
    assert hashed == []


def test_an_image_named_parquet_says_it_is_an_image(tmp_path):
    p = tmp_path / "photo.parquet"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    e = refused(load, p)
    assert "this is a PNG image, not a Parquet file" in str(e)


def test_a_truncated_parquet_file_is_refused_before_hashing(tmp_path, monkeypatch):
    import pandas as pd

    import explorer.data.columnar as columnar

    p = tmp_path / "t.parquet"
    pd.DataFrame({"a": np.arange(100.0)}).to_parquet(p)
    p.write_bytes(p.read_bytes()[:-10])
    hashed = []
    monkeypatch.setattr(columnar, "_hash", lambda *a: hashed.append(a) or "x")
    e = refused(load, p)
    assert "not a complete Parquet file" in str(e) and hashed == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_named_npy_is_refused(tmp_path):
    p = tmp_path / "pipe.npy"
    os.mkfifo(p)
    e = refused(load, p)  # a stat, never an open: nothing to block on
    assert "named pipe (FIFO)" in str(e)


# ---- item 4: linear in the number of columns --------------------------------------------------


class _CountingName(str):
    comparisons = 0

    def __eq__(self, other):
        _CountingName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_repeated_names_are_found_in_linear_comparisons():
    """The header checks compared every name with every earlier one (``c in raw[:k]``): 5 * 10^9
    comparisons for 100,000 columns."""
    from explorer.data.table import repeats

    names = [_CountingName(f"c{j}") for j in range(3000)] + [_CountingName("c7")]
    _CountingName.comparisons = 0
    assert repeats(names) == ["c7"]
    assert _CountingName.comparisons < 3 * len(names)


def test_a_wide_csv_loads(tmp_path):
    """30,000 columns, three rows (the audit's 100,000-column file did not load in 120 s; the
    timing lives in bench/bench_load_wide.py)."""
    D = 30_000
    rng = np.random.default_rng(0)
    X = rng.integers(0, 10, size=(3, D))
    p = tmp_path / "wide.csv"
    with open(p, "w") as fh:
        fh.write(",".join(f"c{j}" for j in range(D)) + ",c5\n")  # one repeated name
        for row in X:
            fh.write(",".join(map(str, row)) + ",1\n")
    d = load_table(p)
    assert d.X.shape == (3, D + 1) and d.columns[-1] == "c5.1"
    assert np.array_equal(d.X[:, :D], X)
    assert any("repeats 'c5'" in n for n in d.notes)
    d = load_table(p, columns=[f"c{j}" for j in range(0, D, 2)])
    assert d.X.shape == (3, D // 2) and np.array_equal(d.X, X[:, ::2])


def test_a_wide_npy_loads(tmp_path):
    """5 rows x 40,000 columns took 51.5 s in the old loader (``names.index`` per column)."""
    X = np.random.default_rng(1).random((5, 40_000))
    p = tmp_path / "wide.npy"
    np.save(p, X)
    d = load(p)
    assert d.X.shape == X.shape and np.array_equal(d.X, X)
    np.save(p, np.asfortranarray(X))
    assert np.array_equal(load(p).X, X)


def test_out_of_memory_while_parsing_is_one_line(tmp_path, monkeypatch):
    """A 5 GB CSV under a 4.5 GB address limit ended in a MemoryError traceback."""
    import pandas as pd

    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n3,4\n")

    def no_memory(*a, **kw):
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", no_memory)
    e = refused(load_table, p)
    assert "not enough memory to parse the file" in str(e)


def test_out_of_memory_for_a_columnar_table_is_one_line(tmp_path, monkeypatch):
    import explorer.data.columnar as columnar

    p = tmp_path / "t.npy"
    np.save(p, np.ones((4, 3)))
    real = np.empty

    def no_memory(shape, *a, **kw):
        if shape == (4, 3):
            raise MemoryError
        return real(shape, *a, **kw)

    monkeypatch.setattr(columnar.np, "empty", no_memory)
    e = refused(load, p)
    assert "not enough memory for the table: 4 rows x 3 columns of float64" in str(e)
    assert "--dtype float32" in str(e)
