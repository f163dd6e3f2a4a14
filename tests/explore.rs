//! The precision search on the float digits model: every point it records is scored and
//! mapped, the Pareto front is exactly the non-dominated points, and the chosen one is the
//! fastest within the allowed accuracy drop; `qweave compile --explore` writes it all.

mod common;

use qweave_analyze::explore::{Options, explore};
use qweave_frontend::files;
use qweave_frontend::host::HostData;
use qweave_hw::Target;
use qweave_ir::{Data, ElemType, Tensor, TensorType};

/// The first `n` digits test images, one input list each, and their labels.
fn digits(n: usize) -> (Vec<Vec<Tensor>>, Vec<i64>) {
    let (images, labels) = common::digits(n);
    (images.into_iter().map(|x| vec![x]).collect(), labels)
}

#[test]
fn the_search_keeps_the_front_and_chooses_the_fastest_within_the_drop() {
    let float =
        qweave_frontend::import_file(&common::root().join("tests/models/digits_float.onnx"))
            .unwrap();
    let (items, labels) = digits(40);
    let target = Target::Xczu3eg;
    let hw = target.preset();
    let opts = Options {
        target,
        hw: &hw,
        items: &items,
        labels: Some(&labels),
        max_drop: 0.05,
    };
    let mut heard = 0;
    let e = explore(&float, &opts, |_| heard += 1).unwrap();
    assert_eq!(heard, e.points.len());
    assert!(e.points.len() > 10, "{} points", e.points.len());
    // the search starts at 8 bits everywhere and narrows from there
    assert!(e.points[0].bits.iter().all(|(_, b)| *b == 8));
    assert!(e.points.iter().any(|p| p.bits.iter().any(|(_, b)| *b < 4)));
    let dominates = |q: &qweave_analyze::explore::Point, p: &qweave_analyze::explore::Point| {
        q.accuracy >= p.accuracy
            && q.cycles <= p.cycles
            && q.dsp <= p.dsp
            && (q.accuracy > p.accuracy || q.cycles < p.cycles || q.dsp < p.dsp)
    };
    for p in &e.points {
        let dominated = e.points.iter().any(|q| dominates(q, p));
        assert_eq!(p.pareto, !dominated, "{}", p.rules);
        assert!(p.dsp <= 360, "{}: {} DSP", p.rules, p.dsp);
    }
    let c = &e.points[e.chosen];
    let floor = e.float_accuracy - 0.05;
    assert!(c.accuracy >= floor && c.pareto);
    for p in &e.points {
        assert!(
            p.accuracy < floor || p.cycles >= c.cycles,
            "{} is faster",
            p.rules
        );
    }
    assert!(c.cycles < e.points[0].cycles, "narrower widths save cycles");
    let svg = qweave_analyze::pareto_svg::svg(&e, "digits");
    assert_eq!(svg.matches("<circle").count(), e.points.len() + 1);
}

#[test]
fn explore_on_the_command_line_writes_the_front_and_its_plot() {
    let dir = std::env::temp_dir().join(format!("qweave-explore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // a small data set: the first 30 calibration images
    let file = files::read(&common::root().join("tests/models/digits_calib.npz")).unwrap();
    let x = file
        .iter()
        .find(|t| t.name.as_deref() == Some("x"))
        .unwrap();
    let HostData::F32(px) = &x.tensor.data else {
        panic!("float images")
    };
    let npy = dir.join("x.npy");
    let t = Tensor {
        ty: TensorType::new(vec![30, 1, 8, 8], ElemType::F32),
        data: Data::F32(px[..30 * 64].into()),
    };
    let named = files::Named {
        name: None,
        tensor: qweave_frontend::host::HostTensor::from_ir(&t).unwrap(),
    };
    files::write(&npy, &[named]).unwrap();
    let out = dir.join("out");
    // a QDQ model is searched from its float reference
    let model = common::root().join("tests/models/digits_qdq.onnx");
    let r = common::qweave(&[
        "compile",
        model.to_str().unwrap(),
        "--target",
        "sim",
        "--explore",
        "--data",
        npy.to_str().unwrap(),
        "--max-accuracy-drop",
        "0.1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("explore: chose"), "{}", r.stderr);
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("explore.json")).unwrap()).unwrap();
    let points = j["points"].as_array().unwrap();
    let chosen = &points[j["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["pareto"], true);
    assert!(j["labeled"] == false && j["float_accuracy"] == 1.0);
    assert!(
        std::fs::read_to_string(out.join("explore.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    // the compiled program is the chosen point's: a narrower layer runs in a narrower mode
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let narrow = chosen["bits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b[1].as_u64() < Some(8));
    assert!(
        !narrow || report.contains("| w4a4 |") || report.contains("| w2a2 |"),
        "{report}"
    );
    // a QOperator model has no float reference to search from
    let q = common::root().join("tests/models/digits_qop.onnx");
    let r = common::qweave(&[
        "compile",
        q.to_str().unwrap(),
        "--explore",
        "--data",
        npy.to_str().unwrap(),
        "-o",
        dir.join("q").to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no float counterpart"), "{}", r.stderr);
    assert!(!dir.join("q").exists());
    // --explore needs --data
    let r = common::qweave(&["compile", model.to_str().unwrap(), "--explore", "-o", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
