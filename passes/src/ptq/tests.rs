//! Tests of post-training quantization on a small graph.

use super::*;
use qweave_ir::{parse, print, verify};

const FLOAT: &str = r#"
graph @g(%x: tensor<1x2x3x3xf32>) -> (tensor<1x2xf32>) {
  %w = const dense<[0.5, -0.25, 1.0, 0.125, -1.0, 0.75, 0.5, -0.5]> : tensor<2x2x1x2xf32>
  %b = const dense<[0.1, -0.2]> : tensor<2xf32>
  %c = onnx.conv %x, %w, %b {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]} : tensor<1x2x3x2xf32> loc("conv")
  %r = onnx.relu %c : tensor<1x2x3x2xf32> loc("relu")
  %p = onnx.global_average_pool %r : tensor<1x2x1x1xf32> loc("pool")
  %f = reshape %p {shape = [1, 2]} : tensor<1x2xf32> loc("flatten")
  %m = const dense<[1.0, -1.0, 0.5, 2.0]> : tensor<2x2xf32>
  %y = onnx.matmul %f, %m : tensor<1x2xf32> loc("fc")
  %k = const dense<[0.0, 1.0]> : tensor<2xf32>
  %z = onnx.add %y, %k : tensor<1x2xf32> loc("fc_bias")
  return %z
}
"#;

fn items() -> Vec<Vec<Tensor>> {
    (0..4)
        .map(|i| {
            let x: Vec<f32> = (0..18)
                .map(|k| ((k * 7 + i * 5) % 11) as f32 / 5.0 - 0.6)
                .collect();
            vec![Tensor::from_f32(vec![1, 2, 3, 3], x).unwrap()]
        })
        .collect()
}

fn quantized(bits: &str, per_channel: bool) -> Quantized {
    let g = parse(FLOAT, None).unwrap().graph;
    let opts = PtqOptions {
        bits: BitRules::parse(bits).unwrap(),
        calibration: Calibration::MinMax,
        per_channel,
        bias_correction: false,
    };
    quantize(&g, &items(), &opts).unwrap()
}

#[test]
fn quantizes_every_activation_and_weight() {
    let q = quantized("default=4,first=8", true);
    verify(&q.graph).unwrap();
    insta::assert_snapshot!(print(&q.graph));
    let names: Vec<&str> = q.activations.iter().map(|a| a.name.as_str()).collect();
    // the conv result only feeds the relu: quantized after it; the reshape shares the pool's
    assert_eq!(names, ["x", "r", "p", "f", "z"]);
    let widths: Vec<u8> = q
        .activations
        .iter()
        .map(|a| a.params.storage.bits())
        .collect();
    // x is read by the first layer (8 bits); the output takes its producer's 4
    assert_eq!(widths, [8, 4, 4, 4, 4]);
    assert_eq!(q.activations[2].params, q.activations[3].params);
    let w: Vec<(&str, u8, usize)> = q
        .weights
        .iter()
        .map(|w| (w.layer.as_str(), w.bits, w.scales))
        .collect();
    assert_eq!(w, [("conv", 8, 2), ("fc", 4, 2)]);
}

#[test]
fn the_result_lowers_to_integers_and_tracks_the_float_model() {
    let g = parse(FLOAT, None).unwrap().graph;
    for bits in ["default=8", "default=2", "default=w1a8"] {
        let mut q = quantized(bits, false).graph;
        let lower = Pipeline::parse("lower").unwrap();
        lower
            .run(&mut q, PipelineOptions { verify_each: true }, |_, _| {})
            .unwrap();
        let float_ops: Vec<&str> = q
            .order
            .iter()
            .map(|&op| q.ops[op].kind.name())
            .filter(|n| n.starts_with("onnx."))
            .collect();
        assert_eq!(
            float_ops,
            ["onnx.quantize_linear", "onnx.dequantize_linear"],
            "{bits}"
        );
        if bits == "default=8" {
            for item in items() {
                let want = qweave_interp::run(&g, &item).unwrap();
                let got = qweave_interp::run(&q, &item).unwrap();
                let (Data::F32(a), Data::F32(b)) = (&want[0].data, &got[0].data) else {
                    panic!("float outputs")
                };
                for (a, b) in a.iter().zip(b.iter()) {
                    assert!((a - b).abs() < 0.05, "{a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn bias_correction_moves_the_weight_error_into_the_bias() {
    let g = parse(FLOAT, None).unwrap().graph;
    let opts = PtqOptions {
        bits: BitRules::parse("default=w2a8").unwrap(),
        calibration: Calibration::MinMax,
        per_channel: false,
        bias_correction: true,
    };
    let q = quantize(&g, &items(), &opts).unwrap().graph;
    let biases: Vec<String> = q
        .values
        .iter()
        .filter_map(|(_, d)| d.name.clone())
        .filter(|n| n.ends_with(".bias"))
        .collect();
    assert_eq!(biases, ["conv.bias", "fc.bias"]);
}

#[test]
fn a_quantized_model_is_refused() {
    let src = r#"
!a = quant<u8, scale = 0.5, zp = 0>
graph @q(%x: tensor<2xf32>) -> (tensor<2xf32>) {
  %q = onnx.quantize_linear %x {out = !a} : tensor<2x!a> loc("q")
  %d = onnx.dequantize_linear %q : tensor<2xf32> loc("dq")
  return %d
}
"#;
    let g = parse(src, None).unwrap().graph;
    let x = vec![vec![Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap()]];
    let opts = PtqOptions {
        bits: BitRules::default(),
        calibration: Calibration::MinMax,
        per_channel: false,
        bias_correction: true,
    };
    let e = quantize(&g, &x, &opts).err().unwrap();
    assert!(e.contains("already quantized") && e.contains("'q'"), "{e}");
}
