#!/usr/bin/env python3
"""make_ort_cases.py: onnxruntime cross-check cases for qweave's reference interpreter.

Writes one directory per case under tests/ort_cases/ (next to this script):

    <case>/model.onnx                    one ONNX node (opset 21; com.microsoft opset 1 for the
                                         contrib ops), scales and zero points as initializers
    <case>/test_data_set_0/input_<i>.pb  the graph inputs (TensorProto), ONNX backend-test layout
    <case>/test_data_set_0/output_<i>.pb what onnxruntime computed
    <case>/case.json                     the same computation as one qweave IR op, for
                                         runtime/interp/tests/ort_cases.rs

Expected outputs come from onnxruntime (CPUExecutionProvider, intra_op_num_threads = 1,
graph optimizations disabled). They are what onnxruntime computes on the machine that ran this
script, which was x86-64 with AVX2 and FMA (no AVX-512, no VNNI); other CPUs may take other
MLAS kernels. The `qonnx_trunc_*` cases are the exception: onnxruntime has no QONNX Trunc, so
their expected outputs come from the qonnx 1.0.0 executor functions (`trunc_v1`, `trunc_v2`)
on float32 numpy arrays, and they have only a case.json.

case.json: {"op": IR op name, "attrs": {name: ATTR}, "inputs": [TENSOR], "outputs": [TENSOR],
"oracle": "onnxruntime <version>" or "qonnx <version>", "note": text}, where
    ATTR   = {"num": "12"} | {"num": "0x3f800000"} (an f32 by its bits) | {"word": "true"}
             | {"type": ELEM} | {"list": [ATTR, ...]}   (the IR text form's attribute values)
    ELEM   = "f32" | "u8" | "i4" | ... (plain types)
             | {"storage": "u8", "scale": "0x3c000000", "zp": 3}             (per tensor)
             | {"storage": "i8", "axis": 0, "scales": ["0x...", ...], "zps": [0, ...]}
    TENSOR = {"shape": [..], "elem": ELEM, "ints": [stored integers]}
             | {"shape": [..], "elem": "f32", "f32": [IEEE bit patterns as integers]}

Inputs are random but deterministic (each case seeds numpy from a CRC of its name) and include
the extremes of each type and rounding ties. Where onnxruntime's float formula has details
worth pinning down (fused multiply-adds in QLinearAdd/QLinearMul, the order in which
requantization scales are combined), the inputs are chosen by search: this script evaluates
the plausible variants of the formula with numpy and keeps inputs on which they disagree, so
that only the right variant passes every case.

Known onnxruntime behaviour the cases avoid: with u8 activations and s8 weights (QLinearConv
except depthwise, QLinearMatMul, QGemm, MatMulInteger), and in ConvInteger with s8 x and u8 w,
MLAS's AVX2 kernels multiply with VPMADDUBSW, which saturates the sum of each pair of products
to int16. qweave computes the exact sum, so those cases keep |x * w| <= 16383 for every stored
pair. Cast from f32 to u32 of -inf gives a result that depends on the element's position, so
that value is left out. (Other out-of-range casts are deterministic and included.)

Run from the repository root:

    scripts/python-env.sh && .cache/venv/bin/python tests/ort_cases/make_ort_cases.py

It deletes and rewrites every case directory (any directory here holding a case.json).
"""

import ctypes
import json
import shutil
import sys
import zlib
from importlib.metadata import version as package_version
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from qonnx.custom_op.general.trunc import trunc_v1, trunc_v2

HERE = Path(__file__).resolve().parent
OPSET = 21
MS = "com.microsoft"
F = np.float32

STORAGE = {
    np.dtype(np.uint8): "u8",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint16): "u16",
    np.dtype(np.int16): "i16",
    np.dtype(np.int32): "i32",
    np.dtype(np.uint32): "u32",
    np.dtype(ml_dtypes.int4): "i4",
    np.dtype(ml_dtypes.uint4): "u4",
    np.dtype(np.float32): "f32",
}


def hexf(x):
    """An f32 as the IR text form writes it exactly: 0x + its bits."""
    return "0x%08x" % int(np.asarray(x, F).view(np.uint32))


def limits(dtype):
    """(min, max) of an integer numpy dtype (ml_dtypes 4-bit types included)."""
    dtype = np.dtype(dtype)
    if dtype == np.dtype(ml_dtypes.int4):
        return -8, 7
    if dtype == np.dtype(ml_dtypes.uint4):
        return 0, 15
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


# ---------------------------------------------------------------------------------------------
# IR element types, tensors and attributes as case.json writes them


class Elem:
    """An IR element type: plain (scale None) or quantized per tensor or per axis."""

    def __init__(self, dtype, scale=None, zp=None, axis=None):
        self.dtype = np.dtype(dtype)
        self.scale, self.zp, self.axis = scale, zp, axis

    def json(self):
        s = STORAGE[self.dtype]
        if self.scale is None:
            return s
        if self.axis is None:
            return {"storage": s, "scale": hexf(self.scale), "zp": int(self.zp)}
        return {
            "storage": s,
            "axis": self.axis,
            "scales": [hexf(v) for v in np.ravel(self.scale)],
            "zps": [int(v) for v in np.ravel(self.zp)],
        }


def plain(dtype):
    return Elem(dtype)


def tensor_json(arr, elem):
    arr = np.asarray(arr)
    d = {"shape": [int(n) for n in arr.shape], "elem": elem.json()}
    if elem.dtype == np.dtype(F):
        d["f32"] = [int(v) for v in arr.astype(F).view(np.uint32).ravel()]
    else:
        d["ints"] = [int(v) for v in arr.astype(np.int64).ravel()]
    return d


def a_int(v):
    return {"num": str(int(v))}


def a_f32(v):
    return {"num": hexf(v)}


def a_bool(v):
    return {"word": "true" if v else "false"}


def a_word(w):
    return {"word": w}


def a_type(elem):
    return {"type": elem.json()}


def a_ints(vs):
    return {"list": [a_int(v) for v in vs]}


# ---------------------------------------------------------------------------------------------
# Models, onnxruntime, and writing a case

CASES = []


def onnx_type(dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def make_model(name, op, node_inputs, attrs, feeds, inits, outputs, domain="", shapes=None):
    """One node `op` reading `node_inputs` ("" for an omitted optional input); `feeds` are the
    graph inputs (name, array), `inits` the initializers {name: array}, `outputs` (name, dtype),
    `shapes` the output shapes once known."""
    shapes = shapes or [None] * len(outputs)
    node = helper.make_node(op, node_inputs, [n for n, _ in outputs], domain=domain or None, **attrs)
    graph = helper.make_graph(
        [node],
        name,
        [helper.make_tensor_value_info(n, onnx_type(a.dtype), a.shape) for n, a in feeds],
        [helper.make_tensor_value_info(n, onnx_type(d), s) for (n, d), s in zip(outputs, shapes)],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if domain == MS:
        opsets.append(helper.make_opsetid(MS, 1))
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10, producer_name="make_ort_cases.py")
    if domain != MS and shapes[0] is not None:
        onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model, feeds):
    """The outputs onnxruntime computes, as numpy arrays (4-bit outputs read from the raw
    buffer, which the Python binding cannot convert)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    values = sess.run_with_ort_values(None, {n: ort.OrtValue.ortvalue_from_numpy(a) for n, a in feeds})
    outs = []
    for v in values:
        kind = v.data_type()
        if kind in ("tensor(int4)", "tensor(uint4)"):
            shape = v.shape()
            n = int(np.prod(shape))
            raw = np.frombuffer(ctypes.string_at(v.data_ptr(), (n + 1) // 2), np.uint8)
            nibbles = np.stack([raw & 15, raw >> 4], 1).ravel()[:n].astype(np.int8)
            if kind == "tensor(int4)":
                nibbles = np.where(nibbles >= 8, nibbles - 16, nibbles).astype(ml_dtypes.int4)
            else:
                nibbles = nibbles.astype(ml_dtypes.uint4)
            outs.append(nibbles.reshape(shape))
        else:
            outs.append(v.numpy())
    return outs


def case_dir(name):
    if name in CASES:
        sys.exit(f"duplicate case name {name}")
    CASES.append(name)
    d = HERE / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def emit(name, onnx_op, node_inputs, onnx_attrs, feeds, inits, outputs, ir_op, ir_attrs, ir_inputs, ir_outputs,
         domain="", note=""):
    """Builds, runs and writes one case. `outputs` lists (name, dtype) of the ONNX outputs,
    `ir_inputs` (array, Elem) of the IR operands, `ir_outputs` the IR result Elems."""
    model = make_model(name, onnx_op, node_inputs, onnx_attrs, feeds, inits, outputs, domain)
    results = run_ort(model, feeds)
    shapes = [list(r.shape) for r in results]
    model = make_model(name, onnx_op, node_inputs, onnx_attrs, feeds, inits, outputs, domain, shapes)
    d = case_dir(name)
    onnx.save(model, d / "model.onnx")
    data = d / "test_data_set_0"
    data.mkdir()
    for i, (n, a) in enumerate(feeds):
        (data / f"input_{i}.pb").write_bytes(numpy_helper.from_array(a, n).SerializeToString())
    for i, ((n, _), r) in enumerate(zip(outputs, results)):
        (data / f"output_{i}.pb").write_bytes(numpy_helper.from_array(r, n).SerializeToString())
    write_json(d, ir_op, ir_attrs, ir_inputs, list(zip(results, ir_outputs)), f"onnxruntime {ort.__version__}", note)


def write_json(d, ir_op, ir_attrs, ir_inputs, ir_outputs, oracle, note):
    doc = {
        "op": ir_op,
        "attrs": ir_attrs,
        "inputs": [tensor_json(a, e) for a, e in ir_inputs],
        "outputs": [tensor_json(a, e) for a, e in ir_outputs],
        "oracle": oracle,
        "note": note,
    }
    (d / "case.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def ints(rng, dtype, shape, lo=None, hi=None):
    """Random stored values of `dtype` in [lo, hi] (default: the whole range), with both
    extremes of that interval placed at random positions when there is room."""
    tlo, thi = limits(dtype)
    lo = tlo if lo is None else lo
    hi = thi if hi is None else hi
    v = rng.integers(lo, hi + 1, size=shape)
    flat = v.reshape(-1)
    if flat.size >= 4:
        pos = rng.choice(flat.size, 2, replace=False)
        flat[pos[0]], flat[pos[1]] = lo, hi
    return v.astype(dtype)


def ugly_scale(rng, lo, hi):
    """A random f32 scale in [lo, hi] that is not a power of two."""
    return F(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def qp(rng, dtype, zp_spread=None):
    """A random zero point of `dtype` (within `zp_spread` of the middle when given)."""
    lo, hi = limits(dtype)
    if zp_spread is not None:
        mid = (lo + hi + 1) // 2
        lo, hi = max(lo, mid - zp_spread), min(hi, mid + zp_spread)
    return int(rng.integers(lo, hi + 1))


def scalar_of(dtype, v):
    return np.array(v, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# numpy models of formula variants, used to search for discriminating inputs


def fma(a, b, c):
    """f32 fused multiply-add (through f64: the product is exact, the sum rounds twice in rare
    cases, which only weakens the search a little)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(F)


def rne(v, lo, hi):
    """Round half to even and saturate, as integers (NaN to lo)."""
    v = np.asarray(v, np.float64)
    r = np.round(np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo))
    return np.clip(r, lo, hi).astype(np.int64)


def disagree(variants):
    """Indices where the integer results of the variants are not all equal."""
    stack = np.stack(variants)
    return np.nonzero((stack != stack[0]).any(axis=0))[0]


def requant_hits(scales, lo_q, hi_q, zp, acc_lo, acc_hi, against=None):
    """Accumulators in [acc_lo, acc_hi] that requantize differently under the candidate scales
    (only the first against `scales[against]` when given)."""
    acc = np.arange(acc_lo, acc_hi + 1, dtype=np.int64)
    af = acc.astype(F)
    if against is not None:
        scales = [scales[0], scales[against]]
    outs = [rne(af * F(s), lo_q - zp, hi_q - zp) for s in scales]
    return acc[disagree(outs)]


# ---------------------------------------------------------------------------------------------
# QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear


def quantize_case(name, x, dtype, scale, zp, axis=None, note=""):
    inits = {"y_scale": np.asarray(scale, F), "y_zero_point": np.asarray(zp, dtype)}
    attrs = {} if axis is None else {"axis": axis}
    out = Elem(dtype, scale, zp, axis)
    emit(name, "QuantizeLinear", ["x", "y_scale", "y_zero_point"], attrs, [("x", x)], inits, [("y", dtype)],
         "onnx.quantize_linear", {"out": a_type(out)}, [(x, plain(F))], [out], note=note)


def dequantize_case(name, x, scale, zp, axis=None, as_initializer=False, note=""):
    dtype = x.dtype
    inits = {"x_scale": np.asarray(scale, F), "x_zero_point": np.asarray(zp, dtype)}
    feeds = [("x", x)]
    if as_initializer:
        inits = {"x": x, **inits}
        feeds = []
    attrs = {} if axis is None else {"axis": axis}
    emit(name, "DequantizeLinear", ["x", "x_scale", "x_zero_point"], attrs, feeds, inits, [("y", F)],
         "onnx.dequantize_linear", {}, [(x, Elem(dtype, scale, zp, axis))], [plain(F)], note=note)


def tie_values(scale, lo, hi):
    """(k + 0.5) * scale for every k that lands near [lo, hi], plus exact multiples."""
    k = np.arange(lo - 3, hi + 3)
    return np.concatenate([(k + 0.5) * scale, k * scale]).astype(F)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, -0.0, 1e-45, -1e-45], F)


def division_ties(rng, scale, lo, hi, zp):
    """Values x near (k + 0.5) * scale on which round(x / scale) and round(x * (1 / scale))
    differ (MLAS divides)."""
    s = F(scale)
    k = np.arange(lo - zp - 1, hi - zp + 1)
    x = ((k + 0.5) * float(s)).astype(F)
    cand = np.concatenate([x] + [np.nextafter(x, F(np.inf) if i > 0 else F(-np.inf)).astype(F) for i in (1, -1)])
    for _ in range(2):
        cand = np.concatenate([cand, np.nextafter(cand, F(np.inf)), np.nextafter(cand, F(-np.inf))]).astype(F)
    cand = np.unique(cand)
    div = np.round((cand / s).astype(F))
    rec = np.round((cand * F(F(1) / s)).astype(F))
    return cand[div != rec]


def quantize_cases():
    rng = rng_for("q_u8")
    x = np.concatenate([tie_values(0.5, -101, 154), SPECIALS])
    x = np.insert(x, [0, 17, 100], np.nan).astype(F)
    x = np.append(x, [np.nan, np.nan, np.nan]).astype(F)  # NaN in the tail of the vector loop
    quantize_case("quantize_u8_ties_nan", x, np.uint8, 0.5, 101,
                  note="ties to even around an odd zero point; NaN (at the start, middle and tail) gives 0")
    x = np.concatenate([tie_values(0.25, -128, 127), SPECIALS]).astype(F)
    quantize_case("quantize_i8_ties_nan", x, np.int8, 0.25, -1, note="NaN gives -128")
    s = ugly_scale(rng, 0.01, 0.05)
    zp = qp(rng, np.uint8, 60)
    ties = division_ties(rng, s, 0, 255, zp)
    x = np.concatenate([(rng.normal(size=103) * 90 * s).astype(F), ties]).astype(F)
    quantize_case("quantize_u8_random", x, np.uint8, s, zp,
                  note=f"{ties.size} values where x / scale and x * (1 / scale) round differently")
    s = ugly_scale(rng, 0.01, 0.05)
    zp = qp(rng, np.int8, 40)
    ties = division_ties(rng, s, -128, 127, zp)
    x = np.concatenate([(rng.normal(size=77) * 70 * s).astype(F), ties]).astype(F)
    quantize_case("quantize_i8_random", x, np.int8, s, zp,
                  note=f"{ties.size} values where x / scale and x * (1 / scale) round differently")
    scales = np.array([ugly_scale(rng, 0.005, 0.1) for _ in range(3)], F)
    zps = np.array([qp(rng, np.int8, 50) for _ in range(3)], np.int8)
    x = (rng.normal(size=(2, 3, 5)) * 60 * scales[None, :, None]).astype(F)
    x[0, 1, 2] = np.nan
    quantize_case("quantize_i8_per_axis1", x, np.int8, scales, zps, axis=1)
    scales = np.array([ugly_scale(rng, 0.005, 0.1) for _ in range(4)], F)
    zps = np.array([qp(rng, np.uint8, 100) for _ in range(4)], np.uint8)
    x = (rng.normal(size=(4, 6)) * 100 * scales[:, None]).astype(F)
    quantize_case("quantize_u8_per_axis0", x, np.uint8, scales, zps, axis=0)
    s = ugly_scale(rng, 0.001, 0.01)
    x = np.concatenate([(rng.normal(size=150) * 20000 * s).astype(F), tie_values(F(0.125), -20, 20), SPECIALS])
    quantize_case("quantize_i16_random_ties", x.astype(F), np.int16, s, -1234)
    quantize_case("quantize_i16_ties", np.concatenate([tie_values(F(0.5), -40, 40), SPECIALS]).astype(F),
                  np.int16, F(0.5), -32767, note="zero point near the minimum: negatives saturate")
    x = np.concatenate([(rng.normal(size=100) * 40000 * s).astype(F), SPECIALS]).astype(F)
    quantize_case("quantize_u16_random", x, np.uint16, s, 30001)
    x = np.concatenate([tie_values(F(0.5), -9, 8), SPECIALS]).astype(F)
    quantize_case("quantize_i4_ties", x, ml_dtypes.int4, F(0.5), np.array(1, ml_dtypes.int4))
    x = np.concatenate([tie_values(F(0.25), -2, 16), SPECIALS]).astype(F)
    quantize_case("quantize_u4_ties", x, ml_dtypes.uint4, F(0.25), np.array(3, ml_dtypes.uint4))
    scales = np.array([0.5, 0.25, 1.0], F)
    zps = np.array([0, -3, 7], ml_dtypes.int4)
    x = np.stack([tie_values(F(s), -9, 8)[:30] for s in scales], 1).astype(F)
    quantize_case("quantize_i4_per_axis1", x, ml_dtypes.int4, scales, zps, axis=1)


def dequantize_cases():
    rng = rng_for("dq")
    x = np.arange(256, dtype=np.uint8)
    dequantize_case("dequantize_u8_all", x, ugly_scale(rng, 0.001, 0.1), 117)
    x = np.arange(-128, 128, dtype=np.int8).reshape(8, 4, 8)
    scales = np.array([ugly_scale(rng, 0.001, 0.5) for _ in range(4)], F)
    zps = np.array([-128, 0, 5, 127], np.int8)
    dequantize_case("dequantize_i8_per_axis1", x, scales, zps, axis=1)
    x = ints(rng, np.int16, (97,))
    dequantize_case("dequantize_i16", x, ugly_scale(rng, 1e-5, 1e-2), -30000)
    x = ints(rng, np.uint16, (3, 33))
    scales = np.array([ugly_scale(rng, 1e-5, 1e-2) for _ in range(3)], F)
    dequantize_case("dequantize_u16_per_axis0", x, scales, np.array([0, 65535, 12345], np.uint16), axis=0)
    x = np.arange(-8, 8).astype(ml_dtypes.int4)
    dequantize_case("dequantize_i4_all", x, ugly_scale(rng, 0.01, 1.0), np.array(-3, ml_dtypes.int4),
                    as_initializer=True, note="x is an initializer: onnxruntime's Python binding cannot feed int4")
    x = np.arange(16).astype(ml_dtypes.uint4)
    dequantize_case("dequantize_u4_all", x, ugly_scale(rng, 0.01, 1.0), np.array(9, ml_dtypes.uint4),
                    as_initializer=True, note="x is an initializer: onnxruntime's Python binding cannot feed uint4")


def dynamic_case(name, x, note=""):
    emit(name, "DynamicQuantizeLinear", ["x"], {}, [("x", x)], {},
         [("y", np.uint8), ("y_scale", F), ("y_zero_point", np.uint8)],
         "onnx.dynamic_quantize_linear", {}, [(x, plain(F))], [plain(np.uint8), plain(F), plain(np.uint8)],
         note=note)


def dynamic_cases():
    rng = rng_for("dyn")
    dynamic_case("dynamic_quantize_mixed", (rng.normal(size=(3, 41)) * 3 - 1).astype(F))
    dynamic_case("dynamic_quantize_positive", (rng.uniform(0.5, 7, size=50)).astype(F), note="min(x) > 0: lo is 0")
    dynamic_case("dynamic_quantize_negative", (-rng.uniform(0.1, 2, size=(2, 9))).astype(F), note="zp is 255")
    dynamic_case("dynamic_quantize_zeros", np.zeros((4, 4), F), note="scale 1")
    x = np.array([-1.0, 1.0, 0.5, -0.5, 0.25, 3.0, -2.0, 0.0] * 5, F)
    dynamic_case("dynamic_quantize_ties", x)
    dynamic_case("dynamic_quantize_wide", (rng.standard_cauchy(size=65) * 100).astype(F))
    dynamic_case("dynamic_quantize_single", np.array([-3.75], F))


# ---------------------------------------------------------------------------------------------
# Cast


def cast_case(name, x, to_dtype, note=""):
    to = onnx_type(to_dtype)
    emit(name, "Cast", ["x"], {"to": to}, [("x", x)], {}, [("y", to_dtype)],
         "onnx.cast", {"to": a_type(plain(to_dtype))}, [(x, plain(x.dtype))], [plain(to_dtype)], note=note)


def cast_cases():
    rng = rng_for("cast")
    base = np.array([2.9, -2.9, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 127.5, 128.0, -128.9, -129.0, 255.9, 256.0, 300.0,
                     -300.0, 7.5, 8.5, -8.5, 15.5, 16.0, 32767.9, 32768.0, -32769.0, 65535.5, 70000.0, -70000.0,
                     2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 3e9, 4294967040.0, 4294967296.0,
                     -3e9, 1e20, -1e20, 0.49999997, -0.0, 1e-40, np.nan, np.inf], F)
    x = np.concatenate([base, (rng.normal(size=29) * 200).astype(F), base[::-1]]).astype(F)
    for dt in [np.int8, np.uint8, np.int16, np.uint16, np.int32, ml_dtypes.int4, ml_dtypes.uint4]:
        cast_case(f"cast_f32_to_{STORAGE[np.dtype(dt)]}", x, dt)
    cast_case("cast_f32_to_u32", x, np.uint32,
              note="no -inf: onnxruntime's u32 result for -inf depends on the element's position")
    i32 = np.concatenate([np.array([-2**31, 2**31 - 1, 16777217, -16777217, 16777216 + 3, -129, -128, -9, -8, -1, 0,
                                    7, 8, 15, 16, 127, 128, 255, 256, 32767, 32768, 65535, 65536], np.int32),
                          rng.integers(-2**31, 2**31, size=40).astype(np.int32)])
    for dt in [np.float32, np.int8, np.uint8, np.int16, np.uint16, np.uint32, ml_dtypes.int4, ml_dtypes.uint4]:
        cast_case(f"cast_i32_to_{STORAGE[np.dtype(dt)]}", i32, dt)
    u8 = np.arange(256, dtype=np.uint8)
    for dt in [np.int8, np.float32, ml_dtypes.int4, np.int32]:
        cast_case(f"cast_u8_to_{STORAGE[np.dtype(dt)]}", u8, dt)
    i8 = np.arange(-128, 128, dtype=np.int8)
    for dt in [np.uint8, np.uint32, np.uint16]:
        cast_case(f"cast_i8_to_{STORAGE[np.dtype(dt)]}", i8, dt)
    u32 = np.concatenate([np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 16777217, 4294967040, 4294967167], np.uint32),
                          rng.integers(0, 2**32, size=20).astype(np.uint32)])
    for dt in [np.float32, np.int32, np.int16]:
        cast_case(f"cast_u32_to_{STORAGE[np.dtype(dt)]}", u32, dt)


# ---------------------------------------------------------------------------------------------
# ConvInteger, MatMulInteger


def conv_attrs_onnx(strides, pads, dilations, group):
    return {"strides": strides, "pads": pads, "dilations": dilations, "group": group}


def conv_attrs_ir(strides, pads, dilations, group):
    return {"strides": a_ints(strides), "pads": a_ints(pads), "dilations": a_ints(dilations), "group": a_int(group)}


def conv_integer_case(name, x, w, xz, wz, strides, pads, dilations, group, note=""):
    xz, wz = np.asarray(xz, x.dtype), np.asarray(wz, w.dtype)
    emit(name, "ConvInteger", ["x", "w", "x_zero_point", "w_zero_point"], conv_attrs_onnx(strides, pads, dilations, group),
         [("x", x)], {"w": w, "x_zero_point": xz, "w_zero_point": wz}, [("y", np.int32)],
         "onnx.conv_integer", conv_attrs_ir(strides, pads, dilations, group),
         [(x, plain(x.dtype)), (w, plain(w.dtype)), (xz, plain(x.dtype)), (wz, plain(w.dtype))], [plain(np.int32)],
         note=note)


def matmul_integer_case(name, a, b, az, bz, note=""):
    az, bz = np.asarray(az, a.dtype), np.asarray(bz, b.dtype)
    emit(name, "MatMulInteger", ["a", "b", "a_zero_point", "b_zero_point"], {}, [("a", a), ("b", b)],
         {"a_zero_point": az, "b_zero_point": bz}, [("y", np.int32)], "onnx.matmul_integer", {},
         [(a, plain(a.dtype)), (b, plain(b.dtype)), (az, plain(a.dtype)), (bz, plain(b.dtype))], [plain(np.int32)],
         note=note)


def integer_cases():
    rng = rng_for("convint")
    x = ints(rng, np.uint8, (2, 3, 7, 6))
    w = ints(rng, np.uint8, (4, 3, 3, 2))
    conv_integer_case("conv_integer_u8u8_pads_strides", x, w, 131, 7, [2, 1], [1, 0, 2, 1], [1, 1], 1)
    x = ints(rng, np.uint8, (1, 4, 6, 6))
    w = ints(rng, np.int8, (6, 2, 2, 2))
    conv_integer_case("conv_integer_u8s8_group_dilation", x, w, 3, -5, [1, 1], [1, 1, 1, 1], [2, 2], 2,
                      note="full-range s8 weights: onnxruntime's ConvInteger is exact")
    x = ints(rng, np.int8, (1, 2, 9))
    w = ints(rng, np.int8, (3, 2, 3))
    conv_integer_case("conv_integer_s8s8_1d", x, w, -100, 0, [2], [2, 1], [1], 1)
    x = ints(rng, np.int8, (1, 3, 5, 5))
    w = ints(rng, np.uint8, (3, 1, 3, 3), 0, 127)
    conv_integer_case("conv_integer_s8u8_depthwise", x, w, 9, 127, [1, 1], [1, 1, 1, 1], [1, 1], 3,
                      note="w in [0, 127]: with s8 x and u8 w onnxruntime saturates pairs of products (VPMADDUBSW)")

    rng = rng_for("mmint")
    matmul_integer_case("matmul_integer_u8u8_2d", ints(rng, np.uint8, (5, 33)), ints(rng, np.uint8, (33, 7)), 200, 13)
    a = ints(rng, np.int8, (2, 3, 4, 17))
    b = ints(rng, np.int8, (2, 3, 17, 5))
    matmul_integer_case("matmul_integer_s8s8_batched", a, b, -7, 127)
    a = ints(rng, np.int8, (5, 11))
    b = ints(rng, np.int8, (11, 5))
    matmul_integer_case("matmul_integer_s8s8_per_column", a, b, -128, np.array([-128, 0, 127, 1, -1], np.int8))
    a = ints(rng, np.uint8, (2, 1, 3, 8))
    b = ints(rng, np.int8, (3, 8, 4), -64, 64)
    matmul_integer_case("matmul_integer_u8s8_broadcast_batch", a, b, 128, 64,
                        note="b in [-64, 64]: VPMADDUBSW does not saturate")
    a = ints(rng, np.int8, (6,))
    b = ints(rng, np.uint8, (6, 3))
    matmul_integer_case("matmul_integer_s8u8_vector", a, b, 0, 255)
    a = ints(rng, np.uint8, (4, 6))
    b = ints(rng, np.uint8, (6,))
    matmul_integer_case("matmul_integer_u8u8_matrix_vector", a, b, 1, 2)


# ---------------------------------------------------------------------------------------------
# QLinearConv, QLinearMatMul, QGemm


def qlinear_conv_case(name, x, xq, w, wq, yq, bias, strides, pads, dilations, group, note=""):
    """xq, yq: (scale, zp); wq: (scale or per-channel scales, zp or per-channel zps)."""
    per_channel = np.ndim(wq[0]) == 1
    inits = {
        "x_scale": np.asarray(xq[0], F), "x_zero_point": scalar_of(x.dtype, xq[1]),
        "w": w, "w_scale": np.asarray(wq[0], F), "w_zero_point": np.asarray(wq[1], w.dtype),
        "y_scale": np.asarray(yq[0], F), "y_zero_point": scalar_of(x.dtype, yq[1]),
    }
    names = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point"]
    ir_inputs = [(x, Elem(x.dtype, *xq)), (w, Elem(w.dtype, wq[0], wq[1], 0 if per_channel else None))]
    if bias is not None:
        inits["B"] = bias
        names.append("B")
        ir_inputs.append((bias, plain(np.int32)))
    out = Elem(x.dtype, *yq)
    attrs = conv_attrs_ir(strides, pads, dilations, group)
    attrs["out"] = a_type(out)
    emit(name, "QLinearConv", names, conv_attrs_onnx(strides, pads, dilations, group), [("x", x)], inits,
         [("y", x.dtype)], "onnx.qlinear_conv", attrs, ir_inputs, [out], note=note)


def qlinear_matmul_case(name, a, aq, b, bq, yq, note=""):
    per_column = np.ndim(bq[0]) == 1
    inits = {
        "a_scale": np.asarray(aq[0], F), "a_zero_point": scalar_of(a.dtype, aq[1]),
        "b": b, "b_scale": np.asarray(bq[0], F), "b_zero_point": np.asarray(bq[1], b.dtype),
        "y_scale": np.asarray(yq[0], F), "y_zero_point": scalar_of(a.dtype, yq[1]),
    }
    if per_column:
        # onnxruntime wants per-column parameters shaped [batch..., 1, N]: the same N values
        # repeated for every batch
        shape = b.shape[:-2] + (1, b.shape[-1])
        inits["b_scale"] = np.broadcast_to(inits["b_scale"].reshape(1, -1), shape).copy()
        inits["b_zero_point"] = np.broadcast_to(inits["b_zero_point"].reshape(1, -1), shape).copy()
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]
    out = Elem(a.dtype, *yq)
    ir_b = Elem(b.dtype, bq[0], bq[1], b.ndim - 1 if per_column else None)
    emit(name, "QLinearMatMul", names, {}, [("a", a)], inits, [("y", a.dtype)], "onnx.qlinear_matmul",
         {"out": a_type(out)}, [(a, Elem(a.dtype, *aq)), (b, ir_b)], [out], note=note)


def qgemm_case(name, a, aq, b, bq, c, yq, alpha=1.0, trans_a=False, trans_b=False, note=""):
    """yq None: float output."""
    per_column = np.ndim(bq[0]) == 1
    inits = {
        "a_scale": np.asarray(aq[0], F), "a_zero_point": scalar_of(a.dtype, aq[1]),
        "b": b, "b_scale": np.asarray(bq[0], F), "b_zero_point": np.asarray(bq[1], b.dtype),
    }
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point"]
    ir_inputs = [(a, Elem(a.dtype, *aq)), (b, Elem(b.dtype, bq[0], bq[1], (0 if trans_b else 1) if per_column else None))]
    if c is not None:
        inits["C"] = c
        names.append("C")
        ir_inputs.append((c, plain(np.int32)))
    else:
        names.append("")
    if yq is not None:
        inits["y_scale"] = np.asarray(yq[0], F)
        inits["y_zero_point"] = scalar_of(a.dtype, yq[1])
        names += ["y_scale", "y_zero_point"]
        out, out_dtype = Elem(a.dtype, *yq), a.dtype
    else:
        out, out_dtype = plain(F), F
    attrs = {"alpha": float(alpha), "transA": int(trans_a), "transB": int(trans_b)}
    ir_attrs = {"alpha": a_f32(alpha), "trans_a": a_bool(trans_a), "trans_b": a_bool(trans_b), "out": a_type(out)}
    emit(name, "QGemm", names, attrs, [("a", a)], inits, [("y", out_dtype)], "onnx.qgemm", ir_attrs, ir_inputs,
         [out], domain=MS, note=note)


def conv_scale_variants(sx, sw, sy):
    return [F(F(sx * sw) / sy), F(sx * F(sw / sy)), F(F(sx / sy) * sw), F(F(sx * sw) * F(F(1) / sy))]


def requant_hits_for(scales, lo_q, hi_q, zp, acc_lim, against=None):
    """Discriminating accumulators for `scales` within [-acc_lim, acc_lim] and the range where
    the result is not saturated."""
    lim = int(min(acc_lim, (hi_q - lo_q + 2) / float(max(scales))))
    return requant_hits(scales, lo_q, hi_q, zp, -lim, lim, against)


def find_requant_params(rng, variants_of, lo_q, hi_q, zp, acc_lim, tries=400, against=None):
    """Draws candidate parameters with `variants_of(rng)` -> (params, scales) until some
    accumulator requantizes differently under the first scale and the others (or the one
    `against` names); returns (params, those accumulators)."""
    for _ in range(tries):
        params, scales = variants_of(rng)
        hits = requant_hits_for(scales, lo_q, hi_q, zp, acc_lim, against)
        if hits.size:
            return params, hits
    raise RuntimeError("no discriminating accumulator found")


def retry(attempt, times=100):
    """`attempt()`, drawn again while it finds no discriminating accumulator."""
    for _ in range(times - 1):
        try:
            return attempt()
        except RuntimeError:
            pass
    return attempt()


def conv_requant_search(name, xdt, wdt, per_channel, note):
    """A 1x1 convolution of one input channel holding every stored value, w - zp_w = 1, and per
    filter a bias that puts a discriminating accumulator among acc = bias + (x - zp_x)."""
    rng = rng_for(name)
    qlo, qhi = limits(xdt)
    xz, yz = qp(rng, xdt, 60), qp(rng, xdt, 60)
    xs, ys = ugly_scale(rng, 0.01, 0.2), ugly_scale(rng, 0.05, 0.5)
    wz = qp(rng, wdt, 50)
    M = 8
    x = np.arange(qlo, qhi + 1).astype(xdt)
    rng.shuffle(x)
    x = x.reshape(1, 1, 16, 16)
    w = np.full((M, 1, 1, 1), wz + 1, wdt)

    def draw(r):
        # sx * sw / sy near a power of two: accumulators land on ties where the orders differ
        sw = near_dyadic_scale(r, float(ys) / float(xs), r.uniform(1e-3, 0.1))
        return sw, conv_scale_variants(xs, sw, ys)

    scales, targets = [], []
    for m in range(M):
        if per_channel or m == 0:
            sw, hits = find_requant_params(rng, draw, qlo, qhi, yz, 2**24, tries=3000, against=1 + m % 3)
        scales.append(sw)
        targets.append(int(rng.choice(hits)))
    bias = [t - (int(rng.integers(qlo, qhi + 1)) - xz) for t in targets]
    ws = np.array(scales, F) if per_channel else scales[0]
    wzs = np.full(M, wz, wdt) if per_channel else wz
    qlinear_conv_case(name, x, (xs, xz), w, (ws, wzs), (ys, yz), np.array(bias, np.int32), [1, 1], [0, 0, 0, 0],
                      [1, 1], 1, note=note)


def matmul_requant_search(name, adt, bdt, note):
    """K = 2: column n of b is (zp_b + D_n, zp_b + 1), so acc = (a0 - zp_a) * D_n + (a1 - zp_a);
    each row of a aims at a discriminating accumulator of one column."""
    rng = rng_for(name)
    alo, ahi = limits(adt)
    blo, bhi = limits(bdt)
    az, yz = qp(rng, adt, 20), qp(rng, adt, 60)
    bz = blo + int(rng.integers(0, 30))
    N = 4
    D = [int(rng.integers(150, bhi - bz)) for _ in range(N)]
    reach = [min(ahi - az, az - alo) * d for d in D]

    def attempt():
        as_, ys = ugly_scale(rng, 0.01, 0.2), ugly_scale(rng, 0.05, 0.5)
        rows, scales = [], []
        for n in range(N):
            lim = reach[n] - D[n]

            def draw(r):
                # aim the scale so that the reachable accumulators span the output range
                sb = near_dyadic_scale(r, float(ys) / float(as_), r.uniform(0.3, 1.0) * (ahi - alo) / lim)
                return sb, conv_scale_variants(as_, sb, ys)
            sb, hits = find_requant_params(rng, draw, alo, ahi, yz, lim, tries=300, against=1 + n % 3)
            scales.append(sb)
            for t in rng.choice(hits, size=min(4, hits.size), replace=False):
                q = int(round(int(t) / D[n]))
                r = int(t) - q * D[n]
                rows.append([q + az, r + az])
        return as_, ys, rows, scales

    as_, ys, rows, scales = retry(attempt)
    a = np.array(rows, adt)
    b = np.array([[bz + d for d in D], [bz + 1] * N], bdt)
    qlinear_matmul_case(name, a, (as_, az), b, (np.array(scales, F), np.full(N, bz, bdt)), (ys, yz), note=note)


def gemm_scale_variants(alpha, sa, sb, sy):
    alpha, sa, sb = F(alpha), F(sa), F(sb)
    base = [F(F(alpha * sa) * sb), F(F(sa * sb) * alpha), F(alpha * F(sa * sb)), F(F(alpha * sb) * sa)]
    if sy is None:
        return base
    return [F(v / F(sy)) for v in base] + [F(F(F(sa * sb) / F(sy)) * alpha), F(alpha * F(sa * F(sb / F(sy))))]


def gemm_search(name, adt, bdt, quantized, alpha, note):
    """K = 1 and a holds every stored value: acc = C[n] + (a - zp_a) * 1, C[n] placing a
    discriminating accumulator in column n."""
    rng = rng_for(name)
    alo, ahi = limits(adt)
    az, yz = qp(rng, adt, 40), qp(rng, adt, 60)
    bz = qp(rng, bdt, 40)
    N = 6
    a = np.arange(alo, ahi + 1).astype(adt).reshape(-1, 1)
    b = np.full((1, N), bz + 1, bdt)

    def attempt():
        as_, ys = ugly_scale(rng, 0.01, 0.2), ugly_scale(rng, 0.05, 0.5)
        scales, c = [], []
        for n in range(N):
            def draw(r):
                if quantized:
                    sb = near_dyadic_scale(r, float(ys) / (float(as_) * alpha), r.uniform(1e-3, 0.1))
                else:
                    sb = ugly_scale(r, 1e-3, 5e-2)
                return sb, gemm_scale_variants(alpha, as_, sb, ys if quantized else None)
            if quantized:
                # the alternatives that can differ at all (with alpha 1 some are the same product)
                samples = [draw(rng)[1] for _ in range(200)]
                distinct = [j for j in range(1, len(samples[0])) if any(v[j] != v[0] for v in samples)]
                sb, hits = find_requant_params(rng, draw, alo, ahi, yz, 2**24, tries=300,
                                               against=distinct[n % len(distinct)])
                target = int(rng.choice(hits))
            else:
                while True:
                    sb, variants = draw(rng)
                    if len(set(float(v) for v in variants)) > 1:
                        break
                target = int(rng.integers(-100000, 100000))
            scales.append(sb)
            c.append(target - (int(rng.integers(alo, ahi + 1)) - az))
        return as_, ys, scales, c

    as_, ys, scales, c = retry(attempt)
    qgemm_case(name, a, (as_, az), b, (np.array(scales, F), np.full(N, bz, bdt)), np.array(c, np.int32),
               (ys, yz) if quantized else None, alpha=alpha, note=note)


def qlinear_matrix_cases():
    rng = rng_for("qconv")
    x = ints(rng, np.uint8, (2, 3, 8, 7))
    w = ints(rng, np.uint8, (5, 3, 3, 3))
    qlinear_conv_case("qlinear_conv_u8u8_bias_pads_strides", x, (F(0.02), 131), w, (F(0.004), 120), (F(0.3), 97),
                      rng.integers(-20000, 20000, 5).astype(np.int32), [2, 1], [1, 2, 0, 1], [1, 1], 1,
                      note="u8 weights: no VPMADDUBSW saturation, full ranges")
    x = ints(rng, np.uint8, (1, 4, 7, 7))
    w = ints(rng, np.int8, (6, 2, 3, 3), -64, 64)
    ws = np.array([ugly_scale(rng, 0.002, 0.02) for _ in range(6)], F)
    qlinear_conv_case("qlinear_conv_u8s8_per_channel_group", x, (ugly_scale(rng, 0.01, 0.05), 128), w,
                      (ws, np.zeros(6, np.int8)), (ugly_scale(rng, 0.05, 0.2), 100),
                      rng.integers(-5000, 5000, 6).astype(np.int32), [1, 1], [1, 1, 1, 1], [1, 1], 2,
                      note="symmetric per-channel weights in [-64, 64]")
    x = ints(rng, np.int8, (1, 3, 9, 8))
    w = ints(rng, np.int8, (4, 3, 2, 3))
    ws = np.array([ugly_scale(rng, 0.002, 0.02) for _ in range(4)], F)
    qlinear_conv_case("qlinear_conv_s8s8_per_channel_dilation", x, (ugly_scale(rng, 0.01, 0.05), -5), w,
                      (ws, np.full(4, 3, np.int8)), (ugly_scale(rng, 0.05, 0.2), 11), None, [1, 2], [2, 1, 0, 2],
                      [2, 2], 1, note="no bias; per-channel weights with a (shared) nonzero zero point")
    x = ints(rng, np.uint8, (1, 8, 6, 6))
    w = ints(rng, np.int8, (8, 1, 3, 3))
    ws = np.array([ugly_scale(rng, 0.002, 0.02) for _ in range(8)], F)
    qlinear_conv_case("qlinear_conv_u8s8_depthwise_full_range", x, (F(0.05), 3), w, (ws, np.zeros(8, np.int8)),
                      (F(0.1), 128), rng.integers(-3000, 3000, 8).astype(np.int32), [1, 1], [1, 1, 1, 1], [1, 1], 8,
                      note="depthwise: MLAS's depthwise kernel is exact, so full-range weights are fine")
    x = ints(rng, np.uint8, (1, 2, 11))
    w = ints(rng, np.uint8, (3, 2, 4))
    qlinear_conv_case("qlinear_conv_u8u8_1d", x, (F(0.1), 0), w, (F(0.01), 255), (F(0.25), 255),
                      np.array([2**31 - 1, -2**31, 7], np.int32), [3], [2, 3], [1], 1,
                      note="extreme biases saturate; zero points at the extremes")
    conv_requant_search("qlinear_conv_requant_u8s8_per_channel", np.uint8, np.int8, True,
                        "accumulators where (sx * sw) / sy differs from other orders")
    conv_requant_search("qlinear_conv_requant_s8s8_per_tensor", np.int8, np.int8, False,
                        "accumulators where (sx * sw) / sy differs from other orders")
    conv_requant_search("qlinear_conv_requant_u8u8_per_channel", np.uint8, np.uint8, True,
                        "accumulators where (sx * sw) / sy differs from other orders")

    rng = rng_for("qmatmul")
    a, b = ints(rng, np.uint8, (5, 19)), ints(rng, np.uint8, (19, 6))
    qlinear_matmul_case("qlinear_matmul_u8u8_2d", a, (ugly_scale(rng, 0.01, 0.05), 120), b,
                        (ugly_scale(rng, 0.01, 0.05), 7), (ugly_scale(rng, 0.5, 2), 3))
    a, b = ints(rng, np.int8, (2, 3, 4, 10)), ints(rng, np.int8, (2, 3, 10, 5))
    qlinear_matmul_case("qlinear_matmul_s8s8_batched", a, (ugly_scale(rng, 0.01, 0.05), -3), b,
                        (ugly_scale(rng, 0.01, 0.05), 0), (ugly_scale(rng, 0.05, 0.5), 5))
    a, b = ints(rng, np.uint8, (2, 1, 3, 6)), ints(rng, np.int8, (3, 6, 4), -64, 64)
    bs = np.array([ugly_scale(rng, 0.005, 0.05) for _ in range(4)], F)
    qlinear_matmul_case("qlinear_matmul_u8s8_broadcast_per_column", a, (ugly_scale(rng, 0.01, 0.05), 140), b,
                        (bs, np.zeros(4, np.int8)), (ugly_scale(rng, 0.05, 0.5), 128),
                        note="per-column b scales; b in [-64, 64]")
    a, b = ints(rng, np.int8, (4, 7)), ints(rng, np.int8, (7,))
    qlinear_matmul_case("qlinear_matmul_s8s8_matrix_vector", a, (F(0.125), 1), b, (F(0.25), -2), (F(0.5), -128))
    matmul_requant_search("qlinear_matmul_requant_u8u8", np.uint8, np.uint8,
                          "accumulators where (sa * sb) / sy differs from other orders")
    matmul_requant_search("qlinear_matmul_requant_s8s8", np.int8, np.int8,
                          "accumulators where (sa * sb) / sy differs from other orders")

    rng = rng_for("qgemm")
    a, b = ints(rng, np.uint8, (5, 12)), ints(rng, np.int8, (12, 7), -64, 64)
    qgemm_case("qgemm_u8s8_c_quantized", a, (ugly_scale(rng, 0.01, 0.05), 100), b, (ugly_scale(rng, 0.01, 0.05), 0),
               rng.integers(-4000, 4000, (5, 7)).astype(np.int32), (ugly_scale(rng, 0.05, 0.5), 120),
               note="C is a full [M, N] matrix")
    a, b = ints(rng, np.int8, (9, 4)), ints(rng, np.int8, (6, 9))
    bs = np.array([ugly_scale(rng, 0.005, 0.05) for _ in range(6)], F)
    qgemm_case("qgemm_s8s8_float_trans_per_column", a, (ugly_scale(rng, 0.01, 0.05), -9), b, (bs, np.zeros(6, np.int8)),
               rng.integers(-4000, 4000, (6,)).astype(np.int32), None, alpha=0.7, trans_a=True, trans_b=True,
               note="float output, transposed operands, C broadcast from [N]")
    a, b = ints(rng, np.uint8, (3, 20)), ints(rng, np.uint8, (20, 4))
    qgemm_case("qgemm_u8u8_no_c", a, (ugly_scale(rng, 0.01, 0.05), 255), b, (ugly_scale(rng, 0.01, 0.05), 0),
               None, (ugly_scale(rng, 0.5, 2), 0), alpha=1.5)
    a, b = ints(rng, np.uint8, (4, 5)), ints(rng, np.uint8, (5, 3))
    qgemm_case("qgemm_u8u8_float_scalar_c", a, (F(0.5), 3), b, (F(0.25), 200), np.array([123456], np.int32), None)
    gemm_search("qgemm_requant_u8s8", np.uint8, np.int8, True, 1.0, "accumulators where the scale order matters")
    gemm_search("qgemm_requant_s8s8_alpha", np.int8, np.int8, True, 0.3, "alpha 0.3: (alpha * sa) * sb, then / sy")
    gemm_search("qgemm_float_alpha", np.uint8, np.uint8, False, 1.7, "float output: y = acc * ((alpha * sa) * sb)")


# ---------------------------------------------------------------------------------------------
# QLinearAdd, QLinearMul


def binary_case(name, op, a, aq, b, bq, cq, note=""):
    inits = {
        "a_scale": np.asarray(aq[0], F), "a_zero_point": scalar_of(a.dtype, aq[1]),
        "b_scale": np.asarray(bq[0], F), "b_zero_point": scalar_of(b.dtype, bq[1]),
        "c_scale": np.asarray(cq[0], F), "c_zero_point": scalar_of(a.dtype, cq[1]),
    }
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "c_scale", "c_zero_point"]
    out = Elem(a.dtype, *cq)
    ir_op = {"QLinearAdd": "onnx.qlinear_add", "QLinearMul": "onnx.qlinear_mul"}[op]
    emit(name, op, names, {}, [("a", a), ("b", b)], inits, [("c", a.dtype)], ir_op, {"out": a_type(out)},
         [(a, Elem(a.dtype, *aq)), (b, Elem(b.dtype, *bq))], [out], domain=MS, note=note)


def add_variants(a, b, p):
    """Integer results of QLinearAdd under the plausible float formulas; p = (sa, za, sb, zb,
    sc, zc, lo, hi)."""
    sa, za, sb, zb, sc, zc, lo, hi = p
    af, bf = np.asarray(a).astype(F), np.asarray(b).astype(F)
    ra, rb = F(F(sa) / F(sc)), F(F(sb) / F(sc))
    zaf, zbf, zcf = F(za), F(zb), F(zc)
    fixed = [F(zcf - F(F(ra * zaf) + F(rb * zbf))), F(zcf - fma(ra, zaf, F(rb * zbf))),
             F(zcf - fma(rb, zbf, F(ra * zaf)))]
    outs = []
    for fx in fixed:
        outs += [
            fma(af, ra, fma(bf, rb, fx)),
            fma(bf, rb, fma(af, ra, fx)),
            F(F(fx + F(af * ra)) + F(bf * rb)),
            fma(af, ra, F(fx + F(bf * rb))),
            fma(bf, rb, F(fx + F(af * ra))),
            F(F(fx + F(bf * rb)) + F(af * ra)),
        ]
    raw = F(F(F(F(sa) * (np.asarray(a) - za).astype(F)) + F(F(sb) * (np.asarray(b) - zb).astype(F))) / F(sc))
    outs.append(F(raw + zcf))
    return [rne(o, lo, hi) for o in outs]


def mul_variants(a, b, p):
    sa, za, sb, zb, sc, zc, lo, hi = p
    prod = ((np.asarray(a, np.int64) - za) * (np.asarray(b, np.int64) - zb)).astype(F)
    ratios = [F(F(F(sa) * F(sb)) / F(sc)), F(F(sa) * F(F(sb) / F(sc))), F(F(F(sa) / F(sc)) * F(sb))]
    outs = []
    for r in ratios:
        outs += [F(F(prod * r) + F(zc)), fma(prod, r, F(zc))]
    return [rne(o, lo, hi) for o in outs]


def near_dyadic(rng, base, choices):
    """base * d * (1 + e): d one of `choices`, e a few units of 2^-20..2^-23 (or 0). Scale
    ratios like this put many exact results on rounding ties, where fused and unfused
    multiply-adds (and other orders of the same operations) disagree."""
    d = float(rng.choice(choices))
    e = int(rng.choice([1, -1, 2, -2, 3, -3, 0])) * 2.0 ** -int(rng.integers(20, 24))
    return F(float(base) * d * (1 + e))


def near_dyadic_scale(rng, base, target):
    """`base * d` rounded to f32, d a power of two near `target` (or three halves of one): the
    combined requantization scale is then within an ulp of d, so many accumulators land on
    rounding ties where the orders of combining the scales disagree."""
    k = int(np.round(np.log2(target)))
    v = F(float(base) * float(rng.choice([2.0 ** k, 2.0 ** (k - 1), 1.5 * 2.0 ** (k - 1)])))
    for _ in range(int(rng.integers(0, 4))):
        v = np.nextafter(v, F(np.inf) if rng.random() < 0.5 else F(0))
    return F(v)


def binary_params(rng, dtype, variants):
    """Random parameters for QLinearAdd (`add_variants`) or QLinearMul: half of the draws with
    near-dyadic scale ratios."""
    lo, hi = limits(dtype)
    sc = ugly_scale(rng, 0.01, 0.2)
    if rng.random() < 0.25:
        sa, sb = ugly_scale(rng, 0.005, 0.1), ugly_scale(rng, 0.005, 0.1)
    elif variants is add_variants:
        ratios = [0.125, 0.25, 0.5, 0.75, 1, 1.5, 2]
        sa, sb = near_dyadic(rng, sc, ratios), near_dyadic(rng, sc, ratios)
    else:
        sa = ugly_scale(rng, 0.01, 0.2)
        ratios = [2.0 ** -k for k in range(4, 9)] + [3 * 2.0 ** -k for k in range(5, 10)]
        sb = near_dyadic(rng, float(sc) / float(sa), ratios)
    return (sa, qp(rng, dtype, 80), sb, qp(rng, dtype, 80), sc, qp(rng, dtype, 80), lo, hi)


def pair_search(rng, dtype, variants, tries=30, per_variant=60):
    """The parameters (of `tries` random draws) under which the (a, b) pairs tell the most
    formula variants apart from the first, and up to `per_variant` such pairs for each."""
    lo, hi = limits(dtype)
    vals = np.arange(lo, hi + 1)
    a, b = np.repeat(vals, vals.size), np.tile(vals, vals.size)
    best = None
    for _ in range(tries):
        p = binary_params(rng, dtype, variants)
        outs = variants(a, b, p)
        per = [np.nonzero(outs[0] != o)[0] for o in outs[1:]]
        score = (sum(i.size > 0 for i in per), sum(min(i.size, per_variant) for i in per))
        if best is None or score > best[0]:
            best = (score, p, per)
    _, p, per = best
    idx = np.unique(np.concatenate([rng.permutation(i)[:per_variant] for i in per]))
    return p, a[idx], b[idx]


def scalar_search(rng, dtype, variants, scalar_is_a, count, tries=20):
    """Parameters and the `count` scalar values under which most values of the other operand
    tell the formula variants apart; returns (params, [(scalar, disagreeing others)])."""
    lo, hi = limits(dtype)
    vals = np.arange(lo, hi + 1)
    scalars, others = np.repeat(vals, vals.size), np.tile(vals, vals.size)
    best = None
    for _ in range(tries):
        p = binary_params(rng, dtype, variants)
        outs = variants(scalars, others, p) if scalar_is_a else variants(others, scalars, p)
        stack = np.stack(outs)
        mask = (stack != stack[0]).any(axis=0).reshape(vals.size, vals.size)
        order = np.argsort(-mask.sum(1), kind="stable")[:count]
        score = int(mask[order].sum())
        if best is None or score > best[0]:
            best = (score, p, [(int(vals[i]), vals[mask[i]]) for i in order])
    return best[1], best[2]


def fill(rng, chosen, n, dtype):
    """`n` values: those of `chosen` first (at most n), then random ones, shuffled."""
    lo, hi = limits(dtype)
    chosen = np.asarray(chosen)[:n]
    rest = rng.integers(lo, hi + 1, size=n - chosen.size)
    v = np.concatenate([chosen, rest])
    rng.shuffle(v)
    return v


def unpack(p):
    sa, za, sb, zb, sc, zc, _, _ = p
    return (sa, za), (sb, zb), (sc, zc)


def qlinear_binary_cases():
    for dt, tag in [(np.uint8, "u8"), (np.int8, "s8")]:
        lo, hi = limits(dt)
        vals = np.arange(lo, hi + 1)
        # equal shapes: the vector-vector kernel
        name = f"qlinear_add_{tag}_equal"
        rng = rng_for(name)
        p, pa, pb = pair_search(rng, dt, add_variants, per_variant=30)
        extra_a, extra_b = rng.integers(lo, hi + 1, 200), rng.integers(lo, hi + 1, 200)
        a = np.concatenate([pa, extra_a, [lo, lo, hi, hi]]).astype(dt)
        b = np.concatenate([pb, extra_b, [lo, hi, lo, hi]]).astype(dt)
        aq, bq, cq = unpack(p)
        binary_case(name, "QLinearAdd", a.reshape(1, -1), aq, b.reshape(1, -1), bq, cq,
                    note=f"{pa.size} pairs on which fused/unfused variants of the formula disagree")
        # b a single element
        name = f"qlinear_add_{tag}_scalar_b"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, add_variants, False, 1)
        aq, bq, cq = unpack(p)
        a = vals.astype(dt).reshape(2, 8, 16)
        binary_case(name, "QLinearAdd", a, aq, np.array([per[0][0]], dt), bq, cq,
                    note=f"b = {per[0][0]}: {per[0][1].size} values of a tell the variants apart")
        # a a single element (rank 0)
        name = f"qlinear_add_{tag}_scalar_a"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, add_variants, True, 1)
        aq, bq, cq = unpack(p)
        binary_case(name, "QLinearAdd", np.array(per[0][0], dt), aq, vals.astype(dt).reshape(16, 16), bq, cq,
                    note=f"rank-0 a = {per[0][0]}")
        # [1, C, 1, 1] + [1, C, H, W]: a is one value per span
        name = f"qlinear_add_{tag}_channel_broadcast"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, add_variants, True, 4)
        aq, bq, cq = unpack(p)
        a = np.array([v for v, _ in per], dt).reshape(1, 4, 1, 1)
        b = np.stack([fill(rng, others, 40, dt) for _, others in per]).astype(dt).reshape(1, 4, 5, 8)
        binary_case(name, "QLinearAdd", a, aq, b, bq, cq, note="[1,C,1,1] + [1,C,H,W]: a is a per-span scalar")
        # [1, C, H, W] + [C, 1, 1]: b is one value per span
        name = f"qlinear_add_{tag}_channel_broadcast_b"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, add_variants, False, 3)
        aq, bq, cq = unpack(p)
        a = np.stack([fill(rng, others, 21, dt) for _, others in per]).astype(dt).reshape(1, 3, 3, 7)
        b = np.array([v for v, _ in per], dt).reshape(3, 1, 1)
        binary_case(name, "QLinearAdd", a, aq, b, bq, cq, note="[1,C,H,W] + [C,1,1]: b is a per-span scalar")

    # other broadcasts (random values, searched parameters)
    for name, ashape, bshape, note in [
        ("qlinear_add_u8_spatial_broadcast", (1, 1, 4, 5), (1, 3, 4, 5), "[1,1,H,W] + [1,C,H,W]: no scalar span"),
        ("qlinear_add_u8_outer", (6, 1), (1, 9), "[C,1] + [1,W]: a is a per-span scalar"),
        ("qlinear_add_u8_row", (7, 5), (5,), "[R,W] + [W]: no scalar span"),
        ("qlinear_add_u8_column", (7, 5), (7, 1), "[R,W] + [R,1]: b is a per-span scalar"),
        ("qlinear_add_u8_trailing_ones", (3, 1), (2, 3, 1), "trailing size-1 axes"),
        ("qlinear_add_u8_ones", (1, 1), (1,), "both one element: a is the scalar"),
        ("qlinear_add_u8_rank0_vs_trailing_one", (4, 1), (), "rank-0 b against a last axis of 1"),
        ("qlinear_add_u8_middle", (2, 1, 3), (2, 4, 3), "a repeated along a middle axis"),
    ]:
        rng = rng_for(name)
        p, _, _ = pair_search(rng, np.uint8, add_variants, tries=6)
        aq, bq, cq = unpack(p)
        binary_case(name, "QLinearAdd", ints(rng, np.uint8, ashape), aq, ints(rng, np.uint8, bshape), bq, cq,
                    note=note)
    rng = rng_for("qlinear_add_overflow")
    a = np.arange(0, 256, 8, dtype=np.uint8).reshape(1, -1)
    b = np.arange(255, -1, -8, dtype=np.int64).astype(np.uint8).reshape(1, -1)
    binary_case("qlinear_add_u8_overflow", "QLinearAdd", a, (F(1.0), 0), b, (F(0.5), 7), (F(1e-30), 0),
                note="results beyond int32: cvtps2dq's integer indefinite saturates to 0")
    binary_case("qlinear_add_s8_overflow_scalar", "QLinearAdd", (a.astype(np.int16) - 128).astype(np.int8), (F(1.0), 0), np.array([100], np.int8), (F(0.5), -7),
                (F(1e-30), 0), note="scalar b, results beyond int32")

    for dt, tag in [(np.uint8, "u8"), (np.int8, "s8")]:
        lo, hi = limits(dt)
        vals = np.arange(lo, hi + 1)
        name = f"qlinear_mul_{tag}_equal"
        rng = rng_for(name)
        p, pa, pb = pair_search(rng, dt, mul_variants, per_variant=80)
        a = np.concatenate([pa, rng.integers(lo, hi + 1, 150), [lo, lo, hi, hi]]).astype(dt)
        b = np.concatenate([pb, rng.integers(lo, hi + 1, 150), [lo, hi, lo, hi]]).astype(dt)
        aq, bq, cq = unpack(p)
        binary_case(name, "QLinearMul", a.reshape(1, -1), aq, b.reshape(1, -1), bq, cq,
                    note=f"{pa.size} pairs on which variants of the formula disagree")
        name = f"qlinear_mul_{tag}_scalar_b"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, mul_variants, False, 1)
        aq, bq, cq = unpack(p)
        binary_case(name, "QLinearMul", vals.astype(dt).reshape(4, 64), aq, np.array(per[0][0], dt), bq, cq)
        name = f"qlinear_mul_{tag}_channel_broadcast"
        rng = rng_for(name)
        p, per = scalar_search(rng, dt, mul_variants, True, 4)
        aq, bq, cq = unpack(p)
        a = np.array([v for v, _ in per], dt).reshape(1, 4, 1, 1)
        b = np.stack([fill(rng, others, 30, dt) for _, others in per]).astype(dt).reshape(1, 4, 5, 6)
        binary_case(name, "QLinearMul", a, aq, b, bq, cq)
    a = np.arange(0, 256, 8, dtype=np.uint8).reshape(1, -1)
    binary_case("qlinear_mul_u8_overflow", "QLinearMul", a, (F(1.0), 0), a[:, ::-1].copy(), (F(1.0), 3),
                (F(1e-30), 0), note="results beyond int32")


# ---------------------------------------------------------------------------------------------
# QLinearGlobalAveragePool, QLinearAveragePool


def pool_inits(x, xq, yq):
    return {
        "x_scale": np.asarray(xq[0], F), "x_zero_point": scalar_of(x.dtype, xq[1]),
        "y_scale": np.asarray(yq[0], F), "y_zero_point": scalar_of(x.dtype, yq[1]),
    }


def global_pool_case(name, x, xq, yq, note=""):
    out = Elem(x.dtype, *yq)
    emit(name, "QLinearGlobalAveragePool", ["x", "x_scale", "x_zero_point", "y_scale", "y_zero_point"],
         {"channels_last": 0}, [("x", x)], pool_inits(x, xq, yq), [("y", x.dtype)],
         "onnx.qlinear_global_average_pool", {"out": a_type(out)}, [(x, Elem(x.dtype, *xq))], [out], domain=MS,
         note=note)


def average_pool_case(name, x, xq, yq, kernel, strides, pads, ceil_mode, count_include_pad, note=""):
    out = Elem(x.dtype, *yq)
    attrs = {"kernel_shape": kernel, "strides": strides, "pads": pads, "ceil_mode": int(ceil_mode),
             "count_include_pad": int(count_include_pad)}
    ir_attrs = {"kernel": a_ints(kernel), "strides": a_ints(strides), "pads": a_ints(pads),
                "ceil_mode": a_bool(ceil_mode), "count_include_pad": a_bool(count_include_pad), "out": a_type(out)}
    emit(name, "QLinearAveragePool", ["x", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], attrs,
         [("x", x)], pool_inits(x, xq, yq), [("y", x.dtype)], "onnx.qlinear_average_pool", ir_attrs,
         [(x, Elem(x.dtype, *xq))], [out], domain=MS, note=note)


def plane_with_sum(rng, total, n, zp, lo, hi):
    """n stored values in [lo, hi] whose sum of (x - zp) is `total`."""
    base, extra = divmod(total, n)
    v = np.full(n, zp + base, np.int64)
    v[:extra] += 1
    for _ in range(4 * n):
        i, j = rng.integers(0, n, 2)
        d = int(rng.integers(0, 40))
        if i != j and v[i] + d <= hi and v[j] - d >= lo:
            v[i] += d
            v[j] -= d
    rng.shuffle(v)
    return v


def global_scale_variants(sx, sy, n):
    sx, sy, nf = F(sx), F(sy), F(n)
    return [F(sx / F(sy * nf)), F(F(sx / sy) / nf), F(sx * F(F(1) / F(sy * nf))), F(F(sx / nf) / sy)]


def global_pool_search(name, dtype, hw):
    rng = rng_for(name)
    lo, hi = limits(dtype)
    n = hw[0] * hw[1]
    xz, yz = qp(rng, dtype, 10), qp(rng, dtype, 60)
    lim = n * min(hi - xz, xz - lo)

    def draw(r):
        # aim the scale so that the reachable sums span the output range
        sx = ugly_scale(r, 0.01, 0.2)
        sy = near_dyadic_scale(r, float(sx) / n, 1 / (r.uniform(0.3, 1.0) * (hi - lo) / lim))
        return (sx, sy), global_scale_variants(sx, sy, n)

    best = None
    for _ in range(5000):
        params, scales = draw(rng)
        per = [requant_hits_for(scales, lo, hi, yz, lim, j) for j in range(1, len(scales))]
        covered = sum(h.size > 0 for h in per)
        if best is None or covered > best[0]:
            best = (covered, params, per)
        if covered == len(per):
            break
    _, (sx, sy), per = best
    targets = [int(t) for h in per for t in rng.choice(h, size=min(3, h.size), replace=False)]
    targets += list(rng.integers(-lim, lim, 4))
    x = np.stack([plane_with_sum(rng, int(t), n, xz, lo, hi) for t in targets]).astype(dtype)
    global_pool_case(name, x.reshape(1, len(targets), *hw), (sx, xz), (sy, yz),
                     note="plane sums where sx / (sy * n) differs from other orders")


def float_pool_emulation(x, xz, sx, sy, yz, lo, hi):
    """The float path of QLinearAveragePool over whole planes (for the path search)."""
    dq = (F(sx) * (x.astype(np.int64) - xz).astype(F)).astype(F)
    s = np.zeros(x.shape[0], F)
    for k in range(x.shape[1]):
        s = (s + dq[:, k]).astype(F)
    avg = (s / F(x.shape[1])).astype(F)
    return rne((avg / F(sy)).astype(F) + F(yz), lo, hi)


def whole_input_pool_search(name, dtype):
    """A kernel covering the whole input, with planes on which onnxruntime's integer global
    path and its float windowed path would give different results."""
    rng = rng_for(name)
    lo, hi = limits(dtype)
    n = 12
    best = None
    for _ in range(40):
        xz, yz = qp(rng, dtype, 60), qp(rng, dtype, 60)
        sx = ugly_scale(rng, 0.01, 0.2)
        sy = near_dyadic(rng, sx, [1.0, 0.5, 2.0, 0.25])
        cand = rng.integers(lo, hi + 1, size=(2000, n))
        acc = (cand - xz).sum(1)
        integer = rne((acc.astype(F) * global_scale_variants(sx, sy, n)[0]).astype(F), lo - yz, hi - yz) + yz
        diff = np.nonzero(integer != float_pool_emulation(cand, xz, sx, sy, yz, lo, hi))[0]
        if best is None or diff.size > best[0]:
            best = (diff.size, (sx, xz), (sy, yz), cand[diff[:12]], cand[:4])
    count, xq, yq, planes, plain_planes = best
    x = np.concatenate([planes, plain_planes]).astype(dtype)
    average_pool_case(name, x.reshape(1, -1, 3, 4), xq, yq, [3, 4], [1, 1], [0, 0, 0, 0], False, False,
                      note=f"kernel = input, no pads: the integer global path ({min(12, count)} planes where the "
                           "float path would differ)")


def window_pool_variants(x, k, xq, yq, lo, hi):
    """The float path of QLinearAveragePool for a 1-D kernel `k` with stride 1 and no pads on
    rows `x`, under plausible variants (onnxruntime's first)."""
    (sx, xz), (sy, yz) = xq, yq
    dq = (F(sx) * (x.astype(np.int64) - xz).astype(F)).astype(F)
    out = x.shape[1] - k + 1
    s = np.zeros((x.shape[0], out), F)
    for t in range(k):
        s = (s + dq[:, t:t + out]).astype(F)
    avg = (s / F(k)).astype(F)
    avg_rec = (s * F(F(1) / F(k))).astype(F)
    sy, zy = F(sy), F(yz)
    return [
        rne(((avg / sy).astype(F) + zy).astype(F), lo, hi),
        rne(((avg * F(F(1) / sy)).astype(F) + zy).astype(F), lo, hi),
        rne(((avg_rec / sy).astype(F) + zy).astype(F), lo, hi),
        np.clip(rne((avg / sy).astype(F), lo - yz, hi - yz) + yz, lo, hi),
        rne(((s / F(F(k) * sy)).astype(F) + zy).astype(F), lo, hi),
    ]


def window_pool_search(name, dtype):
    rng = rng_for(name)
    lo, hi = limits(dtype)
    best = None
    for _ in range(200):
        ys = ugly_scale(rng, 0.01, 0.1)
        xq = (near_dyadic(rng, ys, [1.0, 0.5, 1.5, 3.0, 0.75]), qp(rng, dtype, 60))
        yq = (ys, qp(rng, dtype, 60))
        # rows of 5: three windows each (a kernel as long as the row would be the global path)
        x = rng.integers(lo, hi + 1, size=(2000, 5))
        v = window_pool_variants(x, 3, xq, yq, lo, hi)
        per = [np.nonzero((v[0] != v[j]).any(axis=1))[0] for j in range(1, len(v))]
        score = (sum(p.size > 0 for p in per), sum(min(p.size, 20) for p in per))
        if best is None or score > best[0]:
            best = (score, xq, yq, np.concatenate([x[p[:20]] for p in per]))
    (covered, count), xq, yq, rows = best
    x = np.concatenate([rows, rng.integers(lo, hi + 1, size=(8, 5))]).astype(dtype)
    average_pool_case(name, x.reshape(1, -1, 5), xq, yq, [3], [1], [0, 0], False, False,
                      note=f"rows of 5 (3 windows each) on which variants of the float path disagree ({count} rows, "
                           f"{covered} of {len(per)} alternatives)")


def qlinear_pool_cases():
    window_pool_search("qlinear_average_pool_u8_float_path_search", np.uint8)
    window_pool_search("qlinear_average_pool_s8_float_path_search", np.int8)
    global_pool_search("qlinear_global_average_pool_u8_search", np.uint8, (7, 7))
    global_pool_search("qlinear_global_average_pool_s8_search", np.int8, (5, 5))
    rng = rng_for("gap")
    global_pool_case("qlinear_global_average_pool_u8_random", ints(rng, np.uint8, (2, 3, 4, 6)),
                     (ugly_scale(rng, 0.01, 0.1), 17), (ugly_scale(rng, 0.01, 0.1), 200))
    global_pool_case("qlinear_global_average_pool_s8_large", ints(rng, np.int8, (1, 2, 32, 32)),
                     (ugly_scale(rng, 0.01, 0.1), -100), (ugly_scale(rng, 1e-3, 0.01), 50))
    whole_input_pool_search("qlinear_average_pool_u8_whole_input", np.uint8)
    whole_input_pool_search("qlinear_average_pool_s8_whole_input", np.int8)

    rng = rng_for("qavg")
    x = ints(rng, np.int8, (1, 3, 9, 9))
    for cip in (False, True):
        average_pool_case(f"qlinear_average_pool_s8_3x3_s2_pads_{'include' if cip else 'exclude'}", x,
                          (ugly_scale(rng, 0.01, 0.1), -3), (ugly_scale(rng, 0.01, 0.1), 9), [3, 3], [2, 2],
                          [1, 1, 1, 1], False, cip)
    x = ints(rng, np.uint8, (2, 2, 8, 7))
    for pads in ([0, 0, 0, 0], [1, 0, 1, 1]):
        for cip in (False, True):
            average_pool_case(f"qlinear_average_pool_u8_ceil_pads{sum(pads)}_{'include' if cip else 'exclude'}", x,
                              (ugly_scale(rng, 0.01, 0.1), 100), (ugly_scale(rng, 0.01, 0.1), 77), [3, 3], [2, 2],
                              pads, True, cip, note="ceil_mode: the last windows hang over the end")
    x = ints(rng, np.uint8, (1, 1, 4, 16))
    average_pool_case("qlinear_average_pool_u8_ties", x, (F(1.0), 0), (F(1.0), 3), [1, 2], [1, 2], [0, 0, 0, 0],
                      False, False, note="averages of two integers: ties, rounded after adding the odd zero point")
    x = ints(rng, np.int8, (1, 2, 10))
    average_pool_case("qlinear_average_pool_s8_1d", x, (ugly_scale(rng, 0.01, 0.1), 0),
                      (ugly_scale(rng, 0.01, 0.1), -1), [4], [3], [1, 2], False, False)
    x = ints(rng, np.uint8, (1, 2, 4, 4))
    average_pool_case("qlinear_average_pool_u8_whole_input_padded", x, (ugly_scale(rng, 0.01, 0.1), 5),
                      (ugly_scale(rng, 0.01, 0.1), 250), [4, 4], [1, 1], [1, 1, 0, 0], False, True,
                      note="kernel = input but padded: the float path")
    x = ints(rng, np.uint8, (1, 2, 3, 5, 4))
    average_pool_case("qlinear_average_pool_u8_3d", x, (ugly_scale(rng, 0.01, 0.1), 128),
                      (ugly_scale(rng, 0.01, 0.1), 128), [2, 2, 2], [1, 2, 2], [0, 1, 0, 1, 0, 1], False, False)


# ---------------------------------------------------------------------------------------------
# QLinearConcat, QLinearLeakyRelu, QLinearSigmoid (lookup tables)


def unary_case(name, op, x, xq, yq, alpha=None, note=""):
    out = Elem(x.dtype, *yq)
    attrs, ir_attrs = {}, {"out": a_type(out)}
    if alpha is not None:
        attrs["alpha"] = float(alpha)
        ir_attrs["alpha"] = a_f32(alpha)
    ir_op = {"QLinearLeakyRelu": "onnx.qlinear_leaky_relu", "QLinearSigmoid": "onnx.qlinear_sigmoid"}[op]
    emit(name, op, ["x", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], attrs, [("x", x)],
         pool_inits(x, xq, yq), [("y", x.dtype)], ir_op, ir_attrs, [(x, Elem(x.dtype, *xq))], [out], domain=MS,
         note=note)


def concat_case(name, xs, yq, axis, note=""):
    """xs: list of (array, (scale, zp))."""
    dtype = xs[0][0].dtype
    inits = {"y_scale": np.asarray(yq[0], F), "y_zero_point": scalar_of(dtype, yq[1])}
    names = ["y_scale", "y_zero_point"]
    feeds = []
    for i, (x, (s, z)) in enumerate(xs):
        inits[f"x{i}_scale"] = np.asarray(s, F)
        inits[f"x{i}_zero_point"] = scalar_of(dtype, z)
        names += [f"x{i}", f"x{i}_scale", f"x{i}_zero_point"]
        feeds.append((f"x{i}", x))
    out = Elem(dtype, *yq)
    emit(name, "QLinearConcat", names, {"axis": axis}, feeds, inits, [("y", dtype)], "onnx.qlinear_concat",
         {"axis": a_int(axis), "out": a_type(out)}, [(x, Elem(dtype, *q)) for x, q in xs], [out], domain=MS,
         note=note)


LOGISTIC_ALPHA = [F(v) for v in (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
                                  8.51377133304701e-03, 2.48287947061529e-01)]
LOGISTIC_BETA = [F(v) for v in (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
                                 1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)]


def logistic_variants(x):
    """MLAS's logistic approximation with fused multiply-adds (first), without, and with the
    division done as a multiplication by the reciprocal (then adding 0.5, or fused with it)."""
    x = np.clip(x, F(-18), F(18)).astype(F)
    x2 = (x * x).astype(F)
    outs = []
    for fused, reciprocal in ((True, False), (False, False), (True, True), (True, "fma")):
        mad = fma if fused else (lambda a, b, c: (F(a) * b + c).astype(F))
        p = np.full_like(x, LOGISTIC_ALPHA[0])
        for c in LOGISTIC_ALPHA[1:]:
            p = mad(p, x2, c)
        p = (p * x).astype(F)
        q = np.full_like(x, LOGISTIC_BETA[0])
        for c in LOGISTIC_BETA[1:]:
            q = mad(q, x2, c)
        if reciprocal == "fma":
            r = fma(p, (F(1) / q).astype(F), F(0.5))
        elif reciprocal:
            r = ((p * (F(1) / q).astype(F)).astype(F) + F(0.5)).astype(F)
        else:
            r = ((p / q).astype(F) + F(0.5)).astype(F)
        outs.append(np.maximum(F(0), r))
    return outs


def table_variants(dtype, xq, yq, fs):
    """Each table entry under each float function of `fs` (a function giving a list of
    variants) and under division or multiplication by the reciprocal of the output scale."""
    lo, hi = limits(dtype)
    x = np.arange(lo, hi + 1)
    d = (F(xq[0]) * (x - xq[1]).astype(F)).astype(F)
    outs = []
    for v in fs(d):
        outs.append(rne((v / F(yq[0])).astype(F), lo - yq[1], hi - yq[1]))
        outs.append(rne((v * F(F(1) / F(yq[0]))).astype(F), lo - yq[1], hi - yq[1]))
    return outs


def table_config_search(rng, dtype, fs, draw, tries=3000, enough=12):
    """The (xq, yq) of `tries` draws whose table tells most variants apart."""
    best = None
    for _ in range(tries):
        xq, yq = draw(rng)
        n = disagree(table_variants(dtype, xq, yq, fs)).size
        if best is None or n > best[0]:
            best = (n, xq, yq)
        if n >= enough:
            break
    return best


def designed_sigmoid_config(rng, dtype):
    """Input parameters drawn at random, and an output scale that puts one table entry on a
    rounding tie between two variants of the logistic (fused against unfused multiply-adds, or
    division against reciprocal), so that the table tells them apart."""
    lo, hi = limits(dtype)
    x = np.arange(lo, hi + 1)
    while True:
        xq = (ugly_scale(rng, 0.01, 0.1), qp(rng, dtype, 100))
        d = (F(xq[0]) * (x - xq[1]).astype(F)).astype(F)
        v = logistic_variants(d)
        other = v[int(rng.integers(1, len(v)))]
        idx = np.nonzero((v[0] != other) & (v[0] > 0.05) & (v[0] < 0.95))[0]
        if idx.size == 0:
            continue
        i = int(rng.choice(idx))
        k = int(rng.integers(40, 200))
        ys = F((float(v[0][i]) + float(other[i])) / 2 / (k + 0.5))
        yq = (ys, lo)
        n = disagree(table_variants(dtype, xq, yq, logistic_variants)).size
        if n:
            return n, xq, yq


def qlinear_table_cases():
    for dt, tag in [(np.uint8, "u8"), (np.int8, "s8")]:
        lo, hi = limits(dt)
        x = np.arange(lo, hi + 1).astype(dt).reshape(4, 64)
        rng = rng_for(f"leaky_{tag}")
        for i, alpha_text in enumerate(["0.01", "0.1", "0.5", "1.7", "-0.3"]):
            alpha = F(float(alpha_text))

            def leaky(d, alpha=alpha):
                return [np.where(d >= 0, d, (alpha * d).astype(F)).astype(F)]

            def draw(r, dt=dt):
                ys = ugly_scale(r, 0.005, 0.1)
                xs = near_dyadic(r, ys, [0.5, 0.25, 0.75, 1.5, 3.0])
                return ((xs, qp(r, dt, 100)), (ys, qp(r, dt, 100)))
            n, xq, yq = table_config_search(rng, dt, leaky, draw, tries=3000, enough=8)
            unary_case(f"qlinear_leaky_relu_{tag}_{i}", "QLinearLeakyRelu", x, xq, yq, alpha=alpha,
                       note=f"every stored value, alpha {alpha_text}; {n} entries tell division from reciprocal apart")
        rng = rng_for(f"sigmoid_{tag}")
        unary_case(f"qlinear_sigmoid_{tag}_typical", "QLinearSigmoid", x, (F(0.1), qp(rng, dt, 20)), (F(1 / 256), lo),
                   note="every stored value, the usual output scale 1/256")
        for i in range(6):
            n, xq, yq = designed_sigmoid_config(rng, dt)
            unary_case(f"qlinear_sigmoid_{tag}_{i}", "QLinearSigmoid", x, xq, yq,
                       note=f"every stored value; {n} entries tell fused, unfused and reciprocal variants apart")
        rng = rng_for(f"concat_{tag}")

        def identity(d):
            return [d]

        def draw(r, dt=dt):
            ys = ugly_scale(r, 0.01, 0.1)
            return ((near_dyadic(r, ys, [0.5, 0.25, 0.75, 1.5]), qp(r, dt, 100)), (ys, qp(r, dt, 50)))
        n, xq, yq = table_config_search(rng, dt, identity, draw, tries=3000, enough=8)
        parts = [(ints(rng, dt, (2, 3, 4)), (ugly_scale(rng, 0.01, 0.1), qp(rng, dt, 100))),
                 (ints(rng, dt, (2, 5, 4)), yq),
                 (np.arange(lo, hi + 1).astype(dt).reshape(2, 32, 4), xq)]
        concat_case(f"qlinear_concat_{tag}_axis1", parts, yq, 1,
                    note=f"the second operand has the result's parameters (copied); in the third {n} values tell "
                         "division from reciprocal apart")
        parts = [(ints(rng, dt, (1, 6)), (ugly_scale(rng, 0.01, 0.1), qp(rng, dt, 100))),
                 (ints(rng, dt, (3, 6)), (ugly_scale(rng, 0.001, 0.01), qp(rng, dt, 100)))]
        concat_case(f"qlinear_concat_{tag}_axis0", parts, (ugly_scale(rng, 0.01, 0.1), qp(rng, dt, 100)), 0)
    rng = rng_for("concat_last")
    parts = [(np.arange(256).astype(np.uint8).reshape(2, 2, 64), (F(0.5), 128)),
             (ints(rng, np.uint8, (2, 2, 3)), (F(0.02), 0))]
    concat_case("qlinear_concat_u8_last_axis_saturating", parts, (F(0.1), 10), 2, note="results saturate")


# ---------------------------------------------------------------------------------------------
# QONNX Trunc (expected outputs from the qonnx executor's numpy code)

QONNX_ROUNDING = {"ROUND": "half_even", "FLOOR": "floor", "CEIL": "ceil", "UP": "away", "DOWN": "toward_zero",
                  "HALF_UP": "half_away", "HALF_DOWN": "half_toward_zero"}


def trunc_case(name, version, x, scale, zp, in_bits, out_bits, rounding, out_scale=None, signed=True, narrow=False,
               note=""):
    f = lambda v: np.asarray(v, F)  # noqa: E731
    if version == 2:
        y = trunc_v2(f(x), f(scale), f(zp), f(in_bits), int(narrow), int(signed), f(out_scale), f(out_bits), rounding)
        operands = [x, scale, zp, in_bits, out_scale, out_bits]
        op = "onnx.trunc"
    else:
        y = trunc_v1(f(x), f(scale), f(zp), f(in_bits), f(out_bits), rounding)
        operands = [x, scale, zp, in_bits, out_bits]
        op = "onnx.trunc_v1"
    y = np.asarray(y)
    assert y.dtype == np.float32, y.dtype
    attrs = {"signed": a_bool(signed), "narrow": a_bool(narrow), "rounding": a_word(QONNX_ROUNDING[rounding])}
    write_json(case_dir(name), op, attrs, [(f(v), plain(F)) for v in operands], [(y, plain(F))],
               f"qonnx {package_version('qonnx')} (numpy {np.__version__})", note)


def trunc_cases():
    rng = rng_for("trunc")
    q = np.arange(-128, 128)
    x = (q * F(0.125)).astype(F)
    for rounding in QONNX_ROUNDING:
        trunc_case(f"qonnx_trunc_v2_s8_to_s4_{rounding.lower()}", 2, x, F(0.125), F(0), F(8), F(4), rounding,
                   out_scale=F(2.0), note="t = 16: every quotient k / 16")
    xq = (rng.integers(0, 256, (1, 3, 4, 5)) - 0).astype(F)
    scale = np.array([0.5, 0.25, 0.75], F).reshape(1, 3, 1, 1)
    x = ((xq - 7) * scale).astype(F)
    trunc_case("qonnx_trunc_v2_u8_per_channel_zero_point", 2, x, scale, F(7), F(8), F(5), "FLOOR",
               out_scale=(scale * F(8)).astype(F), signed=False, note="unsigned; zp / t is fractional")
    trunc_case("qonnx_trunc_v2_narrow_unsigned", 2, x, scale, F(7), F(8), F(3), "ROUND",
               out_scale=(scale * F(8)).astype(F), signed=False, narrow=True)
    x = (rng.normal(size=40) * 30).astype(F)
    trunc_case("qonnx_trunc_v2_unquantized_input", 2, x, F(0.3), F(-2), F(8), F(6), "HALF_DOWN", out_scale=F(1.1),
               narrow=True, note="x is not on the input grid; out_scale / scale is not a power of two (log2 rounds)")
    x = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 3.0, -3.0], F)
    trunc_case("qonnx_trunc_v2_specials", 2, x, F(1.0), F(0), F(32), F(32), "ROUND", out_scale=F(4.0))
    x = np.array([8388609, 8388611, 16777215, -16777215, 16777213, 3, -3, 5, -5, 1, -1], F)
    t = np.array([1, 1, 2**25, 2**25, 2**25, 4, 4, 8, 8, 2, 2], F)
    for rounding in ["HALF_UP", "HALF_DOWN", "UP"]:
        trunc_case(f"qonnx_trunc_v2_numpy_{rounding.lower()}", 2, x, F(1), F(0), F(32), F(32), rounding,
                   out_scale=t, note="values where numpy's f32 formulas for the rounding modes are not exact")
    x = (np.arange(-64, 64) * F(0.5)).astype(F)
    for rounding in ["FLOOR", "ROUND", "CEIL", "DOWN"]:
        trunc_case(f"qonnx_trunc_v1_{rounding.lower()}", 1, x, F(0.5), F(3), F(8), F(5), rounding,
                   note="Trunc version 1: y / 2^(in - out), then (y - zp) * scale")
    trunc_case("qonnx_trunc_v1_widening", 1, x, F(0.5), F(0), F(4), F(6), "FLOOR",
               note="out_bits > in_bits: t = 1/4")



def main():
    for d in HERE.iterdir():
        if d.is_dir() and (d / "case.json").exists():
            shutil.rmtree(d)
    quantize_cases()
    dequantize_cases()
    dynamic_cases()
    cast_cases()
    integer_cases()
    qlinear_matrix_cases()
    qlinear_binary_cases()
    qlinear_pool_cases()
    qlinear_table_cases()
    trunc_cases()
    size = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"{len(CASES)} cases, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
