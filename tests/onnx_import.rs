//! ONNX import end to end: the unsupported-node report, model-level errors, external data,
//! and fuzz-style robustness on truncated and bit-flipped model files.

// Measurements are printed for the record (run with --nocapture to see them).
#![allow(clippy::print_stdout)]

mod common;

use prost::Message;
use qweave_frontend::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_proto::DataLocation,
    tensor_shape_proto::{Dimension, dimension::Value as Dim},
    type_proto::{Tensor as TensorTy, Value as Ty},
};
use qweave_frontend::{ImportError, ImportOptions, import_bytes};

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(d.map_or(Dim::DimParam("N".into()), Dim::DimValue)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(Ty::TensorType(TensorTy {
                elem_type: Some(1),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op: &str,
    domain: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        name: Some(name.into()),
        input: inputs.iter().map(ToString::to_string).collect(),
        output: outputs.iter().map(ToString::to_string).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn string_attr(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: &[&str],
    opset: i64,
) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: Some("g".into()),
            initializer: inits,
            input: inputs,
            output: outputs.iter().map(|o| value_info(o, &[])).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn import(m: &ModelProto) -> Result<qweave_ir::Graph, ImportError> {
    import_bytes(&m.encode_to_vec(), None, "test", &ImportOptions::default())
}

#[test]
fn every_unsupported_node_is_reported_at_once() {
    let m = model(
        vec![
            node("Relu", "", "ok", &["x"], &["a"], vec![]),
            node("LSTM", "", "rnn", &["a"], &["b"], vec![]),
            node(
                "Resize",
                "",
                "bilinear",
                &["b", "", "s"],
                &["c"],
                vec![string_attr("mode", "linear")],
            ),
            node(
                "Frobnicate",
                "com.example",
                "custom",
                &["c"],
                &["d"],
                vec![],
            ),
            node(
                "FusedConv",
                "com.microsoft",
                "contrib",
                &["d"],
                &["y"],
                vec![],
            ),
        ],
        vec![],
        vec![value_info("x", &[Some(1), Some(4)])],
        &["y"],
        13,
    );
    let start = std::time::Instant::now();
    let Err(ImportError::Unsupported(report)) = import(&m) else {
        panic!("expected the unsupported report")
    };
    let elapsed = start.elapsed();
    let text: Vec<String> = report.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "node 'rnn' (LSTM, ai.onnx opset 13): qweave has no importer for this op",
            "node 'bilinear' (Resize, ai.onnx opset 13): resize mode 'linear' is not supported (only nearest)",
            "node 'custom' (Frobnicate, com.example opset 13): the domain 'com.example' is not one qweave reads",
            "node 'contrib' (FusedConv, com.microsoft opset 13): qweave has no importer for this op",
        ]
    );
    println!("the report took {elapsed:?}");
}

#[test]
fn model_level_problems_are_clean_errors() {
    let relu = || vec![node("Relu", "", "r", &["x"], &["y"], vec![])];
    let input = || vec![value_info("x", &[Some(1), Some(4)])];
    let mut old = model(relu(), vec![], input(), &["y"], 13);
    old.ir_version = Some(2);
    assert!(
        import(&old)
            .unwrap_err()
            .to_string()
            .contains("IR version 2 is outside")
    );
    let ancient = model(relu(), vec![], input(), &["y"], 5);
    assert!(
        import(&ancient)
            .unwrap_err()
            .to_string()
            .contains("opset 5 is outside")
    );
    let symbolic = model(
        relu(),
        vec![],
        vec![value_info("x", &[Some(1), None])],
        &["y"],
        13,
    );
    let e = import(&symbolic).unwrap_err().to_string();
    assert!(
        e.contains("graph input 'x': dimension 1 is the symbol 'N'"),
        "{e}"
    );
    let batch = model(
        relu(),
        vec![],
        vec![value_info("x", &[None, Some(4)])],
        &["y"],
        13,
    );
    assert_eq!(
        import(&batch)
            .unwrap()
            .ty(qweave_ir::Value::from_index(0))
            .shape,
        [1, 4]
    );
    let unproduced = model(relu(), vec![], input(), &["z"], 13);
    assert!(
        import(&unproduced)
            .unwrap_err()
            .to_string()
            .contains("graph output 'z' is never produced")
    );
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let dir = std::env::temp_dir().join(format!("qweave-ext-model-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("w.bin"), 1.0f32.to_le_bytes()).unwrap();
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    let init = TensorProto {
        name: Some("w".into()),
        dims: vec![1],
        data_type: Some(1),
        data_location: Some(DataLocation::External as i32),
        external_data: vec![entry("location", "../w.bin")],
        ..Default::default()
    };
    let m = model(
        vec![node("Add", "", "add", &["x", "w"], &["y"], vec![])],
        vec![init],
        vec![value_info("x", &[Some(1)])],
        &["y"],
        13,
    );
    std::fs::write(dir.join("m/model.onnx"), m.encode_to_vec()).unwrap();
    let e = qweave_frontend::import_file(&dir.join("m/model.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "initializer 'w': external data location \"../w.bin\" lies outside the model's folder"
        ),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// xorshift64*, deterministic.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn truncated_and_bit_flipped_models_fail_cleanly() {
    let mut rng = 0x5eed_u64;
    for name in [
        "digits_float.onnx",
        "digits_qop.onnx",
        "digits_qdq.onnx",
        "digits_w2a2.onnx",
        "digits_qonnx_misc.onnx",
    ] {
        let bytes = std::fs::read(common::root().join("tests/models").join(name)).unwrap();
        let step = (bytes.len() / 400).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let result = std::panic::catch_unwind(|| {
                import_bytes(&bytes[..cut], None, "fuzz", &ImportOptions::default())
            });
            assert!(
                result.is_ok(),
                "{name} truncated at {cut} made the importer panic"
            );
        }
        for _ in 0..400 {
            let mut mutated = bytes.clone();
            for _ in 0..1 + next(&mut rng) % 4 {
                let at = (next(&mut rng) % mutated.len() as u64) as usize;
                mutated[at] ^= 1 << (next(&mut rng) % 8);
            }
            let result = std::panic::catch_unwind(|| {
                import_bytes(&mutated, None, "fuzz", &ImportOptions::default())
            });
            let Ok(imported) = result else {
                panic!("a bit-flipped {name} made the importer panic")
            };
            if let Ok(g) = imported {
                // Whatever imports must be valid IR.
                assert!(
                    qweave_ir::verify(&g).is_ok(),
                    "a bit-flipped {name} imported to invalid IR"
                );
            }
        }
    }
}
