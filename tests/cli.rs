//! The command line end to end: help, pass pipelines, printing, writing with a sidecar,
//! timings, and the errors of bad invocations.

mod common;

use common::qweave;

#[test]
fn help_documents_every_flag_pass_and_alias() {
    let top = qweave(&["--help"]);
    assert_eq!(top.code, 0);
    for needle in ["ir", "Read a model", "run", "reference interpreter"] {
        assert!(
            top.stdout.contains(needle),
            "qweave --help lacks {needle}:\n{}",
            top.stdout
        );
    }
    let run = qweave(&["run", "--help"]);
    assert_eq!(run.code, 0);
    for needle in [
        "--input", "--output", "--passes", "<MODEL>", ".npz", "stacked",
    ] {
        assert!(
            run.stdout.contains(needle),
            "run --help lacks {needle}:\n{}",
            run.stdout
        );
    }
    let ir = qweave(&["ir", "--help"]);
    assert_eq!(ir.code, 0);
    for needle in [
        "--passes",
        "--print-after",
        "--verify-each",
        "--timings",
        "--output",
        "<FILE>",
    ] {
        assert!(
            ir.stdout.contains(needle),
            "ir --help lacks {needle}:\n{}",
            ir.stdout
        );
    }
    for pass in qweave_passes::PASSES {
        assert!(
            ir.stdout.contains(pass.name) && ir.stdout.contains(pass.description),
            "{}",
            pass.name
        );
    }
    for (alias, expansion, _) in qweave_passes::ALIASES {
        assert!(
            ir.stdout.contains(alias) && ir.stdout.contains(expansion),
            "{alias}"
        );
    }
    assert_eq!(qweave(&["--version"]).code, 0);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(qweave(&[]).code, 2);
    assert_eq!(qweave(&["ir"]).code, 2);
    assert_eq!(qweave(&["frobnicate"]).code, 2);
}

#[test]
fn bad_invocations_exit_1_with_one_line() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["ir", "tests/filetests/dce/chains.qir", "-p", "dce,nope"],
            "error: unknown pass 'nope'",
        ),
        (
            &["ir", "no/such/file.qir"],
            "error: cannot read no/such/file.qir",
        ),
        (
            &["ir", "Cargo.toml"],
            "error: Cargo.toml: expected an ONNX model (.onnx) or a qweave program (.qir)",
        ),
        (
            &["ir", "tests/filetests/dce/chains.qir", "-o", "out.txt"],
            "error: out.txt: the output must be a .qir file",
        ),
    ];
    for (args, start) in cases {
        let run = qweave(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.starts_with(start), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
}

#[test]
fn pipeline_prints_result_and_optionally_each_step_and_timings() {
    let run = qweave(&[
        "ir",
        "tests/filetests/dce/chains.qir",
        "-p",
        "default",
        "--print-after",
        "--verify-each",
        "--timings",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("graph @chains("), "{}", run.stdout);
    assert!(!run.stdout.contains("sigmoid"));
    let headers: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("// ----- IR after"))
        .collect();
    assert_eq!(
        headers,
        [
            "// ----- IR after fold-constants -----",
            "// ----- IR after dce -----"
        ]
    );
    for needle in ["pass", "fold-constants", "dce", "6 -> 3", "total"] {
        assert!(
            run.stderr.contains(needle),
            "timings lack {needle}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn output_file_is_complete_with_its_sidecar() {
    let dir = std::env::temp_dir().join(format!("qweave-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny.qir");
    let out_s = out.to_string_lossy().to_string();
    let run = qweave(&["ir", "examples/tiny_cnn.qir", "-p", "default", "-o", &out_s]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        out.with_extension("qwb").exists(),
        "large constants need a sidecar"
    );
    // The written pair reloads on its own and prints as the pipeline's output printed.
    let reread = qweave(&["ir", &out_s]);
    assert_eq!(reread.code, 0, "{}", reread.stderr);
    let direct = qweave(&["ir", "examples/tiny_cnn.qir", "-p", "default"]);
    assert_eq!(reread.stdout, direct.stdout);
    // Without the sidecar the program is incomplete, and says so.
    std::fs::remove_file(out.with_extension("qwb")).unwrap();
    let broken = qweave(&["ir", &out_s]);
    assert_eq!(broken.code, 1);
    assert!(
        broken.stderr.contains("needs the sidecar (.qwb) file"),
        "{}",
        broken.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_sidecar_is_named() {
    let dir = std::env::temp_dir().join(format!("qweave-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        common::root().join("examples/tiny_cnn.qir"),
        dir.join("m.qir"),
    )
    .unwrap();
    let mut side = std::fs::read(common::root().join("examples/tiny_cnn.qwb")).unwrap();
    let last = side.len() - 1;
    side[last] ^= 0x40;
    std::fs::write(dir.join("m.qwb"), side).unwrap();
    let run = qweave(&["ir", &dir.join("m.qir").to_string_lossy()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("m.qwb: blob") && run.stderr.contains("corrupt"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qweave-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &std::path::Path) -> Vec<qweave_frontend::files::Named> {
    qweave_frontend::files::read(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn ir_prints_an_imported_onnx_model() {
    let run = qweave(&["ir", "tests/models/digits_qop.onnx"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in [
        "graph @",
        "onnx.qlinear_conv",
        "onnx.qlinear_add",
        "onnx.qgemm",
        "loc(\"",
    ] {
        assert!(run.stdout.contains(needle), "lacks {needle}");
    }
}

#[test]
fn run_executes_a_data_set_and_stacks_the_outputs() {
    let dir = temp_dir("run");
    let out = dir.join("logits.npz");
    let run = qweave(&[
        "run",
        "tests/models/digits_qop.onnx",
        "-i",
        "tests/models/digits_test.npz",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.starts_with("ran 300 items"), "{}", run.stderr);
    let got = read(&out);
    let want = read(&common::root().join("tests/models/digits_qop_ref.npz"));
    assert_eq!(got[0].name.as_deref(), Some("logits"));
    assert_eq!(
        got[0].tensor, want[0].tensor,
        "qweave run differs from onnxruntime"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_at_the_q_level_lowers_first() {
    let dir = temp_dir("run_q");
    let out = dir.join("logits.npy");
    let run = qweave(&[
        "run",
        "tests/models/digits_qop.onnx",
        "--level",
        "q",
        "-i",
        "tests/models/digits_test.npz",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = read(&out);
    let want = read(&common::root().join("tests/models/digits_qop_ref.npz"));
    assert_eq!(got[0].tensor, want[0].tensor, "the q level differs");
    let bad = qweave(&[
        "run", "m.onnx", "--level", "hw", "-i", "x.npy", "-o", "y.npy",
    ]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("possible values: onnx, q"),
        "{}",
        bad.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_reads_and_writes_every_tensor_format() {
    let dir = temp_dir("formats");
    let x = read(&common::root().join("tests/models/bench_input.npz"))
        .into_iter()
        .find(|n| n.name.as_deref() == Some("x"))
        .unwrap();
    let pb = dir.join("x.pb");
    std::fs::write(
        &pb,
        prost::Message::encode_to_vec(&qweave_frontend::host::to_proto(&x.tensor, "x")),
    )
    .unwrap();
    let npy_out = dir.join("y.npy");
    let run = qweave(&[
        "run",
        "tests/models/bench_resnet_qop.onnx",
        "--input",
        &pb.to_string_lossy(),
        "-o",
        &npy_out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pb_out = dir.join("y.pb");
    let npy_in = dir.join("x.npy");
    qweave_frontend::files::write(&npy_in, &[x]).unwrap();
    let run = qweave(&[
        "run",
        "tests/models/bench_resnet_qop.onnx",
        "-i",
        &npy_in.to_string_lossy(),
        "-o",
        &pb_out.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want = read(&common::root().join("tests/models/bench_input.npz"))
        .into_iter()
        .find(|n| n.name.as_deref() == Some("logits"))
        .unwrap();
    assert_eq!(read(&npy_out)[0].tensor, want.tensor);
    assert_eq!(read(&pb_out)[0].tensor, want.tensor);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_refuses_mismatched_inputs_with_one_line() {
    let dir = temp_dir("bad-input");
    let wrong = dir.join("wrong.npy");
    let t = qweave_frontend::host::HostTensor {
        dtype: qweave_frontend::host::DType::F32,
        dims: vec![3, 8, 8],
        data: qweave_frontend::host::HostData::F32(vec![0.0; 192]),
    };
    qweave_frontend::files::write(
        &wrong,
        &[qweave_frontend::files::Named {
            name: None,
            tensor: t,
        }],
    )
    .unwrap();
    let run = qweave(&[
        "run",
        "tests/models/digits_qop.onnx",
        "-i",
        &wrong.to_string_lossy(),
        "-o",
        "/tmp/never.npy",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        "error: input 'x' has shape [3, 8, 8], but the model expects [1, 1, 8, 8] (or a multiple of its leading dimension)"
    );
    assert!(
        !std::path::Path::new("/tmp/never.npy").exists(),
        "nothing is written on failure"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
