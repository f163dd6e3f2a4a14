//! Real-model fixtures (`tests/models/`, made by `make_digits.py`): a residual CNN trained on
//! scikit-learn's digits, as float, QDQ, QOperator and QONNX models, with reference outputs on
//! 300 held-out images from onnxruntime or the qonnx executor. Integer formats must match bit
//! for bit; float and fake-quant formats within a tolerance and with identical top-1.

// Measurements are printed for the record (run with --nocapture to see them).
#![allow(clippy::print_stdout)]

mod common;

use qweave_frontend::files;
use qweave_frontend::host::{HostData, HostTensor};
use qweave_ir::{Data, Tensor, TensorType};
use std::collections::HashMap;
use std::path::Path;

fn npz(name: &str) -> HashMap<String, HostTensor> {
    let path = common::root().join("tests/models").join(name);
    files::read(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|n| (n.name.unwrap_or_default(), n.tensor))
        .collect()
}

/// Runs `model` on every held-out image; returns each output's values, image after image.
fn run(model: &str) -> (qweave_ir::Graph, Vec<Vec<f32>>) {
    run_after(model, "")
}

/// [`run`] after the pipeline `passes`.
fn run_after(model: &str, passes: &str) -> (qweave_ir::Graph, Vec<Vec<f32>>) {
    let mut graph = qweave_frontend::import_file(&common::root().join("tests/models").join(model))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let options = qweave_passes::PipelineOptions { verify_each: true };
    qweave_passes::Pipeline::parse(passes)
        .and_then(|p| p.run(&mut graph, options, |_, _| {}))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let x = &npz("digits_test.npz")["x"];
    let HostData::F32(pixels) = &x.data else {
        panic!("x is float32")
    };
    let per = 64;
    let mut outs = vec![Vec::new(); graph.outputs.len()];
    for image in pixels.chunks_exact(per) {
        let t = Tensor {
            ty: TensorType::new(vec![1, 1, 8, 8], qweave_ir::ElemType::F32),
            data: Data::F32(image.into()),
        };
        let got = qweave_interp::run(&graph, &[t]).unwrap_or_else(|e| panic!("{model}: {e}"));
        for (k, o) in got.iter().enumerate() {
            match &o.data {
                Data::F32(v) => outs[k].extend_from_slice(v),
                Data::Int(_) => panic!("{model}: output {k} is not float"),
            }
        }
    }
    (graph, outs)
}

fn output_name(g: &qweave_ir::Graph, k: usize) -> String {
    g.values[g.outputs[k]].name.clone().unwrap_or_default()
}

fn top1(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks_exact(10)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
        })
        .collect()
}

/// Bit-exact comparison, naming the first differing element.
fn assert_bit_exact(model: &str, reference: &str) {
    assert_bit_exact_after(model, "", reference);
}

/// [`assert_bit_exact`] after the pipeline `passes`.
fn assert_bit_exact_after(model: &str, passes: &str, reference: &str) {
    let (g, outs) = run_after(model, passes);
    let refs = npz(reference);
    for (k, got) in outs.iter().enumerate() {
        let name = output_name(&g, k);
        let want = refs[&name].as_f32().expect("float references");
        assert_eq!(got.len(), want.len(), "{model}: output {name} length");
        if let Some(i) = got
            .iter()
            .zip(want)
            .position(|(a, b)| a.to_bits() != b.to_bits())
        {
            let image = i / (want.len() / 300);
            panic!(
                "{model}: output {name} element {i} (image {image}) is {}, reference {}",
                got[i], want[i]
            );
        }
    }
}

#[test]
fn qoperator_model_is_bit_exact_with_onnxruntime() {
    assert_bit_exact("digits_qop.onnx", "digits_qop_ref.npz");
}

/// Lowered to exact integer ops (multiplier-and-shift requantization, integer residual add,
/// lookup tables), the QOperator model still gives onnxruntime's logits bit for bit.
#[test]
fn qoperator_model_lowered_to_the_q_level_is_bit_exact_with_onnxruntime() {
    assert_bit_exact_after("digits_qop.onnx", "lower", "digits_qop_ref.npz");
    let (g, _) = run_after("digits_qop.onnx", "lower");
    // Only the boundary stays at the onnx level: quantize the input, dequantize the logits.
    assert!(
        onnx_ops_left(&g).is_empty(),
        "not lowered: {:?}",
        onnx_ops_left(&g)
    );
}

/// The names of the ops left at the onnx level besides the boundary quantize/dequantize.
fn onnx_ops_left(g: &qweave_ir::Graph) -> Vec<&'static str> {
    qweave_passes::unlowered_ops(g)
        .into_iter()
        .map(|op| g.ops[op].kind.name())
        .collect()
}

/// Lowered to exact integer ops, the QDQ model keeps onnxruntime's top-1 class on every image.
/// Its logits are not bit-exact: the QDQ semantics computes each layer in `f32` on dequantized
/// values and rounds at every step, the q level rounds the exact integer result once; the
/// one-step differences this makes early on can grow by a few steps at the logits.
#[test]
fn qdq_model_lowered_to_the_q_level_keeps_every_top1_class() {
    let (g, lowered) = run_after("digits_qdq.onnx", "lower");
    assert!(
        onnx_ops_left(&g).is_empty(),
        "not lowered: {:?}",
        onnx_ops_left(&g)
    );
    let (_, source) = run("digits_qdq.onnx");
    let step = 0.165_871_81; // the logits' scale
    let differing = lowered[0]
        .iter()
        .zip(&source[0])
        .filter(|(a, b)| a != b)
        .count();
    let worst = lowered[0]
        .iter()
        .zip(&source[0])
        .map(|(a, b)| ((a - b) / step).abs().round() as u32)
        .max()
        .unwrap_or(0);
    println!("QDQ lowered: {differing} of 3000 logits differ, by at most {worst} steps");
    assert_eq!(top1(&lowered[0]), top1(&source[0]));
    assert!(worst <= 4, "{worst} steps");
}

#[test]
fn qonnx_thresholds_and_trunc_are_bit_exact_with_the_qonnx_executor() {
    assert_bit_exact("digits_qonnx_misc.onnx", "digits_qonnx_misc_ref.npz");
}

/// Within `atol`, and the same top-1 class on every image.
fn assert_close(model: &str, reference: &str, atol: f32) -> f32 {
    let (g, outs) = run(model);
    let want = npz(reference)[&output_name(&g, 0)]
        .as_f32()
        .expect("float references")
        .to_vec();
    let worst = outs[0]
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    println!("{model}: largest difference {worst}");
    assert!(
        worst <= atol,
        "{model}: largest difference {worst} exceeds {atol}"
    );
    let (ours, theirs) = (top1(&outs[0]), top1(&want));
    let differ: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != theirs[i]).collect();
    assert!(
        differ.is_empty(),
        "{model}: top-1 differs on images {differ:?}"
    );
    worst
}

#[test]
fn float_model_matches_onnxruntime() {
    assert_close("digits_float.onnx", "digits_float_ref.npz", 1e-4);
}

#[test]
fn qonnx_models_match_the_qonnx_executor() {
    // The qonnx executor computes float convolutions with onnxruntime, in another summation
    // order; a difference could round a value across a later Quant's step, which would show
    // as a difference of a whole step. None does on these images (largest seen: 4e-6).
    for model in ["digits_w4a4", "digits_w2a2", "digits_w1a1"] {
        assert_close(&format!("{model}.onnx"), &format!("{model}_ref.npz"), 1e-4);
    }
}

/// QDQ's semantics are float ops between exact quantize/dequantize pairs. onnxruntime runs
/// some of those groups as fused integer kernels (which ones depends on the CPU), so a value
/// near a rounding tie may land one quantization step away: allow one step of the logits'
/// quantization, require identical top-1, and check that almost every value is exact.
#[test]
fn qdq_model_matches_onnxruntime_within_one_step() {
    let (g, outs) = run("digits_qdq.onnx");
    let last = g.def_op(g.outputs[0]).expect("the logits are computed");
    let step = g
        .ty(g.ops[last].operands[0])
        .elem
        .quant()
        .expect("dequantized logits")
        .scale(0);
    assert_close("digits_qdq.onnx", "digits_qdq_ref.npz", step * 1.0001);
    let want = npz("digits_qdq_ref.npz")["logits"]
        .as_f32()
        .expect("float")
        .to_vec();
    let exact = outs[0]
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    println!(
        "digits_qdq.onnx: {exact} of {} logits bit-exact",
        want.len()
    );
    assert!(
        exact * 100 >= want.len() * 99,
        "only {exact} of {} logits are exact",
        want.len()
    );
}

#[test]
fn fixtures_are_present() {
    for f in [
        "digits_float.onnx",
        "digits_qdq.onnx",
        "digits_qop.onnx",
        "digits_test.npz",
    ] {
        assert!(
            Path::new(&common::root().join("tests/models").join(f)).is_file(),
            "{f}"
        );
    }
}
