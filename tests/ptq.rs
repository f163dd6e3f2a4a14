//! `qweave quantize` end to end on the float digits fixture: accuracy after post-training
//! quantization at 8 bits and at 4 bits (first and last layer 8), every width lowering to
//! integers, and the errors a user can make.

mod common;

use qweave_frontend::files;
use qweave_frontend::host::HostData;
use std::path::Path;

/// Top-1 accuracy of the `logits` in `outputs` against the held-out labels.
fn accuracy(outputs: &Path) -> f64 {
    let read = |p: &Path| files::read(p).unwrap_or_else(|e| panic!("{e}"));
    let labels = read(&common::root().join("tests/models/digits_test.npz"))
        .into_iter()
        .find(|n| n.name.as_deref() == Some("labels"))
        .expect("labels");
    let HostData::Int(labels) = labels.tensor.data else {
        panic!("labels are integers")
    };
    let logits = read(outputs).into_iter().next().expect("an output").tensor;
    let HostData::F32(logits) = logits.data else {
        panic!("logits are float")
    };
    let right = logits
        .chunks_exact(10)
        .zip(&labels)
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best as i64 == **label
        })
        .count();
    right as f64 / labels.len() as f64
}

/// Quantizes the float fixture with `args`, runs the result in exact integers on the
/// held-out split, and returns the accuracy and what `quantize` printed.
fn quantized_accuracy(dir: &Path, tag: &str, args: &[&str]) -> (f64, String) {
    let qir = dir.join(format!("{tag}.qir"));
    let out = dir.join(format!("{tag}.npz"));
    let mut cmd = vec![
        "quantize",
        "tests/models/digits_float.onnx",
        "--data",
        "tests/models/digits_calib.npz",
        "-o",
        qir.to_str().unwrap(),
    ];
    cmd.extend_from_slice(args);
    let q = common::qweave(&cmd);
    assert_eq!(q.code, 0, "{}", q.stderr);
    let r = common::qweave(&[
        "run",
        qir.to_str().unwrap(),
        "--level",
        "q",
        "-i",
        "tests/models/digits_test.npz",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (accuracy(&out), q.stderr)
}

fn temp(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qweave-ptq-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn ptq_keeps_the_float_accuracy_at_8_bits_and_within_3_points_at_4() {
    let dir = temp("acc");
    let float_out = dir.join("float.npz");
    let f = common::qweave(&[
        "run",
        "tests/models/digits_float.onnx",
        "-i",
        "tests/models/digits_test.npz",
        "-o",
        float_out.to_str().unwrap(),
    ]);
    assert_eq!(f.code, 0, "{}", f.stderr);
    let float = accuracy(&float_out);
    let (a8, log) = quantized_accuracy(&dir, "w8a8", &[]);
    assert!(
        log.contains("lowers to exact integer ops throughout"),
        "{log}"
    );
    let (a4, log) = quantized_accuracy(
        &dir,
        "w4a4",
        &[
            "--bits",
            "default=4,first=8,last=8",
            "--calibration",
            "mse",
            "--per-channel",
        ],
    );
    assert!(
        log.contains("lowers to exact integer ops throughout"),
        "{log}"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("top-1: float {float:.4}, PTQ 8-bit {a8:.4}, PTQ 4-bit (first/last 8) {a4:.4}");
    }
    assert!(float > 0.95, "the float model itself is at {float}");
    assert!(a8 >= float - 0.01, "8 bits: {a8} against float {float}");
    assert!(a4 >= float - 0.03, "4 bits: {a4} against float {float}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_width_from_1_to_8_lowers_to_integers() {
    let dir = temp("widths");
    for bits in 1..=8 {
        let rule = format!("default=w{bits}a{}", 9 - bits);
        let (acc, log) = quantized_accuracy(&dir, &format!("b{bits}"), &["--bits", &rule]);
        assert!(
            log.contains("lowers to exact integer ops throughout"),
            "{rule}: {log}"
        );
        assert!((0.0..=1.0).contains(&acc));
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn quantize_reports_what_it_cannot_do() {
    let out = std::env::temp_dir().join(format!("qweave-ptq-err-{}.qir", std::process::id()));
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "tests/models/digits_qdq.onnx",
                "--data",
                "tests/models/digits_calib.npz",
            ],
            "already quantized",
        ),
        (
            &[
                "tests/models/digits_float.onnx",
                "--data",
                "tests/models/digits_calib.npz",
                "--bits",
                "conv9=4",
            ],
            "conv9",
        ),
        (
            &[
                "tests/models/digits_float.onnx",
                "--data",
                "tests/models/digits_calib.npz",
                "--bits",
                "default=9",
            ],
            "1 to 8",
        ),
        (
            &[
                "tests/models/digits_float.onnx",
                "--data",
                "tests/models/bench_input.npz",
            ],
            "input 'x'",
        ),
    ];
    for (args, message) in cases {
        let mut cmd = vec!["quantize"];
        cmd.extend_from_slice(args);
        cmd.extend_from_slice(&["-o", o]);
        let r = common::qweave(&cmd);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!out.exists(), "{args:?} left {o}");
    }
}
