//! `qweave analyze` end to end: the QDQ, QOperator and QONNX fixtures, and a model whose
//! accumulator overflows.

mod common;

use qweave_frontend::files::{self, Named};
use qweave_frontend::host::{DType, HostData, HostTensor};
use std::path::{Path, PathBuf};

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qweave-analyze-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn analyze(model: &str, extra: &[&str], out: &Path) -> serde_json::Value {
    let mut args = vec!["analyze", model, "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = common::qweave(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("<table"), "{html}");
    assert!(!html.contains("http://") || html.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    serde_json::from_str(&json).unwrap()
}

fn layer<'a>(report: &'a serde_json::Value, node: &str) -> &'a serde_json::Value {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["node"] == node)
        .unwrap_or_else(|| panic!("no layer {node}"))
}

fn top1(report: &serde_json::Value, semantics: &str) -> Option<f64> {
    report["semantics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == semantics)
        .and_then(|s| s["top1"].as_f64())
}

#[test]
fn qdq_analysis_names_the_layers_whose_requantization_differs() {
    let out = temp("qdq");
    let r = analyze(
        "tests/models/digits_qdq.onnx",
        &[
            "--data",
            "tests/models/digits_test.npz",
            "--labels",
            "tests/models/digits_test.npz",
        ],
        &out,
    );
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["accuracy_basis"], "labels");
    assert_eq!(r["items"], 300);
    let (f, s, h) = (top1(&r, "float"), top1(&r, "source"), top1(&r, "hw"));
    assert!(f.unwrap() > 0.95 && s.unwrap() > 0.95, "{f:?} {s:?}");
    assert_eq!(s, h, "the integer form keeps every top-1 class");
    // the 2x2 average pool rounds differently on its own; later layers inherit it
    let pool = layer(&r, "avgpool");
    assert!(pool["differ_local"].as_u64().unwrap() > 0, "{pool}");
    let logits = layer(&r, "logits");
    assert_eq!(logits["differ_local"], 0, "{logits}");
    assert!(logits["differ"].as_u64().unwrap() > 0, "{logits}");
    // weights, accumulators and SQNR are reported for the conv layers
    let conv1 = layer(&r, "conv1");
    assert_eq!(
        (conv1["weight_bits"].as_u64(), conv1["act_bits"].as_u64()),
        (Some(8), Some(8))
    );
    assert!(conv1["acc_bits"].as_u64().unwrap() <= 32);
    assert!(conv1["hw"]["sqnr_db"].as_f64().unwrap() > 30.0, "{conv1}");
    assert_eq!(conv1["hw"]["acc_overflow_rate"], 0.0);
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn qoperator_analysis_is_bit_exact_and_needs_a_float_model_for_sqnr() {
    let out = temp("qop");
    let r = analyze(
        "tests/models/digits_qop.onnx",
        &["--data", "tests/models/digits_test.npz"],
        &out,
    );
    for l in r["layers"].as_array().unwrap() {
        assert_eq!(l["differ"], 0, "{l}");
        assert!(l["hw"]["sqnr_db"].is_null());
    }
    assert!(top1(&r, "float").is_none());
    assert_eq!(r["accuracy_basis"], "none");
    assert!(r["notes"].to_string().contains("--float"), "{}", r["notes"]);
    std::fs::remove_dir_all(out).ok();
}

/// The QONNX fixtures lower completely (activation quantizers, the float arithmetic between
/// them at 16-bit fixed point), and their hardware-integer top-1 stays within half a point of
/// the qonnx executor's; the binary model's integer form is exact in every layer.
#[test]
fn qonnx_fixtures_lower_completely_and_keep_their_top1() {
    for (model, exact) in [("w4a4", false), ("w2a2", false), ("w1a1", true)] {
        let out = temp(model);
        let path = format!("tests/models/digits_{model}.onnx");
        let data = "tests/models/digits_test.npz";
        let args = ["--data", data, "--labels", data];
        let mut cmd = vec!["analyze", path.as_str(), "-o", out.to_str().unwrap()];
        cmd.extend_from_slice(&args);
        let run = common::qweave(&cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            !run.stderr.contains("still has"),
            "{model} is not fully lowered: {}",
            run.stderr
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        assert!(
            !r["notes"].to_string().contains("still has"),
            "{}",
            r["notes"]
        );
        let (s, h) = (top1(&r, "source").unwrap(), top1(&r, "hw").unwrap());
        assert!((s - h).abs() <= 0.005, "{model}: source {s}, hw {h}");
        let layers = r["layers"].as_array().unwrap();
        assert!(
            layers.len() >= 7,
            "{model}: every activation quantizer is a row"
        );
        for l in layers {
            assert!(l["act_bits"].as_u64().is_some(), "{l}");
            if exact {
                assert_eq!(l["differ"], 0, "{model}: {l}");
            }
        }
        std::fs::remove_dir_all(out).ok();
    }
}

/// A q-level model whose `i16` accumulator cannot hold four products of 255 and 100.
const OVERFLOW: &str = r#"
!a = quant<u8, scale = 1.0, zp = 0>
!w = quant<i8, scale = 1.0, zp = 0>
!y = quant<u8, scale = 256.0, zp = 0>
graph @overflow(%x: tensor<1x1x2x2xf32>) -> (tensor<1x1x1x1xf32>) {
  %q = onnx.quantize_linear %x {out = !a} : tensor<1x1x2x2x!a> loc("input")
  %w = const dense<[100, 100, 100, 100]> : tensor<1x1x2x2x!w> loc("conv")
  %c = q.conv %q, %w {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], acc = i16} : tensor<1x1x1x1xi16> loc("conv")
  %r = q.requantize %c {multiplier = [1], shift = [8], rounding = half_even, out = !y} : tensor<1x1x1x1x!y> loc("conv")
  %d = onnx.dequantize_linear %r : tensor<1x1x1x1xf32> loc("output")
  return %d
}
"#;

#[test]
fn an_overflowing_accumulator_shows_in_the_report() {
    let dir = temp("overflow");
    let model = dir.join("overflow.qir");
    std::fs::write(&model, OVERFLOW).unwrap();
    // two items: all 255 (the sum 102000 wraps in i16) and all 10 (4000 fits)
    let mut x = vec![255.0f32; 4];
    x.extend([10.0; 4]);
    let data = dir.join("x.npz");
    let t = HostTensor {
        dtype: DType::F32,
        dims: vec![2, 1, 2, 2],
        data: HostData::F32(x),
    };
    files::write(
        &data,
        &[Named {
            name: Some("x".into()),
            tensor: t,
        }],
    )
    .unwrap();
    let r = analyze(
        model.to_str().unwrap(),
        &["--data", data.to_str().unwrap()],
        &dir.join("report"),
    );
    let conv = layer(&r, "conv");
    assert_eq!(conv["acc_bits"], 16);
    assert_eq!(conv["hw"]["acc_overflow_rate"], 0.5, "{conv}");
    assert_eq!(conv["source"]["acc_overflow_rate"], 0.5, "{conv}");
    let html = std::fs::read_to_string(dir.join("report/report.html")).unwrap();
    assert!(html.contains("50.000 %"), "{html}");
    std::fs::remove_dir_all(dir).ok();
}
