"""Numbers as text, fast and exactly as Python writes them: the export's CSV and GraphML writers.

``repr(float(x))`` is the shortest decimal string that reads back as the same double (David Gay's
algorithm in CPython). Formatting millions of memberships through it takes seconds (figures:
bench/README.md, "Writing memberships as text"), and numpy's ``astype(str)`` is slower
still. This module computes the same digits in numba with Ryu (Ulf Adams, "Ryu: fast float-to-string
conversion", PLDI 2018: the shortest correctly rounded digits, the nearest of them to the exact value
on ties, like Gay's), then lays them out as CPython's ``float_repr_style == 'short'`` does:

* positional when the decimal exponent x of the first digit is in [-4, 16): ``0.0001``, ``123.5``,
  ``1e+16`` is the first scientific one; a whole number gets ``.0`` (``2.0``);
* scientific otherwise: ``d.ddde-05`` (a single digit has no point: ``1e-05``), the exponent with a
  sign and at least two digits;
* ``nan`` (any NaN), ``inf``, ``-inf``, ``0.0``, ``-0.0``.

tests/test_textformat.py checks the result against ``repr`` on a few million doubles drawn across
every exponent, the subnormals, powers of two and short decimals.

The 128-bit products Ryu needs are built from 32-bit halves (numba has no 128-bit integer); the
tables of 5^i and 2^k / 5^i are computed exactly with Python integers when the module loads.
"""

from __future__ import annotations

import numba
import numpy as np

_POW5_BITCOUNT = 125
_POW5_INV_BITCOUNT = 125


def _tables() -> tuple[np.ndarray, np.ndarray]:
    mask = (1 << 64) - 1
    split = np.zeros((326, 2), dtype=np.uint64)
    for i in range(326):
        p = 5**i
        j = p.bit_length() - _POW5_BITCOUNT
        v = p >> j if j >= 0 else p << -j
        split[i] = (v & mask, v >> 64)
    inv = np.zeros((342, 2), dtype=np.uint64)
    for i in range(342):
        p = 5**i
        j = p.bit_length() - 1 + _POW5_INV_BITCOUNT
        v = (1 << j) // p + 1
        inv[i] = (v & mask, v >> 64)
    return split, inv


POW5_SPLIT, POW5_INV_SPLIT = _tables()
# Longest text of one double: "-2.2250738585072014e-308".
MAX_FLOAT_CHARS = 24
MAX_INT_CHARS = 20


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _umul128(a, b):
    """(low, high) 64-bit words of the 128-bit product a * b (uint64)."""
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    a_lo = a & m32
    a_hi = a >> s32
    b_lo = b & m32
    b_hi = b >> s32
    b00 = a_lo * b_lo
    b01 = a_lo * b_hi
    b10 = a_hi * b_lo
    b11 = a_hi * b_hi
    mid1 = b10 + (b00 >> s32)
    mid2 = b01 + (mid1 & m32)
    hi = b11 + (mid1 >> s32) + (mid2 >> s32)
    lo = (mid2 << s32) | (b00 & m32)
    return lo, hi


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mul_shift64(m, mul_lo, mul_hi, j):
    """((m * mul) >> j) for a 128-bit ``mul`` and 64 < j < 128."""
    b0_lo, b0_hi = _umul128(m, mul_lo)
    b2_lo, b2_hi = _umul128(m, mul_hi)
    s_lo = b0_hi + b2_lo
    s_hi = b2_hi + (np.uint64(1) if s_lo < b0_hi else np.uint64(0))
    d = np.uint64(j - 64)
    return (s_hi << (np.uint64(64) - d)) | (s_lo >> d)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mul_shift_all(mv, mp, mm, mul, j):
    """Ryu's mulShiftAll64: ``_mul_shift64`` of the interval's three ends by the table row
    ``mul`` (low, high words)."""
    lo = mul[0]
    hi = mul[1]
    return _mul_shift64(mv, lo, hi, j), _mul_shift64(mp, lo, hi, j), _mul_shift64(mm, lo, hi, j)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pow5bits(e):
    return ((e * 1217359) >> 19) + 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pow5_factor(v):
    n = 0
    five = np.uint64(5)
    while v > np.uint64(0) and v % five == np.uint64(0):
        v //= five
        n += 1
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy")
def shortest_digits(x):
    """Ryu's shortest round-trip decimal of a finite, non-zero |x|: (digits, exponent), the value
    being digits * 10**exponent."""
    bits = np.float64(abs(x)).view(np.uint64)
    ieee_m = bits & np.uint64((1 << 52) - 1)
    ieee_e = np.int64(bits >> np.uint64(52)) & 0x7FF
    if ieee_e == 0:
        e2 = 1 - 1023 - 52 - 2
        m2 = ieee_m
    else:
        e2 = ieee_e - 1023 - 52 - 2
        m2 = (np.uint64(1) << np.uint64(52)) | ieee_m
    accept = (m2 & np.uint64(1)) == np.uint64(0)
    mv = np.uint64(4) * m2
    mm_shift = np.uint64(1) if (ieee_m != np.uint64(0) or ieee_e <= 1) else np.uint64(0)
    mp_ = mv + np.uint64(2)
    mm_ = mv - np.uint64(1) - mm_shift
    vm_tz = False
    vr_tz = False
    if e2 >= 0:
        q = ((e2 * 78913) >> 18) - (1 if e2 > 3 else 0)
        e10 = q
        k = _POW5_INV_BITCOUNT + _pow5bits(q) - 1
        i = -e2 + q + k
        vr, vp, vm = _mul_shift_all(mv, mp_, mm_, POW5_INV_SPLIT[q], i)
        if q <= 21:
            if mv % np.uint64(5) == np.uint64(0):
                vr_tz = _pow5_factor(mv) >= q
            elif accept:
                vm_tz = _pow5_factor(mm_) >= q
            elif _pow5_factor(mp_) >= q:
                vp -= np.uint64(1)
    else:
        q = (((-e2) * 732923) >> 20) - (1 if -e2 > 1 else 0)
        e10 = q + e2
        i = -e2 - q
        k = _pow5bits(i) - _POW5_BITCOUNT
        j = q - k
        vr, vp, vm = _mul_shift_all(mv, mp_, mm_, POW5_SPLIT[i], j)
        if q <= 1:
            vr_tz = True
            if accept:
                vm_tz = mm_shift == np.uint64(1)
            else:
                vp -= np.uint64(1)
        elif q < 63:
            vr_tz = (mv & ((np.uint64(1) << np.uint64(q)) - np.uint64(1))) == np.uint64(0)
    removed = 0
    last = np.uint64(0)
    ten = np.uint64(10)
    if vm_tz or vr_tz:
        while vp // ten > vm // ten:
            vm_tz = vm_tz and (vm % ten == np.uint64(0))
            vr_tz = vr_tz and last == np.uint64(0)
            last = vr % ten
            vr, vp, vm = vr // ten, vp // ten, vm // ten
            removed += 1
        if vm_tz:
            while vm % ten == np.uint64(0):
                vr_tz = vr_tz and last == np.uint64(0)
                last = vr % ten
                vr, vp, vm = vr // ten, vp // ten, vm // ten
                removed += 1
        if vr_tz and last == np.uint64(5) and vr % np.uint64(2) == np.uint64(0):
            last = np.uint64(4)
        up = (vr == vm and (not accept or not vm_tz)) or last >= np.uint64(5)
        out = vr + (np.uint64(1) if up else np.uint64(0))
    else:
        round_up = False
        hundred = np.uint64(100)
        if vp // hundred > vm // hundred:
            round_up = vr % hundred >= np.uint64(50)
            vr, vp, vm = vr // hundred, vp // hundred, vm // hundred
            removed += 2
        while vp // ten > vm // ten:
            round_up = vr % ten >= np.uint64(5)
            vr, vp, vm = vr // ten, vp // ten, vm // ten
            removed += 1
        out = vr + (np.uint64(1) if (vr == vm or round_up) else np.uint64(0))
    return out, e10 + removed


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _n_digits(u):
    """How many decimal digits the unsigned ``u`` has (1 for 0)."""
    n = 1
    ten = np.uint64(10)
    while u >= ten:
        u //= ten
        n += 1
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _put_digits(buf, pos, u, n):
    """The last ``n`` decimal digits of the unsigned ``u``, most significant first, at buf[pos:];
    return pos + n."""
    ten = np.uint64(10)
    for k in range(n - 1, -1, -1):
        buf[pos + k] = 48 + np.uint8(u % ten)
        u //= ten
    return pos + n


@numba.njit(cache=True, nogil=True, error_model="numpy")
def write_int(v, buf, pos):
    """Write the integer ``v`` in decimal at buf[pos:]; return the new position."""
    if v < 0:
        buf[pos] = 45  # '-'
        pos += 1
        u = np.uint64(-(v + 1)) + np.uint64(1)
    else:
        u = np.uint64(v)
    return _put_digits(buf, pos, u, _n_digits(u))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def write_float(x, buf, pos):
    """Write ``repr(float(x))`` at buf[pos:] (ASCII bytes); return the new position."""
    if x != x:
        buf[pos] = 110  # nan
        buf[pos + 1] = 97
        buf[pos + 2] = 110
        return pos + 3
    neg = x < 0.0 or (x == 0.0 and np.float64(x).view(np.int64) < 0)
    if neg:
        buf[pos] = 45
        pos += 1
    if x == np.inf or x == -np.inf:
        buf[pos] = 105  # inf
        buf[pos + 1] = 110
        buf[pos + 2] = 102
        return pos + 3
    if x == 0.0:
        buf[pos] = 48
        buf[pos + 1] = 46
        buf[pos + 2] = 48
        return pos + 3
    digits, e = shortest_digits(x)
    n = _n_digits(digits)
    ten = np.uint64(10)
    decpt = e + n  # the decimal point sits after ``decpt`` digits
    x10 = decpt - 1
    if -4 <= x10 < 16:
        if decpt <= 0:  # 0.000ddd
            buf[pos] = 48
            buf[pos + 1] = 46
            pos += 2
            for _ in range(-decpt):
                buf[pos] = 48
                pos += 1
            return _put_digits(buf, pos, digits, n)
        if decpt >= n:  # ddd000.0
            pos = _put_digits(buf, pos, digits, n)
            for _ in range(decpt - n):
                buf[pos] = 48
                pos += 1
            buf[pos] = 46
            buf[pos + 1] = 48
            return pos + 2
        # ddd.ddd: digits with a point after decpt of them
        for k in range(n, -1, -1):
            if k == decpt:
                buf[pos + k] = 46
                continue
            buf[pos + k] = 48 + np.uint8(digits % ten)
            digits //= ten
        return pos + n + 1
    # scientific: d[.ddd]e(+|-)XX
    if n == 1:
        buf[pos] = 48 + np.uint8(digits)
        pos += 1
    else:
        for k in range(n, 1, -1):
            buf[pos + k] = 48 + np.uint8(digits % ten)
            digits //= ten
        buf[pos] = 48 + np.uint8(digits)
        buf[pos + 1] = 46
        pos += n + 1
    buf[pos] = 101  # 'e'
    buf[pos + 1] = 45 if x10 < 0 else 43
    pos += 2
    a = -x10 if x10 < 0 else x10
    if a < 10:
        buf[pos] = 48
        pos += 1
    return write_int(a, buf, pos)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def format_floats(values, buf, ends):
    """Every value's repr into ``buf`` one after the other; ends[i] is where value i ends."""
    pos = 0
    for i in range(values.shape[0]):
        pos = write_float(values[i], buf, pos)
        ends[i] = pos
    return pos


def float_reprs(values) -> list[str]:
    """``[repr(float(v)) for v in values]`` through the kernel (tests and small uses)."""
    v = np.ascontiguousarray(values, dtype=np.float64).ravel()
    buf = np.empty(max(1, len(v)) * MAX_FLOAT_CHARS, dtype=np.uint8)
    ends = np.empty(len(v), dtype=np.int64)
    n = format_floats(v, buf, ends)
    text = buf[:n].tobytes().decode("ascii")
    out, start = [], 0
    for e in ends.tolist():
        out.append(text[start:e])
        start = e
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _put(buf, pos, text):
    """Copy the bytes ``text`` (a uint8 array) to buf[pos:]."""
    for b in range(text.shape[0]):
        buf[pos + b] = text[b]
    return pos + text.shape[0]


@numba.njit(cache=True, nogil=True, inline="always")
def _put_range(buf, pos, src, lo, hi):
    for b in range(lo, hi):
        buf[pos] = src[b]
        pos += 1
    return pos


@numba.njit(cache=True, nogil=True, inline="always")
def _put_float_data(buf, pos, open_tag, value):
    """``open_tag``, the float ``value``, then ``</data>``: one GraphML data element."""
    pos = _put(buf, pos, open_tag)
    pos = write_float(value, buf, pos)
    return _put(buf, pos, _DATA_CLOSE)


@numba.njit(cache=True, nogil=True, inline="always")
def _put_int_data(buf, pos, open_tag, value):
    """``open_tag``, the integer ``value``, then ``</data>``."""
    pos = _put(buf, pos, open_tag)
    pos = write_int(value, buf, pos)
    return _put(buf, pos, _DATA_CLOSE)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def csv_rows(id_bytes, id_ends, labels, M, c_bytes, c_ends, with_comm, buf):
    """Rows ``id,label,p0,...,p{K-1}[,communities]`` into ``buf``; returns the bytes written.

    ``id_bytes``/``id_ends``: the ids' UTF-8 bytes (already quoted as csv writes them) one after
    the other and where each ends; ``M`` (n, K) float64 memberships (K may be 0); ``c_bytes``,
    ``c_ends`` the communities' text likewise, written when ``with_comm``."""
    pos = 0
    i0 = 0
    c0 = 0
    n, K = M.shape
    for i in range(n):
        pos = _put_range(buf, pos, id_bytes, i0, id_ends[i])
        i0 = id_ends[i]
        buf[pos] = 44
        pos = write_int(labels[i], buf, pos + 1)
        for k in range(K):
            buf[pos] = 44
            pos = write_float(M[i, k], buf, pos + 1)
        if with_comm:
            buf[pos] = 44
            pos += 1
            pos = _put_range(buf, pos, c_bytes, c0, c_ends[i])
            c0 = c_ends[i]
        buf[pos] = 10
        pos += 1
    return pos


_NODE_OPEN = np.frombuffer(b"    <node id=", dtype=np.uint8)
_COMMUNITY = np.frombuffer(b'>\n      <data key="community">', dtype=np.uint8)
_DATA_CLOSE = np.frombuffer(b"</data>\n", dtype=np.uint8)
_P_OPEN = np.frombuffer(b'      <data key="p', dtype=np.uint8)
_KEY_CLOSE = np.frombuffer(b'">', dtype=np.uint8)
_COMMS_OPEN = np.frombuffer(b'      <data key="communities">', dtype=np.uint8)
_TRUTH_OPEN = np.frombuffer(b'      <data key="ground_truth">', dtype=np.uint8)
_NODE_CLOSE = np.frombuffer(b"    </node>\n", dtype=np.uint8)
_X_OPEN = np.frombuffer(b'      <data key="x">', dtype=np.uint8)
_Y_OPEN = np.frombuffer(b'      <data key="y">', dtype=np.uint8)
_SIZE_OPEN = np.frombuffer(b'      <data key="size">', dtype=np.uint8)
_R_OPEN = np.frombuffer(b'      <data key="r">', dtype=np.uint8)
_G_OPEN = np.frombuffer(b'      <data key="g">', dtype=np.uint8)
_B_OPEN = np.frombuffer(b'      <data key="b">', dtype=np.uint8)
_EDGE_OPEN = np.frombuffer(b"    <edge source=", dtype=np.uint8)
_EDGE_TARGET = np.frombuffer(b" target=", dtype=np.uint8)
_WEIGHT = np.frombuffer(b'>\n      <data key="weight">', dtype=np.uint8)
_EDGE_CLOSE = np.frombuffer(b"</data>\n    </edge>\n", dtype=np.uint8)
# Bytes of one node besides its id, memberships, communities and ground truth (and the layout:
# NODE_LAYOUT); of one edge besides its two ids and weight.
NODE_FIXED = 200
NODE_LAYOUT = 6 * 40 + 3 * MAX_FLOAT_CHARS + 3 * MAX_INT_CHARS
EDGE_FIXED = 80


@numba.njit(cache=True, nogil=True, error_model="numpy")
def graphml_nodes(
    id_bytes,
    id_ends,
    labels,
    M,
    threshold,
    c_bytes,
    c_ends,
    with_comm,
    t_bytes,
    t_ends,
    has_truth,
    xy,
    size,
    rgb,
    buf,
):
    """GraphML ``<node>`` elements into ``buf``; returns the bytes written. Membership p_k of
    node i is written when M[i, k] >= threshold or k is the node's largest membership (so
    threshold -inf writes them all); ids arrive quoted (``quoteattr``), ground truth escaped.
    With a layout (``xy`` (n, 2), ``size`` (n,), ``rgb`` (n, 3) int; zero rows: none), each
    node also gets ``x``, ``y``, ``size``, ``r``, ``g``, ``b`` (what Gephi reads)."""
    pos = 0
    i0 = 0
    c0 = 0
    t0 = 0
    n, K = M.shape
    for i in range(n):
        pos = _put(buf, pos, _NODE_OPEN)
        pos = _put_range(buf, pos, id_bytes, i0, id_ends[i])
        i0 = id_ends[i]
        pos = _put(buf, pos, _COMMUNITY)
        pos = write_int(labels[i], buf, pos)
        pos = _put(buf, pos, _DATA_CLOSE)
        top = 0
        for k in range(1, K):
            if M[i, k] > M[i, top]:
                top = k
        for k in range(K):
            v = M[i, k]
            if v >= threshold or k == top:
                pos = _put(buf, pos, _P_OPEN)
                pos = write_int(k, buf, pos)
                pos = _put(buf, pos, _KEY_CLOSE)
                pos = write_float(v, buf, pos)
                pos = _put(buf, pos, _DATA_CLOSE)
        if with_comm:
            pos = _put(buf, pos, _COMMS_OPEN)
            pos = _put_range(buf, pos, c_bytes, c0, c_ends[i])
            c0 = c_ends[i]
            pos = _put(buf, pos, _DATA_CLOSE)
        if has_truth.shape[0] > 0:
            if has_truth[i]:
                pos = _put(buf, pos, _TRUTH_OPEN)
                pos = _put_range(buf, pos, t_bytes, t0, t_ends[i])
                pos = _put(buf, pos, _DATA_CLOSE)
            t0 = t_ends[i]
        if xy.shape[0] > 0:
            pos = _put_float_data(buf, pos, _X_OPEN, xy[i, 0])
            pos = _put_float_data(buf, pos, _Y_OPEN, xy[i, 1])
            pos = _put_float_data(buf, pos, _SIZE_OPEN, size[i])
            pos = _put_int_data(buf, pos, _R_OPEN, rgb[i, 0])
            pos = _put_int_data(buf, pos, _G_OPEN, rgb[i, 1])
            pos = _put_int_data(buf, pos, _B_OPEN, rgb[i, 2])
        pos = _put(buf, pos, _NODE_CLOSE)
    return pos


@numba.njit(cache=True, nogil=True, error_model="numpy")
def graphml_edges(id_bytes, id_ends, edges, weights, buf):
    """GraphML ``<edge>`` elements for ``edges`` (E, 2) node indices into ``buf`` (ids of every
    node, quoted, one after the other); returns the bytes written."""
    pos = 0
    for e in range(edges.shape[0]):
        u = edges[e, 0]
        v = edges[e, 1]
        pos = _put(buf, pos, _EDGE_OPEN)
        pos = _put_range(buf, pos, id_bytes, id_ends[u - 1] if u > 0 else 0, id_ends[u])
        pos = _put(buf, pos, _EDGE_TARGET)
        pos = _put_range(buf, pos, id_bytes, id_ends[v - 1] if v > 0 else 0, id_ends[v])
        pos = _put(buf, pos, _WEIGHT)
        pos = write_float(weights[e], buf, pos)
        pos = _put(buf, pos, _EDGE_CLOSE)
    return pos
