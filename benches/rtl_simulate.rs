//! Benchmark: the generated accelerator in Verilator (the RTL engine) on the real-model
//! fixtures, against the ISA simulator and the interpreter measured in the same run.
//!
//! For each fixture (the five digits models and the int8 ResNet-8) on two accelerators (the
//! `sim` target's 8x8 array of bricks PEs and the `xczu3eg` target's 16x16 array of DSP48E2
//! PEs), it prints:
//! - the RTL engine's wall time for one inference (median of `QWEAVE_BENCH_RUNS`, default 3),
//!   the cycles the hardware took and the simulated cycles per second, with the ISA
//!   simulator's and the interpreter's wall times and the ratios;
//! - the RTL's cycles against the cycle model's, and the check that DRAM after the RTL run
//!   equals the ISA simulator's and every layer the interpreter's;
//! - array utilization (MACs issued over the array's peak in the layer's mode) for each 3x3
//!   convolution, marked where its channels fill the array (the reduction `cin x 9` a
//!   multiple of ROWS x p products, the filters a multiple of COLS): over the cycles its
//!   `gemm`s run (the array while it computes), and over the layer's whole span (with its
//!   transfers and post-processing).
//!
//! The Verilator model is built once (or found in `.cache/rtl`); its build time is printed.
//! Run it with `scripts/bench-rtl.sh` or `cargo bench --bench rtl_simulate`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use qweave_backends::rtl::engine::Engine;
use qweave_backends::{execute, program};
use qweave_hw::isa::{Op, Pack};
use qweave_ir::{Graph, Tensor};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lowered(model: &Path) -> Result<Graph, String> {
    let mut g = qweave_frontend::import_file(model).map_err(|e| e.to_string())?;
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| {
            p.run(
                &mut g,
                qweave_passes::PipelineOptions { verify_each: false },
                |_, _| {},
            )
        })
        .map_err(|e| e.to_string())?;
    Ok(g)
}

/// The tensor named `name` of an `.npz`, its first item when `first`.
fn tensor(path: &Path, name: &str, first: bool) -> Result<Tensor, String> {
    let file = qweave_frontend::files::read(path)?;
    let t = file
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .ok_or(format!("{}: no {name}", path.display()))?
        .tensor
        .to_ir()?;
    if !first {
        return Ok(t);
    }
    let per = t.ty.numel() / t.ty.shape[0] as usize;
    let qweave_ir::Data::F32(v) = &t.data else {
        return Err("float images".into());
    };
    let mut shape = t.ty.shape.clone();
    shape[0] = 1;
    Ok(Tensor {
        ty: qweave_ir::TensorType::new(shape, t.ty.elem),
        data: qweave_ir::Data::F32(v[..per].to_vec().into()),
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    let runs: usize = std::env::var("QWEAVE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let mut ok = true;
    for t in [qweave_hw::Target::Sim, qweave_hw::Target::Xczu3eg] {
        ok &= bench(t, runs);
        println!();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every fixture on `target`'s preset accelerator; false when one fails.
fn bench(target: qweave_hw::Target, runs: usize) -> bool {
    let hw = target.preset();
    let t = Instant::now();
    let engine = match Engine::build(&hw, &root().join(".cache/rtl"), false) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("the RTL engine for {}: {e}", target.name());
            return false;
        }
    };
    println!(
        "## {} target: {}x{} array of {} PEs, Verilator model ready in {:.1} s (built once per hardware, then cached)",
        target.name(),
        hw.rows,
        hw.cols,
        match hw.pe {
            qweave_hw::PeKind::Lut => "bricks",
            qweave_hw::PeKind::Dsp48e2 => "DSP48E2",
        },
        t.elapsed().as_secs_f64()
    );
    let models = root().join("tests/models");
    let digits = models.join("digits_test.npz");
    let cases: Vec<(&str, PathBuf, Result<Tensor, String>)> = vec![
        (
            "digits_qdq",
            models.join("digits_qdq.onnx"),
            tensor(&digits, "x", true),
        ),
        (
            "digits_qop",
            models.join("digits_qop.onnx"),
            tensor(&digits, "x", true),
        ),
        (
            "digits_w4a4",
            models.join("digits_w4a4.onnx"),
            tensor(&digits, "x", true),
        ),
        (
            "digits_w2a2",
            models.join("digits_w2a2.onnx"),
            tensor(&digits, "x", true),
        ),
        (
            "digits_w1a1",
            models.join("digits_w1a1.onnx"),
            tensor(&digits, "x", true),
        ),
        (
            "resnet8_int8",
            models.join("bench_resnet_qop.onnx"),
            tensor(&models.join("bench_input.npz"), "x", false),
        ),
    ];
    let mut failed = false;
    println!();
    println!(
        "| model | RTL wall ms | RTL cycles | cycles/s | cycle model | error | ISA sim ms | RTL/ISA | interpreter ms | RTL/interp |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut util_rows = Vec::new();
    for (name, model, x) in cases {
        let result = (|| -> Result<(), String> {
            let g = lowered(&model)?;
            let c = program::compile(&g, &hw).map_err(|e| e.to_string())?;
            let inputs = [x?];
            let mut rtl_times = Vec::new();
            let mut rtl = None;
            for _ in 0..runs {
                let t = Instant::now();
                rtl = Some(execute::simulate_rtl(&c, &g, &hw, &engine, &inputs, None)?);
                rtl_times.push(t.elapsed());
            }
            let rtl = rtl.unwrap();
            let mut isa_times = Vec::new();
            let mut isa = None;
            for _ in 0..runs {
                let t = Instant::now();
                isa = Some(execute::simulate(&c, &g, &hw, &inputs)?);
                isa_times.push(t.elapsed());
            }
            let isa = isa.unwrap();
            let mut interp_times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                qweave_interp::run(&g, &inputs).map_err(|e| e.to_string())?;
                interp_times.push(t.elapsed());
            }
            execute::check(&c, &g, &inputs, &rtl.run.dram).map_err(|e| e.to_string())?;
            if rtl.run.dram != isa.run.dram {
                return Err("DRAM after the RTL run differs from the ISA simulator's".into());
            }
            let (r, i, n) = (median(rtl_times), median(isa_times), median(interp_times));
            println!(
                "| {name} | {:.1} | {} | {:.0} | {} | {:+.2} % | {:.2} | {:.0}x | {:.2} | {:.0}x |",
                ms(r),
                rtl.run.cycles,
                rtl.run.cycles as f64 / r.as_secs_f64(),
                isa.run.cycles,
                (rtl.run.cycles as f64 / isa.run.cycles as f64 - 1.0) * 100.0,
                ms(i),
                r.as_secs_f64() / i.as_secs_f64(),
                ms(n),
                r.as_secs_f64() / n.as_secs_f64()
            );
            // utilization of the 3x3 layers whose channels fill the array
            for (l, (info, shape)) in c.layers.iter().zip(&c.shapes).enumerate() {
                let (Some((job, binding)), Some(mode)) = (shape, info.mode) else {
                    continue;
                };
                let s = &job.shape;
                let p = u64::from(info.pe.map_or(mode.macs_per_cycle, |x| x.1));
                if s.win.k != [3, 3] || s.groups != 1 {
                    continue;
                }
                // every fold of the reduction fills the rows, every pass of filters the
                // columns, every step its pixels
                let (rows, cols) = (u64::from(hw.rows), u64::from(hw.cols));
                let pe = binding.pe;
                let (kp, np) = (u64::from(pe.kp.max(1)), u64::from(pe.np.max(1)));
                let fills = match pe.pack {
                    Pack::Bricks | Pack::Xnor => (s.cpg * 9) % (rows * p) == 0 && s.mpg % cols == 0,
                    Pack::Kernel => {
                        (s.cpg * 9) % rows == 0 && s.mpg % (cols * kp) == 0 && s.win.ow % np == 0
                    }
                    // a window's lanes below kp - 1 finish the previous window's outputs: a row
                    // of ow outputs takes ceil((ow + kp - 1) / np) windows, never full
                    Pack::Filter => {
                        (s.cpg * 3 * 3u64.div_ceil(kp)) % rows == 0 && s.mpg % cols == 0
                    }
                };
                let peak = u64::from(hw.rows) * u64::from(hw.cols) * p;
                let (mut gemm_cycles, mut macs) = (0u64, 0u64);
                let mut rate = qweave_hw::Rate::bricks(1);
                for (k, ins) in c.program.iter().enumerate() {
                    if let Op::Config(cf) = &ins.op {
                        rate = qweave_hw::pe::rate(&hw, cf)?;
                    }
                    if usize::from(ins.layer) == l && matches!(ins.op, Op::Gemm(_)) {
                        gemm_cycles += rtl.run.times[k].1 - rtl.run.times[k].0;
                        macs += qweave_hw::cycles::cost(&hw, rate, &ins.op).macs;
                    }
                }
                let span = rtl.run.layers[&(l as u16)];
                util_rows.push(format!(
                    "| {name} | {} | {} | {} | {}x{}x{} -> {} | {} | {:.1} % | {:.1} % |",
                    info.name,
                    pe.describe(),
                    if fills { "yes" } else { "no" },
                    s.cpg,
                    s.win.oh,
                    s.win.ow,
                    s.mpg,
                    mode.mode,
                    macs as f64 / (gemm_cycles * peak) as f64 * 100.0,
                    macs as f64 / ((span.end - span.start) * peak) as f64 * 100.0
                ));
            }
            Ok(())
        })();
        if let Err(e) = result {
            println!("| {name} | error: {e} | | | | | | | | |");
            failed = true;
        }
    }
    println!();
    println!(
        "Array utilization in RTL of the 3x3 convolutions on the {}x{} array, against its peak in the layer's packing (p products per PE); `fills`: every fold fills the rows, every filter pass the columns and (kernel packing) every step its np pixels (target: at least 90 % while the array computes, on those):",
        hw.rows, hw.cols
    );
    println!();
    println!(
        "| model | layer | packing | fills | cin x oh x ow -> m | mode | over its gemms | over the layer |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in util_rows {
        println!("{r}");
    }
    !failed
}
