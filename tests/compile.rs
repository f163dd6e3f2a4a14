//! Every bundled fixture that lowers to the q level compiles for the accelerator and
//! simulates bit-exactly against the interpreter, layer by layer; one that keeps float ops
//! is refused naming its first float layer.

mod common;

use qweave_backends::{execute, program};
use qweave_frontend::files;
use qweave_frontend::host::HostData;
use qweave_ir::{Data, ElemType, Graph, Tensor, TensorType};

fn lowered(model: &str) -> Graph {
    let mut g = qweave_frontend::import_file(&common::root().join("tests/models").join(model))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let options = qweave_passes::PipelineOptions { verify_each: false };
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| p.run(&mut g, options, |_, _| {}))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    g
}

fn images(n: usize) -> Vec<Tensor> {
    let file = files::read(&common::root().join("tests/models/digits_test.npz")).unwrap();
    let x = file
        .iter()
        .find(|t| t.name.as_deref() == Some("x"))
        .unwrap();
    let HostData::F32(px) = &x.tensor.data else {
        panic!("float images")
    };
    px.chunks_exact(64)
        .take(n)
        .map(|im| Tensor {
            ty: TensorType::new(vec![1, 1, 8, 8], ElemType::F32),
            data: Data::F32(im.into()),
        })
        .collect()
}

#[test]
fn digits_fixtures_simulate_bit_exactly_layer_by_layer() {
    let hw = qweave_hw::Target::Sim.preset();
    for model in [
        "digits_qdq.onnx",
        "digits_qop.onnx",
        "digits_w4a4.onnx",
        "digits_w2a2.onnx",
        "digits_w1a1.onnx",
    ] {
        let g = lowered(model);
        let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(c.layers.len() >= 10, "{model}: {} layers", c.layers.len());
        for x in images(4) {
            let inputs = [x];
            let s =
                execute::simulate(&c, &g, &hw, &inputs).unwrap_or_else(|e| panic!("{model}: {e}"));
            execute::check(&c, &g, &inputs, &s.run.dram).unwrap_or_else(|e| panic!("{model}: {e}"));
            let want = qweave_interp::run(&g, &inputs).unwrap();
            assert_eq!(s.outputs, want, "{model}: the dequantized logits");
            assert!(s.run.macs > 0 && s.run.cycles > 0);
        }
    }
}

#[test]
fn a_fixture_with_float_ops_left_is_refused_naming_the_layer() {
    let g = lowered("digits_qonnx_misc.onnx");
    let e = program::compile(&g, &qweave_hw::Target::Sim.preset()).unwrap_err();
    assert_eq!(e.layer, "conv_a");
    assert!(e.message.contains("not an integer op"), "{e}");
}
