//! Every pass, registered once with its command-line name and a one-line description, and
//! the aliases that name standard pipelines.

use crate::Pass;

/// A registered pass.
pub struct PassInfo {
    /// The name used on the command line (`-p NAME`), also the name of its file.
    pub name: &'static str,
    /// What the pass does, in one line.
    pub description: &'static str,
    /// Makes an instance.
    pub make: fn() -> Box<dyn Pass>,
}

/// All passes, in the order `--help` lists them.
pub const PASSES: &[PassInfo] = &[
    PassInfo {
        name: "dce",
        description: "remove ops whose results no output depends on",
        make: || Box::new(crate::dce::Dce),
    },
    PassInfo {
        name: "fold-constants",
        description: "replace ops on constant operands by constants, computed by the interpreter",
        make: || Box::new(crate::fold_constants::FoldConstants { quantizers: false }),
    },
    PassInfo {
        name: "fold-bn",
        description: "fold BatchNormalization into the convolution before it",
        make: || Box::new(crate::fold_bn::FoldBn),
    },
    PassInfo {
        name: "fixed-point",
        description: "give float ops between quantized tensors a 16-bit fixed-point result",
        make: || Box::new(crate::fixed_point::FixedPoint),
    },
    PassInfo {
        name: "fold-weight-quant",
        description: "QONNX weight quantizers to integer constants of their width",
        make: || Box::new(crate::fold_weight_quant::FoldWeightQuant),
    },
    PassInfo {
        name: "fuse-bias",
        description: "a matmul plus the addition of a constant bias becomes one gemm",
        make: || Box::new(crate::fuse_bias::FuseBias),
    },
    PassInfo {
        name: "lower-qdq",
        description: "lower QuantizeLinear/DequantizeLinear patterns to exact integer q ops",
        make: || Box::new(crate::lower_qdq::LowerQdq),
    },
    PassInfo {
        name: "lower-qop",
        description: "lower onnxruntime's QOperator ops to exact integer q ops",
        make: || Box::new(crate::lower_qop::LowerQop),
    },
    PassInfo {
        name: "lower-quant",
        description: "QONNX activation quantizers and FINN MultiThreshold to exact integer q ops",
        make: || Box::new(crate::lower_quant::LowerQuant),
    },
    PassInfo {
        name: "narrow-accumulators",
        description: "give each integer sum the narrowest width that provably cannot overflow",
        make: || Box::new(crate::narrow_accumulators::NarrowAccumulators),
    },
];

/// Pipeline aliases: a name and the pipeline it stands for.
pub const ALIASES: &[(&str, &str, &str)] = &[
    (
        "default",
        "fold-constants,dce",
        "the standard cleanup: fold constants, then drop dead ops",
    ),
    ("cleanup", "dce", "only remove dead ops"),
    (
        "lower",
        "fold-constants,fold-weight-quant,fold-bn,fuse-bias,lower-qop,lower-quant,lower-qdq,dce,fixed-point,lower-quant,lower-qdq,fold-constants,dce,narrow-accumulators",
        "lower to exact integer q ops",
    ),
];

/// The registered pass called `name`.
pub fn find(name: &str) -> Option<&'static PassInfo> {
    PASSES.iter().find(|p| p.name == name)
}
