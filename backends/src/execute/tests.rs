//! Hand-written q-level graphs compiled, simulated and checked against the interpreter.

use super::*;
use crate::program::compile;
use qweave_hw::{HwConfig, Target};

fn graph(src: &str) -> Graph {
    let g = qweave_ir::parse(src, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .graph;
    qweave_ir::verify(&g).unwrap_or_else(|e| panic!("{e:?}"));
    g
}

/// Deterministic values over a storage range.
fn ints(n: usize, lo: i64, hi: i64, seed: u64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + ((s >> 33) as i64).rem_euclid(hi - lo + 1)
        })
        .collect()
}

fn input(g: &Graph, lo: i64, hi: i64) -> Tensor {
    let ty = g.ty(g.inputs[0]).clone();
    let n = ty.numel();
    Tensor {
        ty,
        data: Data::Int(ints(n, lo, hi, 7).into()),
    }
}

fn run_checked(g: &Graph, target: Target, x: &Tensor) -> Simulated {
    let hw = target.preset();
    let c = compile(g, &hw).unwrap_or_else(|e| panic!("{e}"));
    let s = simulate(&c, g, &hw, std::slice::from_ref(x)).unwrap_or_else(|e| panic!("{e}"));
    check(&c, g, std::slice::from_ref(x), &s.run.dram).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.outputs,
        qweave_interp::run(g, std::slice::from_ref(x)).unwrap()
    );
    s
}

/// Depthwise and grouped convolutions with strides, dilation, uneven padding and an
/// asymmetric input zero point, requantized per channel, then max-pooled with padding.
const DEPTHWISE: &str = r#"
!x = quant<u4, scale = 0.5, zp = 3>
!w = quant<i3, axis = 0, scale = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]>
!g = quant<i4, axis = 0, scale = [0.5, 0.5, 0.5]>
!y = quant<i5, axis = 1, scale = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], zp = [0, 1, -1, 2, 0, 3]>
graph @dw(%x: tensor<1x6x11x9x!x>) -> (tensor<1x6x3x2x!y>, tensor<1x3x6x5xi16>) {
  %w = const dense<[1, -2, 3, -4, 0, 1, 2, 3, -1, 0, 1, 2, 3, -4, -3, 2, 1, 0, -1, 1, 1, 1, -2, 2, 0, 3, -3, 1, 2, 3, -1, -1, 0, 1, 2, 3, 3, 2, 1, 0, -1, -2, -3, 1, 1, 2, 2, -2, -1, 0, 1, 3, 0, -4]> : tensor<6x1x3x3x!w>
  %b = const dense<[5, -7, 0, 100, -3, 12]> : tensor<6xi32>
  %c = q.conv %x, %w, %b {strides = [2, 2], pads = [2, 1, 1, 0], dilations = [1, 2], group = 6, acc = i16} : tensor<1x6x6x3xi16> loc("dw")
  %r = q.requantize %c {multiplier = [3, 5, 7, 9, 11, 13], shift = [2, 3, 1, 4, 2, 3], rounding = half_away, out = !y} : tensor<1x6x6x3x!y> loc("dw")
  %p = q.max_pool %r {kernel = [3, 2], strides = [2, 1], pads = [1, 0, 0, 0], dilations = [1, 1]} : tensor<1x6x3x2x!y> loc("pool")
  %g = const dense<[1, 2, -3, 4, -5, 6, -7, 0, 1, 2, 3, 4]> : tensor<3x2x2x1x!g>
  %h = q.conv %x, %g {strides = [2, 2], pads = [1, 0, 0, 0], dilations = [1, 1], group = 3, acc = i16} : tensor<1x3x6x5xi16> loc("grouped")
  return %p, %h
}
"#;

#[test]
fn depthwise_grouped_and_pooled_layers_are_exact() {
    let g = graph(DEPTHWISE);
    let x = input(&g, 0, 15);
    let s = run_checked(&g, Target::Sim, &x);
    assert!(s.run.cycles > 0);
}

/// A matrix product whose 16-bit input runs in slices, a residual add with broadcast and a
/// table, on a target with narrow modes.
const WIDE: &str = r#"
!x = quant<i16, scale = 0.001, zp = -5>
!w = quant<i4, axis = 1, scale = [0.5, 0.5, 0.5]>
!o = quant<i8, scale = 0.1>
!t = quant<u4, scale = 1.0>
graph @wide(%x: tensor<1x8x!x>) -> (tensor<1x3x!t>) {
  %w = const dense<[1, -2, 3, -4, 5, -6, 7, -8, 0, 1, 2, 3, -1, -2, -3, 4, 5, 6, 7, -7, 0, 1, 1, 1]> : tensor<8x3x!w>
  %m = q.matmul %x, %w {acc = i24} : tensor<1x3xi24> loc("fc")
  %r = q.requantize %m {multiplier = [1], shift = [12], rounding = half_even, out = !o} : tensor<1x3x!o> loc("fc")
  %k = const dense<[3, -100, 7]> : tensor<3xi8>
  %a = q.add %r, %k {out = i9} : tensor<1x3xi9> loc("add")
  %n = q.requantize %a {multiplier = [1], shift = [1], rounding = floor, out = i8} : tensor<1x3xi8> loc("add")
  %tb = const dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]> : tensor<256x!t>
  %y = q.lut %n, %tb : tensor<1x3x!t> loc("table")
  return %y
}
"#;

#[test]
fn wide_activations_run_in_slices_exactly() {
    let g = graph(WIDE);
    let x = input(&g, -32768, 32767);
    for target in [Target::Sim, Target::Ice40up5k] {
        run_checked(&g, target, &x);
    }
}

#[test]
fn a_corrupted_result_names_the_first_differing_layer_and_element() {
    let g = graph(DEPTHWISE);
    let hw = Target::Sim.preset();
    let c = compile(&g, &hw).unwrap();
    let x = input(&g, 0, 15);
    let mut s = simulate(&c, &g, &hw, std::slice::from_ref(&x)).unwrap();
    // flip the lowest bit of element 7 of the depthwise layer's result (5-bit values)
    let layer = &c.layers[0];
    assert_eq!(layer.name, "dw");
    let bit = layer.region.start + 7 * u64::from(layer.region.bits);
    s.run.dram[(bit / 8) as usize] ^= 1 << (bit % 8);
    let e = check(&c, &g, &[x], &s.run.dram).unwrap_err();
    let CheckError::Mismatch(m) = e else {
        panic!("{e}")
    };
    assert_eq!((m.layer, m.name.as_str(), m.element), (0, "dw", 7));
    assert_eq!(m.index, [0, 0, 2, 1]);
    assert_eq!(m.found ^ m.expected, 1);
}

#[test]
fn layers_that_do_not_fit_are_named_with_the_limit() {
    // a 30-bit intermediate on accumulators of 24 bits
    let src = r#"
graph @g(%x: tensor<1x4xi8>) -> (tensor<1x4xi8>) {
  %a = q.requantize %x {multiplier = [1000000], shift = [0], rounding = half_even, out = i30} : tensor<1x4xi30> loc("widen")
  %b = q.add %a, %a {out = i30} : tensor<1x4xi30> loc("sum")
  %y = q.requantize %b {multiplier = [1], shift = [22], rounding = half_even, out = i8} : tensor<1x4xi8> loc("narrow")
  return %y
}
"#;
    let g = graph(src);
    let narrow = HwConfig {
        acc_bits: 24,
        ..Target::Ice40up5k.preset()
    };
    let e = compile(&g, &narrow).unwrap_err();
    assert_eq!(e.layer, "widen");
    assert!(e.message.contains("24-bit accumulators"), "{e}");
    // the same graph runs where the accumulators are wider
    run_checked(&g, Target::Sim, &input(&g, -128, 127));
    // a float op left in the graph
    let g = graph(
        "graph @f(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {\n  %y = onnx.relu %x : tensor<1x4xf32> loc(\"act\")\n  return %y\n}\n",
    );
    let e = compile(&g, &Target::Sim.preset()).unwrap_err();
    assert_eq!((e.layer.as_str(), e.op), ("act", "onnx.relu"));
    assert!(e.message.contains("lower"), "{e}");
    // a float tensor crossing the boundary with no quantizer
    let g = graph("graph @f(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {\n  return %x\n}\n");
    let e = compile(&g, &Target::Sim.preset()).unwrap_err();
    assert_eq!(
        e.message,
        "graph input or output 0 is float and no `onnx.quantize_linear` or \
         `onnx.dequantize_linear` at the boundary converts it; quantize the model \
         (`qweave quantize`)"
    );
}

/// A layer far larger than the small target's buffers: the tiles split filters, input
/// channels and output rows, and the residual add and pooling after it split planes and rows.
/// (Small enough an image that DRAM and the program fit the board's SPRAM.)
#[test]
fn large_layers_split_into_every_kind_of_tile() {
    let (c, m, h) = (48usize, 40usize, 8usize);
    let p = h / 2;
    let list = |n: usize, f: &dyn Fn(usize) -> i64| {
        (0..n)
            .map(|i| f(i).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let weights = list(m * c * 9, &|i| (i * 7 % 15) as i64 - 7);
    let bias = list(m, &|i| (i as i64 - 20) * 50);
    let mults = list(m, &|i| 3 + i as i64);
    let src = format!(
        r#"
!x = quant<u8, scale = 0.1, zp = 7>
!w = quant<i4, scale = 0.1>
!y = quant<i8, scale = 0.1, zp = -3>
graph @big(%x: tensor<1x{c}x{h}x{h}x!x>) -> (tensor<1x{m}x{p}x{p}x!y>) {{
  %w = const dense<[{weights}]> : tensor<{m}x{c}x3x3x!w>
  %b = const dense<[{bias}]> : tensor<{m}xi32>
  %a = q.conv %x, %w, %b {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], acc = i24}} : tensor<1x{m}x{h}x{h}xi24> loc("conv")
  %r = q.requantize %a {{multiplier = [{mults}], shift = [12], rounding = half_up, out = !y}} : tensor<1x{m}x{h}x{h}x!y> loc("conv")
  %s = q.add %r, %r {{out = i9}} : tensor<1x{m}x{h}x{h}xi9> loc("double")
  %q = q.requantize %s {{multiplier = [1], shift = [1], rounding = floor, out = !y}} : tensor<1x{m}x{h}x{h}x!y> loc("double")
  %p = q.max_pool %q {{kernel = [3, 3], strides = [2, 2], pads = [1, 1, 0, 0], dilations = [1, 1]}} : tensor<1x{m}x{p}x{p}x!y> loc("pool")
  return %p
}}
"#
    );
    let g = graph(&src);
    let x = input(&g, 0, 255);
    let hw = Target::Ice40up5k.preset();
    let c = compile(&g, &hw).unwrap_or_else(|e| panic!("{e}"));
    let conv = &c.layers[0];
    assert!(conv.tiles > 4, "{} tiles", conv.tiles);
    let gemms = c
        .program
        .iter()
        .filter(|i| matches!(i.op, qweave_hw::isa::Op::Gemm(g) if g.cin < 48 && g.m < 40))
        .count();
    assert!(gemms > 0, "input channels and filters are both split");
    assert!(c.layers[1].tiles > 1 && c.layers[2].tiles > 1);
    run_checked(&g, Target::Ice40up5k, &x);
}

/// Compiling `x + x` on a 4 x `side` x `side` image for the `ice40up5k` preset: why it is
/// refused (it compiles for `sim`).
fn refused_on_the_ice40(side: usize) -> String {
    let src = format!(
        r#"
!x = quant<u8, scale = 0.1, zp = 7>
graph @wide(%x: tensor<1x4x{side}x{side}x!x>) -> (tensor<1x4x{side}x{side}xi9>) {{
  %s = q.add %x, %x {{out = i9}} : tensor<1x4x{side}x{side}xi9> loc("double")
  return %s
}}
"#
    );
    let g = graph(&src);
    assert!(compile(&g, &Target::Sim.preset()).is_ok());
    compile(&g, &Target::Ice40up5k.preset())
        .unwrap_err()
        .to_string()
}

/// The serial datapath addresses 128 KiB of DRAM (the UP5K's SPRAM): a model whose tensors
/// need more does not compile for it, and does for the others.
#[test]
fn a_model_beyond_the_serial_datapaths_dram_is_refused() {
    let e = refused_on_the_ice40(128);
    assert!(
        e.contains("bytes of DRAM, but the serial datapath addresses 131072 (the UP5K's SPRAM)"),
        "{e}"
    );
}

/// The board shell keeps the program above DRAM in the same 128 KiB: a model whose DRAM fits
/// but not with its program beside it does not compile for the serial datapath either.
#[test]
fn a_program_that_does_not_fit_beside_dram_on_the_board_is_refused() {
    let e = refused_on_the_ice40(100);
    assert!(
        e.contains("need") && e.contains("bytes of the board's 131072-byte SPRAM"),
        "{e}"
    );
    assert!(e.contains("instructions of 64 bytes)"), "{e}");
}
