//! Running a compiled program: DRAM prepared from host tensors (quantized as the manifest
//! says), the ISA simulator or the generated accelerator in Verilator, the outputs read back,
//! and the check of every layer's result against the reference interpreter, naming the first
//! layer and element that differ.

use crate::program::Compiled;
use crate::program::layout::Region;
use qweave_hw::HwConfig;
use qweave_hw::isa::packing;
use qweave_ir::{Data, Graph, Tensor, TensorType};

/// The values of a region (its first `len`).
pub fn read_region(dram: &[u8], r: &Region) -> Result<Vec<i64>, String> {
    (0..r.len)
        .map(|e| {
            packing::read(dram, r.start, e, r.bits, r.fmt)
                .ok_or_else(|| format!("value {e} at byte {} is past DRAM", r.byte()))
        })
        .collect()
}

fn host_op(g: &Graph, op: qweave_ir::Op, input: &Tensor) -> Result<Tensor, String> {
    let d = &g.ops[op];
    let ty = g.ty(d.results[0]).clone();
    let mut out = qweave_interp::eval_op(&d.kind, &[input], std::slice::from_ref(&ty))
        .map_err(|e| format!("{}: {e}", d.kind.name()))?;
    Ok(out.outputs.remove(0))
}

/// DRAM with the constants in place and `inputs` (one per graph input, of the graph's
/// types) quantized and packed into their regions.
pub fn prepare(c: &Compiled, g: &Graph, inputs: &[Tensor]) -> Result<Vec<u8>, String> {
    if inputs.len() != c.inputs.len() {
        return Err(format!(
            "{} inputs given, the program takes {}",
            inputs.len(),
            c.inputs.len()
        ));
    }
    let size = usize::try_from(c.dram.size()).map_err(|_| "DRAM too large for this host")?;
    let mut dram = vec![0u8; size];
    let base = c.dram.constants_base() as usize;
    dram[base..base + c.dram.image.len()].copy_from_slice(&c.dram.image);
    for (io, t) in c.inputs.iter().zip(inputs) {
        if &t.ty != g.ty(io.outer) {
            return Err(format!(
                "input {} is {:?}, the program takes {:?}",
                io.name,
                t.ty,
                g.ty(io.outer)
            ));
        }
        let q = match io.host_op {
            Some(op) => host_op(g, op, t)?,
            None => t.clone(),
        };
        let values = q.data.as_int().ok_or("a quantized input is not integer")?;
        for (e, &v) in values.iter().enumerate() {
            packing::write(
                &mut dram,
                io.region.start,
                e as u64,
                io.region.bits,
                io.region.fmt,
                v,
            )
            .map_err(|m| format!("input {} value {e}: {m}", io.name))?;
        }
    }
    Ok(dram)
}

/// The graph outputs read from `dram` after a run (dequantized where the graph says so).
pub fn outputs(c: &Compiled, g: &Graph, dram: &[u8]) -> Result<Vec<Tensor>, String> {
    c.outputs
        .iter()
        .map(|io| {
            let ty: TensorType = g.ty(io.inner).clone();
            let q = Tensor {
                ty,
                data: Data::Int(read_region(dram, &io.region)?.into()),
            };
            match io.host_op {
                Some(op) => host_op(g, op, &q),
                None => Ok(q),
            }
        })
        .collect()
}

/// The outcome of a simulation.
#[derive(Debug)]
pub struct Simulated {
    /// The simulator's run (cycles, per-layer statistics, final DRAM).
    pub run: qweave_sim::Run,
    /// The graph outputs.
    pub outputs: Vec<Tensor>,
}

/// Runs `c` on the ISA simulator with `inputs`.
pub fn simulate(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    inputs: &[Tensor],
) -> Result<Simulated, String> {
    let dram = prepare(c, g, inputs)?;
    let run = qweave_sim::simulate(hw, &c.program, dram).map_err(|e| e.to_string())?;
    let outputs = outputs(c, g, &run.dram)?;
    Ok(Simulated { run, outputs })
}

/// Runs `c` on the generated accelerator (`engine`, built for `hw`) with `inputs`: DRAM,
/// cycles and per-layer times as the hardware leaves them; MACs and DRAM bytes counted from
/// the program. `vcd` writes the waveform (an engine built with tracing).
pub fn simulate_rtl(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    engine: &crate::rtl::engine::Engine,
    inputs: &[Tensor],
    vcd: Option<&std::path::Path>,
) -> Result<Simulated, String> {
    let dram = prepare(c, g, inputs)?;
    let model = qweave_sim::time(hw, &c.program).map_err(|e| e.to_string())?;
    // a stuck design stops long after any cycle count the model could be off by
    let r = engine.run(&c.program, &dram, 20 * model.cycles + 100_000, vcd)?;
    let mut layers = std::collections::BTreeMap::new();
    for (k, i) in c.program.iter().enumerate() {
        let (start, end) = r.times[k];
        let l = layers.entry(i.layer).or_insert(qweave_sim::LayerStats {
            start,
            ..qweave_sim::LayerStats::default()
        });
        l.start = l.start.min(start);
        l.end = l.end.max(end);
        let q = match i.op.queue() {
            qweave_hw::isa::Queue::Load => 0,
            qweave_hw::isa::Queue::Compute => 1,
            qweave_hw::isa::Queue::Store => 2,
        };
        l.busy[q] += end - start;
    }
    for (layer, m) in &model.layers {
        if let Some(l) = layers.get_mut(layer) {
            l.macs = m.macs;
            l.dram_bytes = m.dram_bytes;
        }
    }
    let run = qweave_sim::Run {
        dram: r.dram,
        cycles: r.cycles,
        macs: model.macs,
        dram_bytes: model.dram_bytes,
        instructions: model.instructions,
        layers,
        times: r.times,
    };
    let outputs = outputs(c, g, &run.dram)?;
    Ok(Simulated { run, outputs })
}

/// Runs `c` on the serial accelerator inside its board shell (`engine`: the bitstream's top
/// module in Verilator) with `inputs`: DRAM and the program loaded, run and read back over the
/// UART. The cycles are the board's count of the run; MACs and DRAM bytes are counted from the
/// program; the second number is every cycle simulated, the UART's included.
pub fn simulate_board(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    engine: &crate::rtl::board::BoardEngine,
    inputs: &[Tensor],
) -> Result<(Simulated, u64), String> {
    let dram = prepare(c, g, inputs)?;
    let model = qweave_sim::time(hw, &c.program).map_err(|e| e.to_string())?;
    // the UART moves a byte in 10 bit times; a stuck design stops long after that and any
    // cycle count the model could be off by
    let bytes = (dram.len() * 2 + c.program.len() * 64 + 64) as u64;
    let limit = bytes * 10 * u64::from(crate::rtl::board::divisor(hw)?) + 20 * model.cycles;
    let r = engine.run(&c.program, &dram, limit)?;
    Ok((
        board_outputs(c, g, &model, r.dram, r.cycles)?,
        r.total_cycles,
    ))
}

/// Runs `c` on a board (the iCE40's bitstream of `hw`) on the serial `line` with `inputs`:
/// DRAM and the program loaded, run and read back over it. The cycles are the board's count;
/// MACs and DRAM bytes are counted from the program.
pub fn run_device<L: std::io::Read + std::io::Write>(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    line: &mut L,
    inputs: &[Tensor],
) -> Result<Simulated, String> {
    let dram = prepare(c, g, inputs)?;
    let model = qweave_sim::time(hw, &c.program).map_err(|e| e.to_string())?;
    let r = crate::rtl::board_host::run(line, &c.program, &dram)?;
    board_outputs(c, g, &model, r.dram, r.cycles)
}

/// What a run on a board (real or simulated) gives: DRAM read back and the board's cycles,
/// with MACs and DRAM bytes counted from the program (`model`).
fn board_outputs(
    c: &Compiled,
    g: &Graph,
    model: &qweave_sim::Run,
    dram: Vec<u8>,
    cycles: u64,
) -> Result<Simulated, String> {
    let run = qweave_sim::Run {
        dram,
        cycles,
        macs: model.macs,
        dram_bytes: model.dram_bytes,
        instructions: model.instructions,
        layers: std::collections::BTreeMap::new(),
        times: Vec::new(),
    };
    let outputs = outputs(c, g, &run.dram)?;
    Ok(Simulated { run, outputs })
}

/// The first difference between the accelerator and the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The layer's index and name.
    pub layer: usize,
    pub name: String,
    /// The element's flat index and its index per axis.
    pub element: usize,
    pub index: Vec<u64>,
    /// The interpreter's value and the accelerator's.
    pub expected: i64,
    pub found: i64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer {} '{}' differs first at element {} (index {:?}): the interpreter computes {}, \
             the accelerator {}",
            self.layer, self.name, self.element, self.index, self.expected, self.found
        )
    }
}

/// Runs the interpreter on `g` with `inputs` and compares every layer's result with what
/// the accelerator left in `dram`; the first layer (in program order) and element that
/// differ are the error.
pub fn check(c: &Compiled, g: &Graph, inputs: &[Tensor], dram: &[u8]) -> Result<(), CheckError> {
    let wanted: std::collections::HashMap<qweave_ir::Value, usize> = c
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.result, i))
        .collect();
    let mut expected: Vec<Option<Vec<i64>>> = vec![None; c.layers.len()];
    qweave_interp::run_observed(g, inputs, &mut |op, outcome| {
        for (k, &v) in g.ops[op].results.iter().enumerate() {
            if let Some(&i) = wanted.get(&v)
                && let Some(vals) = outcome.outputs[k].data.as_int()
            {
                expected[i] = Some(vals.to_vec());
            }
        }
    })
    .map_err(|e| CheckError::Reference(e.to_string()))?;
    for (i, l) in c.layers.iter().enumerate() {
        let want = expected[i].as_ref().ok_or_else(|| {
            CheckError::Reference(format!("layer {i} '{}' was not computed", l.name))
        })?;
        let got = read_region(dram, &l.region).map_err(CheckError::Reference)?;
        if let Some(e) = (0..want.len()).find(|&e| want[e] != got[e]) {
            let shape = &g.ty(l.result).shape;
            let mut index = vec![0; shape.len()];
            let mut rest = e as u64;
            for (a, &dim) in shape.iter().enumerate().rev() {
                index[a] = rest % dim.max(1);
                rest /= dim.max(1);
            }
            return Err(CheckError::Mismatch(Mismatch {
                layer: i,
                name: l.name.clone(),
                element: e,
                index,
                expected: want[e],
                found: got[e],
            }));
        }
    }
    Ok(())
}

/// Why a check failed.
#[derive(Debug)]
pub enum CheckError {
    /// The accelerator differs.
    Mismatch(Mismatch),
    /// The reference could not run.
    Reference(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Mismatch(m) => m.fmt(f),
            CheckError::Reference(m) => write!(f, "the reference interpreter: {m}"),
        }
    }
}

impl std::error::Error for CheckError {}

#[cfg(test)]
mod tests;
