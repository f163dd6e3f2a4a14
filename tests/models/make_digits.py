#!/usr/bin/env python3
"""Make qweave's real-model test fixtures from scikit-learn's bundled digits data set.

Run from the repository root:

    scripts/python-env.sh && .cache/venv/bin/python tests/models/make_digits.py

What it makes (all into tests/models/, next to this script):

  digits_test.npz          the held-out split: `x` float32 [300,1,8,8] (pixels/16), `labels` int64
  digits_calib.npz         calibration inputs from the training split: `x` float32 [200,1,8,8],
                           the images onnxruntime's quantizer calibrates on (for `qweave quantize`)
  digits_float.onnx        a small residual CNN trained here in numpy, float, BatchNormalization
                           kept as separate nodes (not folded into the convolutions)
  digits_qdq.onnx          onnxruntime quantize_static of the float model with BN folded into
                           the convolutions (as onnxruntime's pre-processing would), QDQ format,
                           int8 activations, int8 per-channel weights, MinMax calibration on 200
                           training images
  digits_qop.onnx          the same in QOperator format (QLinearConv, QLinearMatMul and the
                           com.microsoft QLinearAdd/Mul/Concat/LeakyRelu/Sigmoid/AveragePool/
                           GlobalAveragePool and QGemm), uint8 activations, int8 per-channel
                           weights limited to 7 bits (reduce_range, see ort_quantize)
  digits_w4a4.onnx         QONNX models the way Brevitas exports them: float weights behind
  digits_w2a2.onnx         `Quant` nodes, activation `Quant` after each ReLU and on the input,
  digits_w1a1.onnx         BatchNormalization unfolded; fine-tuned here with quantization-aware
                           training. w1a1 uses `BipolarQuant` weights and 1-bit signed (bipolar)
                           `Quant` activations in place of the ReLUs.
  digits_qonnx_misc.onnx   a tiny QONNX graph with FINN `MultiThreshold` and QONNX `Trunc` (v1)
                           nodes; outputs y_trunc_floor, y_trunc_round, y_mt_scaled
  <model>_ref.npz          for each model above: its output(s) on the whole held-out split, one
                           image at a time, concatenated along the batch axis, stored under the
                           ONNX output names (onnxruntime for float/QDQ/QOperator, the qonnx
                           executor for the QONNX models)
  bench_resnet_qop.onnx    a ResNet-8-style CNN on [1,3,32,32] (about 12.5 M MACs) with random
                           weights, quantize_static QOperator (as digits_qop), calibrated on
                           random data, for interpreter-vs-onnxruntime benchmarks
  bench_input.npz          one random input for it (`x`) and onnxruntime's output on it (`logits`)

All models have a fixed batch of 1, input "x" and (the digits models) output "logits".

The QOperator references are exact integer results (checked for the first convolution against
a numpy integer computation). The QONNX references are float computations (float convolutions
over quantized values, float BatchNormalization): another evaluation order can move a value
across a rounding boundary of a later Quant and so differ by one quantization step there.

Everything is deterministic: fixed seeds, single-threaded BLAS and onnxruntime, a fixed
PYTHONHASHSEED (the script re-executes itself to set it) and .npz files written with fixed zip
timestamps, so that two runs on the same machine give byte-identical files. Training uses
floating point BLAS, so another CPU may give slightly different weights (and so different files).

The trainer is plain numpy: a small tape-based reverse-mode autodiff over im2col convolutions,
Adam, softmax cross-entropy, and straight-through estimators for quantization-aware training.
"""

import os
import sys

# --- Determinism: fix the hash seed and the thread counts before numpy/onnxruntime load. ------
_ENV = {
    "PYTHONHASHSEED": "0",  # set iteration order inside the onnxruntime quantizer
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _ENV.items()):
    os.environ.update(_ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import hashlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from sklearn.datasets import load_digits  # noqa: E402

OUT = Path(__file__).resolve().parent
OPSET = 13  # default-domain opset of every model written here
IR_VERSION = 8  # readable by onnxruntime 1.32 and by qweave (IR 3..=13)
QONNX_DOMAIN = "qonnx.custom_op.general"
N_TEST = 300  # held-out images
N_CALIB = 200  # calibration images for onnxruntime's quantizer (from the training split)
LEAKY_ALPHA = 0.1

logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs "consider pre-processing"
warnings.filterwarnings("ignore")  # qonnx/onnxruntime deprecation chatter; results are checked
ort.set_default_logger_severity(3)


# =============================================================================================
# Data
# =============================================================================================


def load_data():
    """Digits as float32 [N,1,8,8] in [0,1] and int64 labels, split into train and test by a
    fixed permutation (the last N_TEST images of the permutation are the held-out split)."""
    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(20240601).permutation(len(x))
    tr, te = perm[:-N_TEST], perm[-N_TEST:]
    return x[tr], y[tr], x[te], y[te]


# =============================================================================================
# A minimal reverse-mode autodiff over numpy arrays
# =============================================================================================

_TAPE = []  # every Var made by an op, in creation (= topological) order


class Var:
    """A value in the computation; `need` says whether a gradient is wanted for it."""

    __slots__ = ("v", "g", "parents", "back", "need")

    def __init__(self, v, parents=(), back=None, need=False):
        self.v, self.g, self.parents, self.back, self.need = v, None, parents, back, need


def _op(value, parents, back):
    """Records an op result; `back(g)` returns one gradient (or None) per parent."""
    out = Var(value, parents, back, any(p.need for p in parents))
    if out.need:
        _TAPE.append(out)
    return out


def backward(loss):
    """Accumulates d(loss)/d(v) into .g of every Var with need=True (the parameters)."""
    loss.g = np.ones_like(loss.v)
    for out in reversed(_TAPE):
        if out.g is None:
            continue
        for p, g in zip(out.parents, out.back(out.g)):
            if g is not None and p.need:
                p.g = g if p.g is None else p.g + g
    _TAPE.clear()


def no_grad_reset():
    """Drops whatever a forward pass recorded without a backward pass following it."""
    _TAPE.clear()


def _unbroadcast(g, shape):
    """Sums g down to `shape` (the reverse of numpy broadcasting)."""
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


def conv2d(x, w, b=None, pad=0):
    """Stride-1 2-D convolution (NCHW, OIHW) by im2col and one matrix product."""
    n, c, h, wd = x.v.shape
    o, _, kh, kw = w.v.shape
    xp = np.pad(x.v, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    cols = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n,c,ho,wo,kh,kw
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    wm = w.v.reshape(o, -1)
    out = cols @ wm.T
    if b is not None:
        out += b.v
    y = out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)

    def back(g):
        gm = g.transpose(0, 2, 3, 1).reshape(-1, o)
        gw = (gm.T @ cols).reshape(w.v.shape)
        gb = gm.sum(0) if b is not None else None
        gx = None
        if x.need:
            gcols = (gm @ wm).reshape(n, ho, wo, c, kh, kw)
            gxp = np.zeros_like(xp)
            for i in range(kh):
                for j in range(kw):
                    gxp[:, :, i : i + ho, j : j + wo] += gcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
            gx = gxp[:, :, pad : pad + h, pad : pad + wd]
        return gx, gw, gb

    parents = (x, w) if b is None else (x, w, b)
    return _op(np.ascontiguousarray(y), parents, back)


class BNState:
    """Running statistics of one BatchNormalization."""

    def __init__(self, c):
        self.mean = np.zeros(c, np.float32)
        self.var = np.ones(c, np.float32)


BN_EPS = 1e-5


def batchnorm(x, gamma, beta, st, train, momentum=0.1):
    """BatchNormalization over (N,H,W). In training mode it normalises with the batch
    statistics and updates the running ones (momentum 1.0 replaces them outright)."""
    ax = (0, 2, 3)
    if train:
        mu, var = x.v.mean(ax), x.v.var(ax)
        st.mean = ((1 - momentum) * st.mean + momentum * mu).astype(np.float32)
        st.var = ((1 - momentum) * st.var + momentum * var).astype(np.float32)
    else:
        mu, var = st.mean, st.var
    inv = (1.0 / np.sqrt(var + BN_EPS)).astype(np.float32)
    r = lambda a: a.reshape(1, -1, 1, 1)  # noqa: E731
    xh = (x.v - r(mu)) * r(inv)
    y = r(gamma.v) * xh + r(beta.v)

    def back(g):
        gg, gb = (g * xh).sum(ax), g.sum(ax)
        gxh = g * r(gamma.v)
        if train:
            m = x.v.shape[0] * x.v.shape[2] * x.v.shape[3]
            gx = r(inv) / m * (m * gxh - r(gxh.sum(ax)) - xh * r((gxh * xh).sum(ax)))
        else:
            gx = gxh * r(inv)
        return gx, gg, gb

    return _op(y, (x, gamma, beta), back)


def relu(x):
    return _op(np.maximum(x.v, 0), (x,), lambda g: (g * (x.v > 0),))


def leaky_relu(x, alpha=LEAKY_ALPHA):
    a = np.float32(alpha)
    return _op(np.where(x.v >= 0, x.v, a * x.v), (x,), lambda g: (np.where(x.v >= 0, g, a * g),))


def sigmoid(x):
    s = (1.0 / (1.0 + np.exp(-x.v))).astype(np.float32)
    return _op(s, (x,), lambda g: (g * s * (1 - s),))


def add(a, b):
    return _op(a.v + b.v, (a, b), lambda g: (_unbroadcast(g, a.v.shape), _unbroadcast(g, b.v.shape)))


def mul(a, b):
    return _op(
        a.v * b.v, (a, b), lambda g: (_unbroadcast(g * b.v, a.v.shape), _unbroadcast(g * a.v, b.v.shape))
    )


def concat(xs):
    sizes = np.cumsum([x.v.shape[1] for x in xs])[:-1]
    return _op(np.concatenate([x.v for x in xs], 1), tuple(xs), lambda g: tuple(np.split(g, sizes, 1)))


def avgpool2(x):
    """AveragePool kernel 2x2, stride 2."""
    n, c, h, w = x.v.shape
    y = x.v.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
    return _op(y, (x,), lambda g: (np.repeat(np.repeat(g, 2, 2), 2, 3) * np.float32(0.25),))


def global_avgpool(x):
    """GlobalAveragePool, [N,C,H,W] -> [N,C,1,1]."""
    hw = x.v.shape[2] * x.v.shape[3]
    y = x.v.mean((2, 3), keepdims=True)
    return _op(y, (x,), lambda g: (np.broadcast_to(g / np.float32(hw), x.v.shape),))


def reshape(x, shape):
    return _op(x.v.reshape(shape), (x,), lambda g: (g.reshape(x.v.shape),))


def matmul(x, w):
    """x [N,K] @ w [K,M] (ONNX MatMul)."""
    return _op(x.v @ w.v, (x, w), lambda g: (g @ w.v.T, x.v.T @ g))


def gemm_bt(x, w, b):
    """x [N,K] @ w[M,K]^T + b (ONNX Gemm with transB=1)."""
    return _op(x.v @ w.v.T + b.v, (x, w, b), lambda g: (g @ w.v, g.T @ x.v, g.sum(0)))


def softmax_xent(logits, labels):
    z = logits.v - logits.v.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels] + 1e-12).mean()

    def back(g):
        d = p.copy()
        d[np.arange(n), labels] -= 1
        return (d * (g / n),)

    return _op(np.float32(loss), (logits,), back)


# --- Quantizers with straight-through gradients, computed exactly as qonnx computes them. ----


def int_bounds(bits, signed, narrow):
    """The integer range of a QONNX Quant (qonnx.custom_op.general.intquant.min_int/max_int)."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def qonnx_quant_value(x, scale, bits, signed, narrow):
    """qonnx `Quant` with zero_point 0 and rounding_mode ROUND (numpy round, half to even):
    y = x / scale; 1-bit signed: y = (y >= 0 ? 1 : -1), else y = round(clip(y, lo, hi));
    out = y * scale."""
    y = x / scale
    if bits == 1 and signed:
        q = np.where(y >= 0, np.float32(1), np.float32(-1))
    else:
        lo, hi = int_bounds(bits, signed, narrow)
        q = np.round(np.clip(y, lo, hi))
    return (q * scale).astype(np.float32), y


def quant_act(x, scale, bits, signed, narrow=False):
    """Activation Quant; the clipped straight-through estimator passes the gradient where the
    input is inside the representable range (for bipolar: |x/scale| <= 1.5)."""
    out, y = qonnx_quant_value(x.v, scale, bits, signed, narrow)
    if bits == 1 and signed:
        mask = np.abs(y) <= 1.5
    else:
        lo, hi = int_bounds(bits, signed, narrow)
        mask = (y >= lo) & (y <= hi)
    return _op(out, (x,), lambda g: (g * mask,))


def weight_scale(w, bits, per_channel_axis):
    """Scale of a weight quantizer, recomputed from the weights at every step (detached):
    8/4-bit max-abs, 2-bit (ternary) 1.4 * mean-abs (threshold 0.7 * mean-abs, as in ternary
    weight networks), 1-bit (bipolar) mean-abs (as in XNOR-Net). Per channel along
    `per_channel_axis` (None: one scale for the whole tensor), shaped to broadcast."""
    a = np.abs(w)
    if per_channel_axis is None:
        axes = tuple(range(w.ndim))
    else:
        axes = tuple(i for i in range(w.ndim) if i != per_channel_axis)
    if bits == 1:
        s = a.mean(axes, keepdims=True)
    elif bits == 2:
        s = 1.4 * a.mean(axes, keepdims=True)
    else:
        s = a.max(axes, keepdims=True) / (2 ** (bits - 1) - 1)
    s = np.maximum(s, 1e-8).astype(np.float32)
    return s if per_channel_axis is not None else s.reshape(())


def quant_weight(w, bits, per_channel_axis):
    """Weight Quant (signed, narrow range) or BipolarQuant for 1 bit; identity gradient."""
    s = weight_scale(w.v, bits, per_channel_axis)
    if bits == 1:
        out = (np.where(w.v >= 0, np.float32(1), np.float32(-1)) * s).astype(np.float32)
    else:
        out, _ = qonnx_quant_value(w.v, s, bits, True, True)
    return _op(out, (w,), lambda g: (g,)), s


# =============================================================================================
# The digits network
# =============================================================================================
#
#   x [1,1,8,8]
#   conv1 3x3 1->16 pad 1 (no bias) -> bn1 -> relu                               = a1
#   residual block: conv2 3x3 16->16 -> bn2 -> relu -> conv3 3x3 16->16 -> bn3
#                   -> Add(., a1) -> relu                                        = a2
#   branch pair:    conv4a 1x1 16->8 (+bias) -> LeakyRelu(0.1)
#                   conv4b 3x3 16->8 pad 1 (+bias) -> relu      -> Concat(channels) [16,8,8]
#   AveragePool 2x2 stride 2                                                     = p  [16,4,4]
#   squeeze-excite: GlobalAveragePool -> Flatten -> MatMul 16->4 -> Add bias -> relu
#                   -> MatMul 4->16 -> Add bias -> Sigmoid -> Reshape [1,16,1,1] -> Mul(p, .)
#   GlobalAveragePool -> Flatten -> Gemm 16->10 (transB=1)                      = logits
#
# Quantized (QONNX) variants: weight Quant on every conv/MatMul/Gemm weight (the final Gemm at
# 8 bits), an 8-bit unsigned Quant on the input, and an activation Quant after each ReLU
# (unsigned), after the LeakyRelu (signed) and after the Sigmoid (8-bit unsigned, scale 1/255).
# For 1-bit activations the ReLUs are replaced by signed 1-bit Quants (bipolar, i.e. sign).

CONVS = {  # name: (out, in, k, has_bias)
    "conv1": (16, 1, 3, False),
    "conv2": (16, 16, 3, False),
    "conv3": (16, 16, 3, False),
    "conv4a": (8, 16, 1, True),
    "conv4b": (8, 16, 3, True),
}
BNS = {"bn1": 16, "bn2": 16, "bn3": 16}
SE_HIDDEN = 4
# Activation quantizer sites: name -> signed?
ACT_SITES = {"a1": False, "a2r": False, "a2": False, "a4a": True, "a4b": False, "ase": False}


def init_params(seed):
    """He-normal weights, zero biases, unit BN scales."""
    rs = np.random.RandomState(seed)
    p = {}
    for name, (o, i, k, has_bias) in CONVS.items():
        p[name + ".w"] = (rs.randn(o, i, k, k) * np.sqrt(2.0 / (i * k * k))).astype(np.float32)
        if has_bias:
            p[name + ".b"] = np.zeros(o, np.float32)
    for name, c in BNS.items():
        p[name + ".g"] = np.ones(c, np.float32)
        p[name + ".b"] = np.zeros(c, np.float32)
    p["se1.w"] = (rs.randn(16, SE_HIDDEN) * np.sqrt(2.0 / 16)).astype(np.float32)
    p["se1.b"] = np.zeros(SE_HIDDEN, np.float32)
    p["se2.w"] = (rs.randn(SE_HIDDEN, 16) * np.sqrt(1.0 / SE_HIDDEN)).astype(np.float32)
    p["se2.b"] = np.zeros(16, np.float32)
    p["fc.w"] = (rs.randn(10, 16) * np.sqrt(1.0 / 16)).astype(np.float32)
    p["fc.b"] = np.zeros(10, np.float32)
    bn = {name: BNState(c) for name, c in BNS.items()}
    return p, bn


class QConfig:
    """Bit widths of a QONNX variant; act_scales are fixed per-tensor scales (calibrated)."""

    def __init__(self, name, wbits, abits):
        self.name, self.wbits, self.abits = name, wbits, abits
        self.act_scales = {}

    # per-channel axis of each weight for its quantizer (None: per tensor)
    WEIGHT_AXIS = {
        "conv1": 0,
        "conv2": 0,
        "conv3": 0,
        "conv4a": 0,
        "conv4b": 0,
        "se1": 1,
        "se2": 1,
        "fc": None,
    }

    def wbits_of(self, layer):
        return 8 if layer == "fc" else self.wbits


IN_SCALE = np.float32(1.0 / 255.0)  # 8-bit unsigned input Quant
GATE_SCALE = np.float32(1.0 / 255.0)  # 8-bit unsigned Quant after the SE Sigmoid


def forward(P, bn, x, train, q=None, record=None):
    """The network on a batch. P: dict name -> Var; q: QConfig or None (float);
    record: if a dict, pre-quantization activations are stored into it (for calibration)."""

    def W(layer):
        w = P[layer + ".w"]
        if q is None:
            return w
        return quant_weight(w, q.wbits_of(layer), QConfig.WEIGHT_AXIS[layer])[0]

    def B(layer):
        return P.get(layer + ".b")

    def act(site, v, kind="relu"):
        """relu/leaky followed by the site's activation Quant (or a bipolar Quant instead of
        the relu for 1-bit activations)."""
        if q is not None and q.abits == 1:
            if kind == "leaky":
                v = leaky_relu(v)
            if record is not None:
                record[site] = v.v
            return quant_act(v, q.act_scales[site], 1, True) if site in q.act_scales else v
        v = relu(v) if kind == "relu" else leaky_relu(v)
        if record is not None:
            record[site] = v.v
        if q is None or site not in q.act_scales:
            return v
        return quant_act(v, q.act_scales[site], q.abits, ACT_SITES[site])

    def bnorm(name, v):
        return batchnorm(v, P[name + ".g"], P[name + ".b"], bn[name], train, momentum)

    momentum = 1.0 if train == "recalibrate" else 0.1
    if q is not None:
        x = quant_act(x, IN_SCALE, 8, False)
    a1 = act("a1", bnorm("bn1", conv2d(x, W("conv1"), None, 1)))
    h = act("a2r", bnorm("bn2", conv2d(a1, W("conv2"), None, 1)))
    h = bnorm("bn3", conv2d(h, W("conv3"), None, 1))
    a2 = act("a2", add(h, a1))
    ba = act("a4a", conv2d(a2, W("conv4a"), B("conv4a"), 0), "leaky")
    bb = act("a4b", conv2d(a2, W("conv4b"), B("conv4b"), 1))
    p = avgpool2(concat([ba, bb]))
    n = p.v.shape[0]
    s = reshape(global_avgpool(p), (n, 16))
    s = act("ase", add(matmul(s, W("se1")), B("se1")))
    s = sigmoid(add(matmul(s, W("se2")), B("se2")))
    if q is not None:
        s = quant_act(s, GATE_SCALE, 8, False)
    p = mul(p, reshape(s, (n, 16, 1, 1)))
    f = reshape(global_avgpool(p), (n, 16))
    return gemm_bt(f, W("fc"), B("fc"))


def predict(params, bn, x, q=None, batch=500):
    out = []
    for i in range(0, len(x), batch):
        P = {k: Var(v) for k, v in params.items()}
        out.append(forward(P, bn, Var(x[i : i + batch]), False, q).v)
    no_grad_reset()
    return np.concatenate(out)


def accuracy(logits, labels):
    return float((logits.argmax(1) == labels).mean())


def recalibrate_bn(params, bn, x, q=None):
    """Sets every BN's running statistics to the exact statistics of the whole training set
    (one full-batch pass in training mode with momentum 1)."""
    P = {k: Var(v) for k, v in params.items()}
    forward(P, bn, Var(x), "recalibrate", q)
    no_grad_reset()


def train(params, bn, xtr, ytr, epochs, lr, seed, q=None, batch=32, log=""):
    """Adam with a cosine learning-rate decay; light augmentation by random 1-pixel shifts."""
    rs = np.random.RandomState(seed)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    for ep in range(epochs):
        perm = rs.permutation(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i : i + batch]
            xb = shift_augment(xtr[idx], rs)
            P = {k: Var(val, need=True) for k, val in params.items()}
            loss = softmax_xent(forward(P, bn, Var(xb), True, q), ytr[idx])
            backward(loss)
            tot += float(loss.v) * len(idx)
            t += 1
            lr_t = lr * 0.5 * (1 + np.cos(np.pi * t / steps))
            for k in params:
                g = P[k].g
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                mh, vh = m[k] / (1 - b1**t), v2[k] / (1 - b2**t)
                params[k] = (params[k] - lr_t * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        if log and ((ep + 1) % 10 == 0 or ep + 1 == epochs):
            print(f"  {log} epoch {ep + 1}/{epochs}: loss {tot / len(xtr):.4f}", flush=True)


def shift_augment(x, rs):
    """Shifts each image by -1, 0 or +1 pixel in each direction (zero fill)."""
    out = np.zeros_like(x)
    for n in range(len(x)):
        dy, dx = rs.randint(-1, 2, size=2)
        src = x[n, 0, max(0, -dy) : 8 - max(0, dy), max(0, -dx) : 8 - max(0, dx)]
        out[n, 0, max(0, dy) : 8 - max(0, -dy), max(0, dx) : 8 - max(0, -dx)] = src
    return out


def calibrate_act_scales(params, bn, x, q):
    """Fixes each activation Quant's scale from the statistics of its input on `x` (run with
    the weights already quantized and earlier sites already quantized, site by site)."""
    q.act_scales = {}
    for site in ACT_SITES:
        rec = {}
        P = {k: Var(v) for k, v in params.items()}
        forward(P, bn, Var(x), False, q, record=rec)
        no_grad_reset()
        a = rec[site]
        if q.abits == 1:
            s = np.abs(a).mean()  # bipolar: output is +-s
        elif ACT_SITES[site]:
            lo, hi = int_bounds(q.abits, True, False)
            s = max(np.percentile(a, 99.9) / hi, np.percentile(a, 0.1) / lo)
        else:
            hi = int_bounds(q.abits, False, False)[1]
            s = np.percentile(a, 99.9 if q.abits >= 4 else 99.0) / hi
        q.act_scales[site] = np.float32(max(s, 1e-6))


# =============================================================================================
# ONNX export
# =============================================================================================


class GraphBuilder:
    """Collects nodes and initializers; every node's single output is named after the node."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, inputs, name, domain="", **attrs):
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, domain=domain, **attrs))
        return name

    def model(self, inputs, outputs, name, qonnx=False):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        opsets = [helper.make_opsetid("", OPSET)]
        if qonnx:
            # qonnx resolves versioned custom ops (e.g. Trunc_v1 / Trunc_v2) by this version
            opsets.append(helper.make_opsetid(QONNX_DOMAIN, 1))
        m = helper.make_model(graph, opset_imports=opsets, producer_name="qweave-make_digits")
        m.ir_version = IR_VERSION
        return m

    # --- QONNX quantizers -------------------------------------------------------------------

    def quant(self, name, x, scale, bits, signed, narrow):
        """QONNX Quant(x, scale, zero_point, bit_width), all float32 initializers."""
        return self.node(
            "Quant",
            [
                x,
                self.init(name + ".scale", np.asarray(scale, np.float32)),
                self.init(name + ".zero_point", np.float32(0)),
                self.init(name + ".bit_width", np.float32(bits)),
            ],
            name,
            domain=QONNX_DOMAIN,
            signed=int(signed),
            narrow=int(narrow),
            rounding_mode="ROUND",
        )

    def bipolar_quant(self, name, x, scale):
        """QONNX BipolarQuant(x, scale)."""
        scale = self.init(name + ".scale", np.asarray(scale, np.float32))
        return self.node("BipolarQuant", [x, scale], name, domain=QONNX_DOMAIN)


def fold_bn(w, b, gamma, beta, st):
    """Folds an eval-mode BatchNormalization into the preceding convolution."""
    k = gamma / np.sqrt(st.var + BN_EPS)
    b0 = np.zeros(w.shape[0], np.float32) if b is None else b
    return (w * k.reshape(-1, 1, 1, 1)).astype(np.float32), ((b0 - st.mean) * k + beta).astype(np.float32)


def build_digits_onnx(params, bn, mode, q=None):
    """The digits network as ONNX. mode: "float" (BatchNormalization nodes kept), "folded"
    (BN folded into the convolutions: the input of onnxruntime's quantizer) or "qonnx"
    (Brevitas-style QONNX with the quantizers of QConfig q)."""
    g = GraphBuilder()
    P = params

    def weight(layer):
        w = P[layer + ".w"]
        if mode != "qonnx":
            return g.init(layer + ".weight", w)
        bits = q.wbits_of(layer)
        s = weight_scale(w, bits, QConfig.WEIGHT_AXIS[layer])
        wi = g.init(layer + ".weight", w)
        if bits == 1:
            return g.bipolar_quant(layer + ".weight_quant", wi, s)
        return g.quant(layer + ".weight_quant", wi, s, bits, True, True)

    def conv(layer, x, bn_name=None):
        o, i, k, has_bias = CONVS[layer]
        pads = [k // 2] * 4
        if mode == "folded" and bn_name is not None:
            w, b = fold_bn(
                P[layer + ".w"], P.get(layer + ".b"), P[bn_name + ".g"], P[bn_name + ".b"], bn[bn_name]
            )
            inputs = [x, g.init(layer + ".weight", w), g.init(layer + ".bias", b)]
        else:
            inputs = [x, weight(layer)] + ([g.init(layer + ".bias", P[layer + ".b"])] if has_bias else [])
        y = g.node("Conv", inputs, layer, kernel_shape=[k, k], pads=pads, strides=[1, 1])
        if bn_name is None or mode == "folded":
            return y
        return g.node(
            "BatchNormalization",
            [
                y,
                g.init(bn_name + ".scale", P[bn_name + ".g"]),
                g.init(bn_name + ".bias", P[bn_name + ".b"]),
                g.init(bn_name + ".mean", bn[bn_name].mean),
                g.init(bn_name + ".var", bn[bn_name].var),
            ],
            bn_name,
            epsilon=BN_EPS,
        )

    def act(site, x, relu_name, kind="relu"):
        """Relu (or LeakyRelu) and the site's activation Quant, as in forward()."""
        if mode == "qonnx" and q.abits == 1:
            if kind == "leaky":
                x = g.node("LeakyRelu", [x], relu_name, alpha=LEAKY_ALPHA)
            return g.quant("quant_" + site, x, q.act_scales[site], 1, True, False)
        if kind == "leaky":
            x = g.node("LeakyRelu", [x], relu_name, alpha=LEAKY_ALPHA)
        else:
            x = g.node("Relu", [x], relu_name)
        if mode != "qonnx":
            return x
        return g.quant("quant_" + site, x, q.act_scales[site], q.abits, ACT_SITES[site], False)

    x = "x"
    if mode == "qonnx":
        x = g.quant("quant_input", x, IN_SCALE, 8, False, False)
    a1 = act("a1", conv("conv1", x, "bn1"), "relu1")
    h = act("a2r", conv("conv2", a1, "bn2"), "relu2")
    h = conv("conv3", h, "bn3")
    a2 = act("a2", g.node("Add", [h, a1], "res_add"), "relu3")
    ba = act("a4a", conv("conv4a", a2), "leaky4a", "leaky")
    bb = act("a4b", conv("conv4b", a2), "relu4b")
    cat = g.node("Concat", [ba, bb], "concat", axis=1)
    p = g.node("AveragePool", [cat], "avgpool", kernel_shape=[2, 2], strides=[2, 2])
    s = g.node("GlobalAveragePool", [p], "se_gap")
    s = g.node("Flatten", [s], "se_flatten", axis=1)
    s = g.node("MatMul", [s, weight("se1")], "se1_matmul")
    s = g.node("Add", [s, g.init("se1.bias", P["se1.b"])], "se1_add")
    s = act("ase", s, "se_relu")
    s = g.node("MatMul", [s, weight("se2")], "se2_matmul")
    s = g.node("Add", [s, g.init("se2.bias", P["se2.b"])], "se2_add")
    s = g.node("Sigmoid", [s], "se_sigmoid")
    if mode == "qonnx":
        s = g.quant("quant_gate", s, GATE_SCALE, 8, False, False)
    s = g.node("Reshape", [s, g.init("se_shape", np.array([1, 16, 1, 1], np.int64))], "se_reshape")
    p = g.node("Mul", [p, s], "se_mul")
    f = g.node("GlobalAveragePool", [p], "gap")
    f = g.node("Flatten", [f], "flatten", axis=1)
    g.node("Gemm", [f, weight("fc"), g.init("fc.bias", P["fc.b"])], "logits", transB=1)
    name = "digits_" + (q.name if mode == "qonnx" else mode)
    m = g.model(
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        name,
        qonnx=(mode == "qonnx"),
    )
    return m


def infer_shapes(model, qonnx=False):
    """Adds value_info for every intermediate tensor (the qonnx executor needs them); QONNX
    models go through qonnx's InferShapes, which knows the custom ops' shapes."""
    if qonnx:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_shapes import InferShapes

        return ModelWrapper(model).transform(InferShapes()).model
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def save_model(model, name):
    onnx.checker.check_model(model)
    path = OUT / name
    onnx.save_model(model, str(path))
    return path


def save_npz(path, **arrays):
    """np.savez_compressed with fixed zip timestamps (numpy's own uses the current time, which
    would make the files differ on every run)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            b = io.BytesIO()
            np.lib.format.write_array(b, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(info, b.getvalue())
    Path(path).write_bytes(buf.getvalue())


# =============================================================================================
# Running models: onnxruntime and the qonnx executor
# =============================================================================================


def ort_session(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    src = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def run_ort(path, x):
    """Runs a batch-1 model on each image; returns {output name: outputs concatenated}."""
    sess = ort_session(path)
    names = [o.name for o in sess.get_outputs()]
    outs = {n: [] for n in names}
    for i in range(len(x)):
        for n, v in zip(names, sess.run(names, {"x": x[i : i + 1]})):
            outs[n].append(v)
    return {n: np.concatenate(v).astype(np.float32) for n, v in outs.items()}


def run_qonnx(model, x):
    """Runs a QONNX model (with value_info) image by image with qonnx's reference executor."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    mw = ModelWrapper(model)
    names = [o.name for o in model.graph.output]
    outs = {n: [] for n in names}
    for i in range(len(x)):
        r = execute_onnx(mw, {"x": x[i : i + 1]})
        for n in names:
            outs[n].append(r[n])
    return {n: np.concatenate(v).astype(np.float32) for n, v in outs.items()}


class ListReader(CalibrationDataReader):
    """Feeds calibration images to onnxruntime's quantizer one at a time (batch 1)."""

    def __init__(self, xs):
        self.items = [{"x": xs[i : i + 1]} for i in range(len(xs))]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.items):
            return None
        self.pos += 1
        return self.items[self.pos - 1]

    def __len__(self):
        return len(self.items)


def ort_quantize(float_model, out_name, calib, fmt, act_type, weight_type, reduce_range=False):
    """quantize_static with MinMax calibration, per-channel weights and every op type the
    quantizer knows (listed explicitly, sorted, so its behaviour does not depend on set order).

    reduce_range=True limits the weights to 7 bits ([-64, 64]). The QOperator models (uint8
    activations x int8 weights) need it for their onnxruntime references to be exact: on x86
    CPUs without VNNI, onnxruntime's u8 x s8 kernels multiply with pmaddubsw, which adds two
    u8 * s8 products into a saturating int16 (255 * 127 * 2 > 32767), so with full-range int8
    weights onnxruntime's results are not the ONNX semantics (on this machine ~6% of the first
    QLinearConv's outputs differ, by up to 56, and top-1 accuracy drops to 88%). With 7-bit
    weights no sum can saturate and every CPU computes the exact result. (onnxruntime's own
    documentation recommends reduce_range for u8s8 on such CPUs.) The QDQ model uses int8
    activations, which onnxruntime runs with s8 x s8 kernels that do not saturate.
    """
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    out = OUT / out_name
    with tempfile.TemporaryDirectory(prefix="qweave-quant.") as tmp:
        src = Path(tmp) / "float.onnx"
        onnx.save_model(float_model, str(src))
        quantize_static(
            str(src),
            str(out),
            ListReader(calib),
            quant_format=fmt,
            op_types_to_quantize=op_types,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=act_type,
            weight_type=weight_type,
            calibrate_method=CalibrationMethod.MinMax,
        )
    m = onnx.load(str(out))
    onnx.checker.check_model(m)
    return out, m


def check_first_conv_exact(model, x):
    """Recomputes a quantized model's first convolution (QLinearConv, or DequantizeLinear ->
    Conv -> QuantizeLinear in QDQ form) in exact integer arithmetic: int64 accumulation of
    (x - x_zp) * (w - w_zp) plus the int32 bias, requantization by the float32 multiplier
    x_scale * w_scale / y_scale, round half to even, add y_zp, saturate. Returns (number of
    outputs where onnxruntime differs, number of outputs, largest difference)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    conv = next(n for n in model.graph.node if n.op_type in ("QLinearConv", "Conv"))
    if conv.op_type == "QLinearConv":
        xq, xs, xz, w, ws, wz, ys, yz = conv.input[:8]
        bias = conv.input[8] if len(conv.input) > 8 else None
        out = conv.output[0]
    else:
        xq, xs, xz = producer[conv.input[0]].input
        w, ws, wz = producer[conv.input[1]].input
        bias = producer[conv.input[2]].input[0] if len(conv.input) > 2 else None
        q = next(
            n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == conv.output[0]
        )
        out, ys, yz = q.output[0], q.input[1], q.input[2]
    # expose the quantized input and output of the convolution and run onnxruntime
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    for name, zp in ((xq, xz), (out, yz)):
        m.graph.output.append(
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(inits[zp].dtype), None)
        )
    sess = ort_session(m.SerializeToString())
    got_x, got_y = zip(*(sess.run([xq, out], {"x": x[i : i + 1]}) for i in range(len(x))))
    got_x, got_y = np.concatenate(got_x), np.concatenate(got_y)
    # exact integer convolution
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    pads, strides = attrs.get("pads", [0, 0, 0, 0]), attrs.get("strides", [1, 1])
    wt = inits[w].astype(np.int64) - inits[wz].astype(np.int64).reshape(-1, 1, 1, 1)
    xi = got_x.astype(np.int64) - inits[xz].astype(np.int64)
    xi = np.pad(xi, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = sliding_window_view(xi, wt.shape[2:], axis=(2, 3))[:, :, :: strides[0], :: strides[1]]
    acc = np.einsum("nchwij,ocij->nohw", win, wt)
    if bias is not None:
        acc += inits[bias].astype(np.int64).reshape(1, -1, 1, 1)
    mult = (inits[xs] * inits[ws] / inits[ys]).astype(np.float32).reshape(1, -1, 1, 1)
    info = np.iinfo(inits[yz].dtype)
    want = np.clip(np.rint(acc.astype(np.float32) * mult) + inits[yz].astype(np.int64), info.min, info.max)
    diff = np.abs(want - got_y.astype(np.int64))
    return int((diff > 0).sum()), diff.size, int(diff.max())


def ops_by_domain(model):
    """{domain: sorted op types} of a model's top-level graph."""
    d = {}
    for n in model.graph.node:
        d.setdefault(n.domain or "ai.onnx", set()).add(n.op_type)
    return {k: sorted(v) for k, v in sorted(d.items())}


def fmt_ops(model):
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in ops_by_domain(model).items())


# =============================================================================================
# The QONNX MultiThreshold / Trunc graph
# =============================================================================================
#
# qonnx 1.0.0 has two versions of Trunc (qonnx/custom_op/general/trunc.py), chosen by the
# model's opset import of the "qonnx.custom_op.general" domain. This graph imports version 1
# (qonnx's preferred version, and the form of Brevitas' classic TruncAvgPool export), i.e.
# Trunc_v1:
#
#   inputs  x, scale, zero_point, input_bit_width, output_bit_width (all float32 tensors)
#   attr    rounding_mode (string, default "FLOOR")
#   y = round(x / scale + zero_point)                    (numpy round: half to even)
#   y = y / 2 ** (input_bit_width - output_bit_width)
#   y = rounding_mode(y)                                 (FLOOR; ROUND = half to even; ...)
#   out = (y - zero_point) * scale                       (no clamping in version 1)
#
# (Trunc_v2, under opset import version 2, takes x, scale, zero_point, input_bit_width,
# output_scale, output_bit_width, has attributes narrow, signed and rounding_mode, and clamps
# to the output range; it is not used here.)
#
# FINN's MultiThreshold(x, thresholds [C or 1, T]) {out_dtype, out_scale, out_bias}: counts,
# per channel (axis 1 of NCHW), the thresholds t with x >= t, then out_scale * n + out_bias.
# Note qonnx evaluates that in float32 (numpy 2 keeps float32 when a Python float multiplies
# a float32 array): round32(round32(out_scale * n) + out_bias), two roundings. mt_c below
# uses out_scale 0.3 and out_bias -1.7, for which computing in float64 and rounding once
# gives a different float32 for n = 5, 7, 10, 14, 15.
#
#   x [1,1,8,8]
#   branch a: Conv 3x3 1->4 pad 1 (random float weights)                   = conv_a
#             -> MultiThreshold (per-channel thresholds [4,15], UINT4)     0..15
#             -> Conv 1x1 4->2 (integer weights in -3..3)                  integers in about +-60
#             -> Trunc(scale 1, zero_point 0, 10 -> 7 bits, FLOOR)         = y_trunc_floor
#   branch b: MultiThreshold (one shared row of thresholds [1,7], out_scale 0.5, out_bias -2)
#             -> Trunc(scale 0.25, zero_point 0, 6 -> 4 bits, ROUND)       = y_trunc_round
#             (x / 0.25 runs over -8..6, divided by 4: ties +-0.5 and +-1.5 go to even)
#   branch c: conv_a -> MultiThreshold (per-channel [4,15], out_scale 0.3, out_bias -1.7)
#                                                                          = y_mt_scaled


def build_qonnx_misc():
    rs = np.random.RandomState(7)
    g = GraphBuilder()

    def trunc(name, x, scale, in_bits, out_bits, rounding):
        inputs = [
            x,
            g.init(name + ".scale", np.float32(scale)),
            g.init(name + ".zero_point", np.float32(0.0)),
            g.init(name + ".in_bit_width", np.float32(in_bits)),
            g.init(name + ".out_bit_width", np.float32(out_bits)),
        ]
        return g.node("Trunc", inputs, name, domain=QONNX_DOMAIN, rounding_mode=rounding)

    def multi_threshold(name, x, thresholds, out_dtype, out_scale, out_bias):
        return g.node(
            "MultiThreshold",
            [x, g.init(name + ".thresholds", thresholds)],
            name,
            domain=QONNX_DOMAIN,
            out_dtype=out_dtype,
            out_scale=out_scale,
            out_bias=out_bias,
        )

    # thresholds: sorted rows spanning each input's range on digits images
    wa = (rs.randn(4, 1, 3, 3) * 0.5).astype(np.float32)
    conv_a = g.node(
        "Conv", ["x", g.init("conv_a.weight", wa)], "conv_a", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
    )
    ta = np.sort(rs.uniform(-2.0, 2.0, size=(4, 15)), axis=1).astype(np.float32)
    a = multi_threshold("mt_a", conv_a, ta, "UINT4", 1.0, 0.0)
    wb = rs.randint(-3, 4, size=(2, 4, 1, 1)).astype(np.float32)
    a = g.node("Conv", [a, g.init("conv_b.weight", wb)], "conv_b", kernel_shape=[1, 1])
    trunc("y_trunc_floor", a, 1.0, 10, 7, "FLOOR")

    tb = np.sort(rs.uniform(0.05, 0.95, size=(1, 7)), axis=1).astype(np.float32)
    b = multi_threshold("mt_b", "x", tb, "INT4", 0.5, -2.0)
    trunc("y_trunc_round", b, 0.25, 6, 4, "ROUND")

    tc = np.sort(rs.uniform(-2.0, 2.0, size=(4, 15)), axis=1).astype(np.float32)
    multi_threshold("y_mt_scaled", conv_a, tc, "UINT4", 0.3, -1.7)

    def out(name, c):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, 8, 8])

    return g.model(
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [out("y_trunc_floor", 2), out("y_trunc_round", 1), out("y_mt_scaled", 4)],
        "digits_qonnx_misc",
        qonnx=True,
    )


# =============================================================================================
# The benchmark model: ResNet-8 style (as in MLPerf Tiny image classification), random weights
# =============================================================================================
#
#   x [1,3,32,32] -> conv 3x3 3->16 + relu
#   block 1 (32x32): conv 3x3 16->16 + relu, conv 3x3 16->16, Add(identity), relu
#   block 2 (16x16): conv 3x3 /2 16->32 + relu, conv 3x3 32->32, Add(conv 1x1 /2 16->32), relu
#   block 3 (8x8):   conv 3x3 /2 32->64 + relu, conv 3x3 64->64, Add(conv 1x1 /2 32->64), relu
#   GlobalAveragePool -> Flatten -> Gemm 64->10 = logits


def build_bench():
    """Returns the float model and its multiply-accumulate count."""
    rs = np.random.RandomState(11)
    g = GraphBuilder()
    macs = [0]

    def conv(name, x, cin, cout, k, stride, hw_in, relu):
        w = (rs.randn(cout, cin, k, k) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rs.randn(cout) * 0.05).astype(np.float32)
        hw = hw_in // stride
        macs[0] += hw * hw * cout * cin * k * k
        y = g.node(
            "Conv",
            [x, g.init(name + ".weight", w), g.init(name + ".bias", b)],
            name,
            kernel_shape=[k, k],
            pads=[k // 2] * 4,
            strides=[stride, stride],
        )
        return (g.node("Relu", [y], name + "_relu") if relu else y), hw

    x, hw = conv("conv0", "x", 3, 16, 3, 1, 32, True)
    cin = 16
    for i, (cout, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
        h, hw2 = conv(f"b{i}_conv1", x, cin, cout, 3, stride, hw, True)
        h, _ = conv(f"b{i}_conv2", h, cout, cout, 3, 1, hw2, False)
        skip = x if stride == 1 else conv(f"b{i}_down", x, cin, cout, 1, stride, hw, False)[0]
        x = g.node("Relu", [g.node("Add", [h, skip], f"b{i}_add")], f"b{i}_relu")
        cin, hw = cout, hw2
    x = g.node("GlobalAveragePool", [x], "gap")
    x = g.node("Flatten", [x], "flatten", axis=1)
    w = (rs.randn(10, 64) * np.sqrt(1.0 / 64)).astype(np.float32)
    macs[0] += 64 * 10
    g.node(
        "Gemm", [x, g.init("fc.weight", w), g.init("fc.bias", np.zeros(10, np.float32))], "logits", transB=1
    )
    m = g.model(
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        "bench_resnet",
    )
    return m, macs[0]


# =============================================================================================
# Main
# =============================================================================================


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    t0 = time.time()
    xtr, ytr, xte, yte = load_data()
    print(f"digits: {len(xtr)} train, {len(xte)} held-out images")
    save_npz(OUT / "digits_test.npz", x=xte, labels=yte)
    save_npz(OUT / "digits_calib.npz", x=xtr[:N_CALIB])
    rows = []  # (file, float top-1, quantized top-1, op types by domain)

    # --- a. float model ---------------------------------------------------------------------
    params, bn = init_params(seed=1)
    t = time.time()
    train(params, bn, xtr, ytr, epochs=30, lr=3e-3, seed=2, log="float")
    recalibrate_bn(params, bn, xtr)
    acc_np = accuracy(predict(params, bn, xte), yte)
    print(f"float training: {time.time() - t:.1f} s, numpy top-1 {acc_np:.4f}")
    nbytes = sum(v.nbytes for v in params.values()) + sum(s.mean.nbytes * 2 for s in bn.values())
    print(
        f"parameters: {sum(v.size for v in params.values())} ({nbytes} bytes as float32, BN stats included)"
    )

    m = infer_shapes(build_digits_onnx(params, bn, "float"))
    path = save_model(m, "digits_float.onnx")
    ref = run_ort(path, xte)
    save_npz(OUT / "digits_float_ref.npz", **ref)
    acc_float = accuracy(ref["logits"], yte)
    rows.append((path, acc_float, None, fmt_ops(m)))

    # --- b, c. onnxruntime static quantization (of the BN-folded float model) ----------------
    folded = infer_shapes(build_digits_onnx(params, bn, "folded"))
    calib = xtr[:N_CALIB]
    for name, fmt, act_type, reduce_range in [
        ("digits_qdq.onnx", QuantFormat.QDQ, QuantType.QInt8, False),
        ("digits_qop.onnx", QuantFormat.QOperator, QuantType.QUInt8, True),
    ]:
        path, qm = ort_quantize(folded, name, calib, fmt, act_type, QuantType.QInt8, reduce_range)
        bad, total, worst = check_first_conv_exact(qm, xte)
        print(
            f"{name}: first convolution, onnxruntime vs exact integer math: "
            f"{bad} of {total} differ (max {worst})"
        )
        ref = run_ort(path, xte)
        save_npz(OUT / name.replace(".onnx", "_ref.npz"), **ref)
        rows.append((path, acc_float, accuracy(ref["logits"], yte), fmt_ops(qm)))

    # --- d. QONNX models, quantization-aware training from the float weights ----------------
    # (name, weight bits, activation bits, epochs, Adam learning rate); lower precision needs
    # a larger learning rate (weights must cross quantization thresholds) and more epochs.
    for qname, wbits, abits, epochs, lr in [
        ("w4a4", 4, 4, 6, 3e-3),
        ("w2a2", 2, 2, 10, 1e-2),
        ("w1a1", 1, 1, 30, 2e-2),
    ]:
        q = QConfig(qname, wbits, abits)
        qp = {k: v.copy() for k, v in params.items()}
        qbn = {k: BNState(len(s.mean)) for k, s in bn.items()}
        for k in bn:
            qbn[k].mean, qbn[k].var = bn[k].mean.copy(), bn[k].var.copy()
        t = time.time()
        if abits == 1:
            recalibrate_bn(qp, qbn, xtr, QConfig(qname, wbits, 8))  # statistics under 1-bit weights
        calibrate_act_scales(qp, qbn, xtr, q)
        acc_before = accuracy(predict(qp, qbn, xte, q), yte)
        train(qp, qbn, xtr, ytr, epochs=epochs, lr=lr, seed=3, q=q, log=qname)
        recalibrate_bn(qp, qbn, xtr, q)
        logits_np = predict(qp, qbn, xte, q)
        print(
            f"{qname} QAT: {time.time() - t:.1f} s, numpy top-1 {acc_before:.4f} before, "
            f"{accuracy(logits_np, yte):.4f} after"
        )
        m = infer_shapes(build_digits_onnx(qp, qbn, "qonnx", q), qonnx=True)
        path = save_model(m, f"digits_{qname}.onnx")
        t = time.time()
        ref = run_qonnx(m, xte)
        diff = np.abs(ref["logits"] - logits_np).max()
        agree = float((ref["logits"].argmax(1) == logits_np.argmax(1)).mean())
        print(
            f"{qname}: qonnx executor {time.time() - t:.1f} s; vs numpy: max |diff| {diff:.2e}, "
            f"top-1 agreement {agree:.4f}"
        )
        save_npz(OUT / f"digits_{qname}_ref.npz", **ref)
        rows.append((path, acc_float, accuracy(ref["logits"], yte), fmt_ops(m)))

    # --- e. MultiThreshold / Trunc ------------------------------------------------------------
    m = infer_shapes(build_qonnx_misc(), qonnx=True)
    path = save_model(m, "digits_qonnx_misc.onnx")
    ref = run_qonnx(m, xte)
    save_npz(OUT / "digits_qonnx_misc_ref.npz", **ref)
    for k, v in ref.items():
        u = np.unique(v)
        print(f"misc output {k}: {len(u)} distinct values in [{u[0]}, {u[-1]}]")
    # how often float64-then-round-once would disagree with qonnx on y_mt_scaled (see above)
    sc, bi = float(np.float32(0.3)), float(np.float32(-1.7))
    n = np.rint((ref["y_mt_scaled"].astype(np.float64) - bi) / sc)
    f64 = (n * sc + bi).astype(np.float32)
    print(
        f"y_mt_scaled: {int((f64 != ref['y_mt_scaled']).sum())} of {n.size} values differ "
        "from computing in float64 and rounding once"
    )
    rows.append((path, None, None, fmt_ops(m)))

    # --- f. benchmark model ----------------------------------------------------------------
    bench, macs = build_bench()
    bench = infer_shapes(bench)
    rs = np.random.RandomState(13)
    bcal = rs.rand(16, 3, 32, 32).astype(np.float32)
    path, qm = ort_quantize(
        bench, "bench_resnet_qop.onnx", bcal, QuantFormat.QOperator, QuantType.QUInt8, QuantType.QInt8, True
    )
    bx = rs.rand(1, 3, 32, 32).astype(np.float32)
    bad, total, worst = check_first_conv_exact(qm, bx)
    print(
        f"bench_resnet_qop.onnx: first convolution, onnxruntime vs exact integer math: "
        f"{bad} of {total} differ (max {worst})"
    )
    save_npz(OUT / "bench_input.npz", x=bx, **run_ort(path, bx))
    print(f"bench_resnet_qop: {macs} MACs ({macs / 1e6:.2f} M)")
    rows.append((path, None, None, fmt_ops(qm)))

    # --- summary ------------------------------------------------------------------------------
    print()
    print(f"{'model':<26} {'bytes':>8} {'float':>7} {'quant':>7}  ops by domain")
    for path, af, aq, ops in rows:
        f = f"{af:.4f}" if af is not None else "-"
        qq = f"{aq:.4f}" if aq is not None else "-"
        print(f"{path.name:<26} {path.stat().st_size:>8} {f:>7} {qq:>7}  {ops}")
    print()
    for p in sorted(OUT.glob("*.np[z]")) + sorted(OUT.glob("*.onnx")):
        print(f"{p.name:<30} {p.stat().st_size:>8}  sha256 {sha256(p)[:16]}")
    print(f"\ntotal time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
