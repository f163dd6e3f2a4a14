//! Differential tests on random small quantized networks: weights and activations of 1 to 8
//! bits (bipolar too), kernels, strides, dilations, asymmetric padding, groups and depthwise,
//! zero points, per-channel requantization in every rounding mode, clamps, tables,
//! thresholds, max and sum pooling, residual adds, concatenations and matrix products. Each
//! network is written as q-level text, verified, compiled for several targets, simulated and
//! checked layer by layer against the interpreter. A network a target cannot hold must be
//! refused with an error, never a panic or a wrong result.

use qweave_backends::mapping;
use qweave_backends::{execute, program};
use qweave_hw::Target;
use qweave_ir::{Data, Graph, Tensor};
use std::fmt::Write;
use std::io::Write as _;

/// A small deterministic generator (PCG-style LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() as i64).rem_euclid(hi - lo + 1)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.int(0, v.len() as i64 - 1) as usize]
    }
    fn chance(&mut self, percent: i64) -> bool {
        self.int(0, 99) < percent
    }
}

/// A tensor of the network so far: its name, shape `[1, C, H, W]` and storage.
#[derive(Clone)]
struct T {
    name: String,
    shape: [u64; 4],
    ty: String,
    lo: i64,
    hi: i64,
    zp: i64,
}

struct Net {
    text: String,
    types: String,
    ntypes: usize,
    nvals: usize,
    rng: Rng,
    /// The bipolar types.
    bipolar: Vec<String>,
}

const ROUNDING: [&str; 9] = [
    "half_even",
    "half_away",
    "half_toward_zero",
    "half_up",
    "half_down",
    "floor",
    "ceil",
    "away",
    "toward_zero",
];

impl Net {
    fn val(&mut self) -> String {
        self.nvals += 1;
        format!("%v{}", self.nvals)
    }

    /// A new quantized (or plain, or bipolar) storage of `bits`: its text, range and zero point.
    fn storage(&mut self, bits: u8, bipolar_ok: bool) -> (String, i64, i64, i64) {
        if bits == 1 && bipolar_ok && self.rng.chance(50) {
            self.ntypes += 1;
            let name = format!("!t{}", self.ntypes);
            let _ = writeln!(self.types, "{name} = quant<bipolar, scale = 0.5>");
            self.bipolar.push(name.clone());
            return (name, -1, 1, 0);
        }
        let signed = bits > 1 && self.rng.chance(50);
        let (lo, hi) = if signed {
            (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
        } else {
            (0, (1i64 << bits) - 1)
        };
        let st = format!("{}{bits}", if signed { "i" } else { "u" });
        if self.rng.chance(30) {
            return (st, lo, hi, 0);
        }
        let zp = self.rng.int(lo, hi);
        self.ntypes += 1;
        let name = format!("!t{}", self.ntypes);
        let _ = writeln!(self.types, "{name} = quant<{st}, scale = 0.5, zp = {zp}>");
        (name, lo, hi, zp)
    }

    fn push(&mut self, line: &str) {
        self.text.push_str("  ");
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Requantizes an accumulator `acc` (values within `±bound`) over `c` channels into a
    /// random narrow type.
    fn requantize(&mut self, acc: &str, shape: [u64; 4], bound: i64, rank2: bool) -> T {
        let bits = self.rng.int(1, 8) as u8;
        let (ty, lo, hi, zp) = self.storage(bits, true);
        let c = shape[1];
        let per_channel = self.rng.chance(50);
        let n = if per_channel { c } else { 1 };
        let range = (hi - lo).max(1);
        let mut mults = Vec::new();
        let mut shifts = Vec::new();
        for _ in 0..n {
            let m = self.rng.int(1, 1 << 20);
            // aim the largest sum near the top of the range, give or take a factor of 4
            let want = (bound.max(1) as f64 * m as f64 / range as f64)
                .log2()
                .ceil() as i64;
            let s = (want + self.rng.int(-2, 2)).clamp(0, 62);
            mults.push(m.to_string());
            shifts.push(s.to_string());
        }
        let rounding = self.rng.pick(&ROUNDING);
        let v = self.val();
        let shape_t = if rank2 {
            format!("1x{c}")
        } else {
            format!("1x{c}x{}x{}", shape[2], shape[3])
        };
        self.push(&format!(
            "{v} = q.requantize {acc} {{multiplier = [{}], shift = [{}], rounding = {rounding}, out = {ty}}} : tensor<{shape_t}x{ty}> loc(\"{}\")",
            mults.join(", "),
            shifts.join(", "),
            &v[1..]
        ));
        T {
            name: v,
            shape,
            ty,
            lo,
            hi,
            zp,
        }
    }

    fn shape_text(s: [u64; 4]) -> String {
        format!("1x{}x{}x{}", s[1], s[2], s[3])
    }

    /// A convolution of `x` with random geometry, or `None` when the draw does not fit.
    fn conv(&mut self, x: &T) -> Option<(String, [u64; 4], i64)> {
        let [_, c, h, w] = x.shape;
        let groups = if c > 1 && self.rng.chance(40) {
            let divisors: Vec<u64> = (2..=c).filter(|g| c % g == 0).collect();
            self.rng.pick(&divisors)
        } else {
            1
        };
        let same = self.rng.chance(50);
        let (m, k, s, d, pads) = if same {
            // a shape-preserving layer, so that residual adds find partners
            let k = self.rng.pick(&[1u64, 3, 5]);
            let p = (k - 1) / 2;
            (c, [k, k], [1, 1], [1, 1], vec![p; 4])
        } else {
            let m = groups * self.rng.int(1, 3) as u64;
            let k = [
                self.rng.pick(&[1u64, 2, 3, 5]),
                self.rng.pick(&[1u64, 2, 3]),
            ];
            let s = [self.rng.int(1, 3) as u64, self.rng.int(1, 2) as u64];
            let d = [self.rng.int(1, 2) as u64, self.rng.int(1, 2) as u64];
            let pads: Vec<u64> = (0..4).map(|_| self.rng.int(0, 2) as u64).collect();
            (m, k, s, d, pads)
        };
        let out = |n: u64, k: u64, s: u64, d: u64, a: u64, b: u64| {
            let span = (n + a + b) as i64 - (d * (k - 1)) as i64 - 1;
            (span >= 0).then(|| span as u64 / s + 1)
        };
        let oh = out(h, k[0], s[0], d[0], pads[0], pads[2])?;
        let ow = out(w, k[1], s[1], d[1], pads[1], pads[3])?;
        let wbits = self.rng.int(1, 8) as u8;
        let bipolar = wbits == 1 && self.rng.chance(60);
        let (wlo, whi) = if bipolar {
            (-1, 1)
        } else if wbits == 1 {
            (0, 1)
        } else {
            (-(1i64 << (wbits - 1)), (1i64 << (wbits - 1)) - 1)
        };
        let wst = if bipolar {
            "bipolar".to_string()
        } else if wbits == 1 {
            "u1".to_string()
        } else {
            format!("i{wbits}")
        };
        let cpg = c / groups;
        let n = (m * cpg * k[0] * k[1]) as usize;
        let weights: Vec<i64> = (0..n)
            .map(|_| {
                let v = self.rng.int(wlo, whi);
                if bipolar && v == 0 { 1 } else { v }
            })
            .collect();
        let xmax = (x.hi - x.zp).abs().max((x.lo - x.zp).abs());
        let per_filter = n / m as usize;
        let wsum = weights
            .chunks(per_filter)
            .map(|f| f.iter().map(|v| v.abs()).sum::<i64>())
            .max()
            .unwrap_or(0);
        let bias_on = self.rng.chance(60);
        let bound = xmax * wsum + if bias_on { 1000 } else { 0 };
        let acc_bits = 66 - (bound.max(1) as u64).leading_zeros() as i64;
        let wv = self.val();
        let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        self.push(&format!(
            "{wv} = const dense<[{}]> : tensor<{m}x{cpg}x{}x{}x{wst}>",
            list(&weights),
            k[0],
            k[1]
        ));
        let mut operands = format!("{}, {wv}", x.name);
        if bias_on {
            let b: Vec<i64> = (0..m).map(|_| self.rng.int(-1000, 1000)).collect();
            let bv = self.val();
            self.push(&format!(
                "{bv} = const dense<[{}]> : tensor<{m}xi32>",
                list(&b)
            ));
            operands = format!("{operands}, {bv}");
        }
        let v = self.val();
        let shape = [1, m, oh, ow];
        self.push(&format!(
            "{v} = q.conv {operands} {{strides = [{}, {}], pads = [{}, {}, {}, {}], dilations = [{}, {}], group = {groups}, acc = i{acc_bits}}} : tensor<{}xi{acc_bits}> loc(\"conv{}\")",
            s[0], s[1], pads[0], pads[1], pads[2], pads[3], d[0], d[1], Self::shape_text(shape), &v[2..]
        ));
        Some((v, shape, bound))
    }

    /// A post-processing step on `x`: a clamp, a table, thresholds or a pooling.
    fn after(&mut self, x: T) -> T {
        let shape_t = Self::shape_text(x.shape);
        match self.rng.int(0, 6) {
            0 if !self.bipolar.contains(&x.ty) => {
                let lo = self.rng.int(x.lo, x.hi);
                let v = self.val();
                self.push(&format!(
                    "{v} = q.clamp {} {{min = {lo}, max = {}}} : tensor<{shape_t}x{}>",
                    x.name, x.hi, x.ty
                ));
                T { name: v, lo, ..x }
            }
            1 if !self.bipolar.contains(&x.ty) => {
                let bits = self.rng.int(1, 8) as u8;
                let (ty, lo, hi, zp) = self.storage(bits, true);
                let entries = x.hi - x.lo + 1;
                let table: Vec<String> = (0..entries)
                    .map(|_| {
                        let v = self.rng.int(lo, hi);
                        if self.bipolar.contains(&ty) && v == 0 {
                            1
                        } else {
                            v
                        }
                        .to_string()
                    })
                    .collect();
                let tv = self.val();
                self.push(&format!(
                    "{tv} = const dense<[{}]> : tensor<{entries}x{ty}>",
                    table.join(", ")
                ));
                let v = self.val();
                self.push(&format!(
                    "{v} = q.lut {}, {tv} : tensor<{shape_t}x{ty}>",
                    x.name
                ));
                T {
                    name: v,
                    shape: x.shape,
                    ty,
                    lo,
                    hi,
                    zp,
                }
            }
            2 => {
                let c = x.shape[1];
                let count = self.rng.int(1, 7);
                let rows = if self.rng.chance(50) { c } else { 1 };
                let mut t = Vec::new();
                for _ in 0..rows {
                    let mut row: Vec<i64> = (0..count)
                        .map(|_| self.rng.int(x.lo - 1, x.hi + 1))
                        .collect();
                    row.sort_unstable();
                    t.extend(row.into_iter().map(|v| v.to_string()));
                }
                let tv = self.val();
                self.push(&format!(
                    "{tv} = const dense<[{}]> : tensor<{rows}x{count}xi16>",
                    t.join(", ")
                ));
                let bits = self.rng.int(1, 4) as u8;
                let (ty, lo, hi, zp) = self.storage(bits, false);
                let bias = self.rng.int(-2, 1);
                let v = self.val();
                self.push(&format!(
                    "{v} = q.multi_threshold {}, {tv} {{axis = 1, bias = {bias}, out = {ty}}} : tensor<{shape_t}x{ty}>",
                    x.name
                ));
                T {
                    name: v,
                    shape: x.shape,
                    ty,
                    lo,
                    hi,
                    zp,
                }
            }
            3 if x.shape[2] >= 2 && x.shape[3] >= 2 => {
                let k = [self.rng.int(1, 3).min(x.shape[2] as i64) as u64, 2];
                let s = [self.rng.int(1, 2) as u64, self.rng.int(1, 2) as u64];
                let p = if k[0] > 1 {
                    self.rng.int(0, 1) as u64
                } else {
                    0
                };
                let oh = (x.shape[2] + 2 * p - k[0]) / s[0] + 1;
                let ow = (x.shape[3] - k[1]) / s[1] + 1;
                let shape = [1, x.shape[1], oh, ow];
                let v = self.val();
                self.push(&format!(
                    "{v} = q.max_pool {} {{kernel = [{}, {}], strides = [{}, {}], pads = [{p}, 0, {p}, 0], dilations = [1, 1]}} : tensor<{}x{}>",
                    x.name, k[0], k[1], s[0], s[1], Self::shape_text(shape), x.ty
                ));
                T {
                    name: v,
                    shape,
                    ..x
                }
            }
            4 if x.shape[2] >= 2 && x.shape[3] >= 2 && !self.bipolar.contains(&x.ty) => {
                let shape = [1, x.shape[1], x.shape[2] / 2, x.shape[3] / 2];
                let bound = 4 * (x.hi - x.zp).abs().max((x.lo - x.zp).abs());
                let bits = 66 - (bound.max(1) as u64).leading_zeros();
                let v = self.val();
                self.push(&format!(
                    "{v} = q.sum_pool {} {{kernel = [2, 2], strides = [2, 2], pads = [0, 0, 0, 0], acc = i{bits}}} : tensor<{}xi{bits}>",
                    x.name, Self::shape_text(shape)
                ));
                self.requantize(&v, shape, bound, false)
            }
            5 if !self.bipolar.contains(&x.ty) => {
                // a per-channel (or single) constant added or multiplied, then requantized
                let c = x.shape[1];
                let n = if self.rng.chance(60) { c } else { 1 };
                let mul = self.rng.chance(40);
                let k: Vec<String> = (0..n)
                    .map(|_| {
                        if mul {
                            self.rng.int(-9, 9)
                        } else {
                            self.rng.int(-300, 300)
                        }
                        .to_string()
                    })
                    .collect();
                let kv = self.val();
                let kshape = if n == 1 {
                    "1".to_string()
                } else {
                    format!("1x{c}x1x1")
                };
                self.push(&format!(
                    "{kv} = const dense<[{}]> : tensor<{kshape}xi16>",
                    k.join(", ")
                ));
                let xmax = (x.hi - x.zp).abs().max((x.lo - x.zp).abs());
                let bound = if mul { xmax * 9 } else { xmax + 300 };
                let bits = 66 - (bound.max(1) as u64).leading_zeros();
                let (op, a, b) = if self.rng.chance(50) {
                    (if mul { "q.mul" } else { "q.add" }, x.name.clone(), kv)
                } else {
                    (if mul { "q.mul" } else { "q.add" }, kv, x.name.clone())
                };
                let v = self.val();
                self.push(&format!(
                    "{v} = {op} {a}, {b} {{out = i{bits}}} : tensor<{shape_t}xi{bits}> loc(\"const{}\")",
                    &v[2..]
                ));
                self.requantize(&v, x.shape, bound, false)
            }
            _ => x,
        }
    }
}

/// A random network and its input's storage range.
fn network(seed: u64) -> (String, i64, i64) {
    let mut net = Net {
        text: String::new(),
        types: String::new(),
        ntypes: 0,
        nvals: 0,
        bipolar: Vec::new(),
        rng: Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD1B54A32D192ED03),
    };
    let c = net.rng.int(1, 6) as u64;
    let (h, w) = (net.rng.int(3, 12) as u64, net.rng.int(3, 12) as u64);
    let abits = net.rng.int(1, 8) as u8;
    let (ty, lo, hi, zp) = net.storage(abits, true);
    let input = T {
        name: "%x".into(),
        shape: [1, c, h, w],
        ty: ty.clone(),
        lo,
        hi,
        zp,
    };
    let mut seen = vec![input.clone()];
    let mut cur = input;
    for _ in 0..net.rng.int(1, 4) {
        let Some((acc, shape, bound)) = net.conv(&cur) else {
            continue;
        };
        let mut y = net.requantize(&acc, shape, bound, false);
        y = net.after(y);
        // a residual add of an earlier tensor of the same shape
        if let Some(prev) = seen
            .iter()
            .rev()
            .find(|t| t.shape == y.shape && t.name != y.name)
            .cloned()
            && !net.bipolar.contains(&prev.ty)
            && !net.bipolar.contains(&y.ty)
            && net.rng.chance(70)
        {
            let v = net.val();
            let bound = (prev.hi - prev.zp).abs().max((prev.lo - prev.zp).abs())
                + (y.hi - y.zp).abs().max((y.lo - y.zp).abs());
            let bits = 66 - (bound.max(1) as u64).leading_zeros();
            net.push(&format!(
                "{v} = q.add {}, {} {{out = i{bits}}} : tensor<{}xi{bits}> loc(\"res{}\")",
                prev.name,
                y.name,
                Net::shape_text(y.shape),
                &v[2..]
            ));
            y = net.requantize(&v, y.shape, bound, false);
        }
        seen.push(y.clone());
        cur = y;
    }
    // a concatenation with an earlier tensor of the same plane size, sometimes
    if let Some(prev) = seen
        .iter()
        .rev()
        .find(|t| t.shape[2..] == cur.shape[2..] && t.name != cur.name)
        .cloned()
        && net.rng.chance(60)
    {
        // brought to the same type first
        let prev = if prev.ty == cur.ty {
            prev
        } else {
            let v = net.val();
            net.push(&format!(
                "{v} = q.requantize {} {{multiplier = [1], shift = [0], rounding = half_even, out = {}}} : tensor<{}x{}>",
                prev.name,
                cur.ty,
                Net::shape_text(prev.shape),
                cur.ty
            ));
            T { name: v, ..prev }
        };
        let shape = [1, prev.shape[1] + cur.shape[1], cur.shape[2], cur.shape[3]];
        let v = net.val();
        net.push(&format!(
            "{v} = concat {}, {} {{axis = 1}} : tensor<{}x{}>",
            prev.name,
            cur.name,
            Net::shape_text(shape),
            cur.ty
        ));
        cur = T {
            name: v,
            shape,
            ..cur
        };
    }
    // a fully connected layer on the flattened tensor, sometimes
    let mut out = Net::shape_text(cur.shape);
    let k = cur.shape[1] * cur.shape[2] * cur.shape[3];
    if k <= 256 && net.rng.chance(50) {
        let flat = net.val();
        net.push(&format!(
            "{flat} = reshape {} {{shape = [1, {k}]}} : tensor<1x{k}x{}>",
            cur.name, cur.ty
        ));
        let n = net.rng.int(1, 12) as u64;
        let wbits = net.rng.int(2, 8);
        let wmax = (1i64 << (wbits - 1)) - 1;
        let w: Vec<String> = (0..k * n)
            .map(|_| net.rng.int(-wmax - 1, wmax).to_string())
            .collect();
        let wv = net.val();
        net.push(&format!(
            "{wv} = const dense<[{}]> : tensor<{k}x{n}xi{wbits}>",
            w.join(", ")
        ));
        let xmax = (cur.hi - cur.zp).abs().max((cur.lo - cur.zp).abs());
        let bound = xmax * (wmax + 1) * k as i64;
        let bits = 66 - (bound.max(1) as u64).leading_zeros();
        let v = net.val();
        net.push(&format!(
            "{v} = q.matmul {flat}, {wv} {{acc = i{bits}}} : tensor<1x{n}xi{bits}> loc(\"fc\")"
        ));
        cur = net.requantize(&v, [1, n, 1, 1], bound, true);
        out = format!("1x{n}");
    }
    let text = format!(
        "{}graph @random(%x: tensor<{}x{ty}>) -> (tensor<{out}x{}>) {{\n{}  return {}\n}}\n",
        net.types,
        Net::shape_text([1, c, h, w]),
        cur.ty,
        net.text,
        cur.name
    );
    (text, lo, hi)
}

fn input(g: &Graph, lo: i64, hi: i64, seed: u64) -> Tensor {
    let ty = g.ty(g.inputs[0]).clone();
    let mut r = Rng(seed);
    let data: Vec<i64> = (0..ty.numel())
        .map(|_| {
            let v = r.int(lo, hi);
            if lo == -1 && hi == 1 && v == 0 { 1 } else { v }
        })
        .collect();
    Tensor {
        ty,
        data: Data::Int(data.into()),
    }
}

#[test]
fn random_quantized_networks_simulate_bit_exactly() {
    let mut compiled = [0usize; 3];
    let (mut remapped, mut faster) = (0, 0);
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    let targets = [Target::Sim, Target::Ice40up5k, Target::Xczu3eg];
    let nets = 120;
    for seed in 0..nets {
        let (text, lo, hi) = network(seed);
        let g = match qweave_ir::parse(&text, None) {
            Ok(p) => p.graph,
            Err(e) => panic!("seed {seed}: {e}\n{text}"),
        };
        if let Err(e) = qweave_ir::verify(&g) {
            panic!("seed {seed}: {e:?}\n{text}");
        }
        for op in [
            "q.conv",
            "group = 2",
            "group = 3",
            "bipolar",
            "q.lut",
            "q.multi_threshold",
            "q.max_pool",
            "q.sum_pool",
            "q.add",
            "concat",
            "q.matmul",
            "q.clamp",
        ] {
            *seen.entry(op).or_default() += usize::from(text.contains(op));
        }
        let x = [input(&g, lo, hi, seed)];
        let want =
            qweave_interp::run(&g, &x).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        for (k, t) in targets.iter().enumerate() {
            let hw = t.preset();
            let c = match program::compile(&g, &hw) {
                Ok(c) => c,
                Err(e) => {
                    // only the narrow target may refuse, and only for a limit it names
                    assert_ne!(*t, Target::Sim, "seed {seed}: {e}\n{text}");
                    assert!(!e.layer.is_empty() && !e.message.is_empty());
                    continue;
                }
            };
            compiled[k] += 1;
            let s = execute::simulate(&c, &g, &hw, &x)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: {e}\n{text}", hw.target));
            execute::check(&c, &g, &x, &s.run.dram)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: {e}\n{text}", hw.target));
            assert_eq!(s.outputs, want, "seed {seed} on {}", hw.target);
            // the e-graph mapping: as exact, never slower by more than the overlap at layer
            // boundaries, and within the target
            let m = mapping::map(&g, &hw, *t, &mapping::Limits::default())
                .unwrap_or_else(|e| panic!("seed {seed} on {}: mapping: {e}\n{text}", hw.target));
            let mc = program::compile_with(&g, &m.hw, &m.bindings)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: mapped: {e}\n{text}", hw.target));
            // the mapped hardware fits wherever the preset does (the iCE40's serial datapath
            // does not yet: docs/hw.md)
            if qweave_hw::estimate(&hw, *t).is_ok() {
                qweave_hw::estimate(&m.hw, *t)
                    .unwrap_or_else(|e| panic!("seed {seed} on {}: mapped: {e}", hw.target));
            }
            let ms = execute::simulate(&mc, &g, &m.hw, &x)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: mapped: {e}\n{text}", hw.target));
            execute::check(&mc, &g, &x, &ms.run.dram)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: mapped: {e}\n{text}", hw.target));
            assert_eq!(ms.outputs, want, "seed {seed} on {}: mapped", hw.target);
            let (d, e) = (s.run.cycles, ms.run.cycles);
            assert!(
                e <= d + d / 20,
                "seed {seed} on {}: {e} cycles mapped, {d} by default",
                hw.target
            );
            remapped += m.layers.iter().filter(|l| l.chosen != l.default).count();
            faster += usize::from(e < d);
        }
    }
    // the mapper changes many layers and speeds many programs up
    assert!(
        remapped > 50 && faster > 50,
        "{remapped} layers remapped, {faster} programs faster"
    );
    // every feature appears in several networks
    for (op, n) in &seen {
        assert!(*n >= 5, "only {n} networks have {op}: {seen:?}");
    }
    // the narrow targets hold most of them
    assert_eq!(compiled[0], nets as usize);
    assert!(
        compiled[1] * 2 > nets as usize,
        "ice40up5k compiled {}",
        compiled[1]
    );
    assert!(
        compiled[2] * 2 > nets as usize,
        "xczu3eg compiled {}",
        compiled[2]
    );
}

/// The same networks on the generated accelerator in Verilator: for the LUT presets (the sim
/// target and the iCE40's) and the ZU3EG's DSP48E2 PEs in an 8x4 array (the preset's 16x16
/// takes minutes to build; `tests/rtl_accel.rs` runs the same one), DRAM after the RTL run
/// equals DRAM after the ISA simulator's, and every layer equals the interpreter's.
#[test]
fn random_networks_run_in_rtl_bit_exactly() {
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/rtl");
    let mut ran = 0;
    let (mut rtl_cycles, mut model_cycles) = (0u64, 0u64);
    let mut errors: Vec<f64> = Vec::new();
    for hw in [
        Target::Sim.preset(),
        Target::Ice40up5k.preset(),
        Target::Xczu3eg.preset().resized(8, 4),
    ] {
        let engine = qweave_backends::rtl::engine::Engine::build(&hw, &cache, false)
            .unwrap_or_else(|e| panic!("{}: {e}", hw.target));
        for seed in 0..20 {
            let (text, lo, hi) = network(seed);
            let g = qweave_ir::parse(&text, None).unwrap().graph;
            let Ok(c) = program::compile(&g, &hw) else {
                continue;
            };
            let x = [input(&g, lo, hi, seed)];
            let isa = execute::simulate(&c, &g, &hw, &x)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: {e}", hw.target));
            let rtl = execute::simulate_rtl(&c, &g, &hw, &engine, &x, None)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: RTL: {e}\n{text}", hw.target));
            execute::check(&c, &g, &x, &rtl.run.dram)
                .unwrap_or_else(|e| panic!("seed {seed} on {}: RTL: {e}\n{text}", hw.target));
            assert!(
                rtl.run.dram == isa.run.dram,
                "seed {seed} on {}: DRAM after the RTL run differs from the ISA simulator's",
                hw.target
            );
            rtl_cycles += rtl.run.cycles;
            model_cycles += isa.run.cycles;
            let e = (rtl.run.cycles as f64 / isa.run.cycles as f64 - 1.0) * 100.0;
            errors.push(e);
            ran += 1;
        }
    }
    assert!(ran >= 45, "only {ran} networks ran in RTL");
    errors.sort_by(f64::total_cmp);
    let _ = writeln!(
        std::io::stderr(),
        "{ran} networks in RTL: {rtl_cycles} cycles, cycle model {model_cycles} ({:+.2} %); \
         per network from {:+.1} % to {:+.1} %, median {:+.1} %",
        (rtl_cycles as f64 / model_cycles as f64 - 1.0) * 100.0,
        errors[0],
        errors[errors.len() - 1],
        errors[errors.len() / 2]
    );
    // over all of them, the hardware's cycles are within 5 % of the cycle model's
    let err = rtl_cycles.abs_diff(model_cycles) as f64 / model_cycles as f64;
    assert!(
        err < 0.05,
        "RTL {rtl_cycles} cycles, cycle model {model_cycles} ({:.1} %)",
        err * 100.0
    );
}
