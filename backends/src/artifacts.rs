//! What `qweave compile` writes beside the program: `manifest.json` (the schema is
//! `docs/manifest.md`) and `report.md`, both with the cycle model's figures per layer.

use crate::mapping::Search;
use crate::program::layout::Region;
use crate::program::{Compiled, Io};
use qweave_hw::{Breakdown, HwConfig, Resources, Target};
use qweave_ir::{ElemType, Graph, QuantParams};
use qweave_sim::Run;
use serde_json::{Value as Json, json};
use std::fmt::Write;

/// The manifest's format version.
pub const MANIFEST_VERSION: u32 = 2;

/// Modeled figures of one layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerModel {
    pub cycles: u64,
    pub macs: u64,
    pub dram_bytes: u64,
    /// MACs per cycle over the array's peak in the layer's mode (0 off the array).
    pub utilization: f64,
    pub resources: Resources,
}

/// The modeled figures of a program: the timing run, the accelerator's resources, and each
/// layer's share.
#[derive(Debug)]
pub struct Modeled {
    pub run: Run,
    pub total: Resources,
    pub layers: Vec<LayerModel>,
}

impl Modeled {
    /// Times `c` on `hw` with the cycle model and counts the resources of `hw`'s target.
    pub fn of(c: &Compiled, hw: &HwConfig) -> Result<Modeled, String> {
        let target = Target::parse(&hw.target).map_err(|e| e.to_string())?;
        let run = qweave_sim::time(hw, &c.program).map_err(|e| format!("timing: {e}"))?;
        let parts = qweave_hw::breakdown(hw, target).map_err(|e| e.to_string())?;
        let layers = layer_models(c, hw, &parts, &run);
        Ok(Modeled {
            run,
            total: parts.total(),
            layers,
        })
    }
}

/// The modeled figures of every layer from a timing run. A layer's resources are the parts
/// of the template it keeps busy: the share of the array its tiles occupy and the operand
/// buffers (layers on the array), and always the accumulators, the post-processing unit and
/// the controller.
fn layer_models(c: &Compiled, hw: &HwConfig, parts: &Breakdown, run: &Run) -> Vec<LayerModel> {
    let pes = u64::from(hw.rows) * u64::from(hw.cols);
    c.layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let stats = run.layers.get(&(i as u16)).copied().unwrap_or_default();
            let cycles = stats.end - stats.start;
            let mut r = parts.accumulators + parts.post + parts.control;
            let mut peak = 0;
            if let (Some([rows, cols]), Some(rate)) = (l.array, l.mode) {
                let used = rows * cols;
                let share = |v: u64| (v * used).div_ceil(pes);
                r =
                    r + Resources {
                        lut: share(parts.array.lut),
                        dsp: share(parts.array.dsp),
                        bram: parts.array.bram,
                    } + parts.operand_buffers;
                peak = pes * u64::from(rate.macs_per_cycle);
            }
            LayerModel {
                cycles,
                macs: stats.macs,
                dram_bytes: stats.dram_bytes,
                utilization: if peak == 0 || cycles == 0 {
                    0.0
                } else {
                    stats.macs as f64 / (cycles * peak) as f64
                },
                resources: r,
            }
        })
        .collect()
}

fn region(r: &Region) -> Json {
    json!({
        "byte": r.byte(),
        "bit": r.start % 8,
        "format": r.fmt.name(),
        "bits": r.bits,
        "count": r.len,
        "bytes": r.bytes(),
    })
}

fn quant(elem: ElemType) -> Json {
    let storage = elem.storage().map(|s| s.to_string());
    match elem.quant().map(|q| &q.params) {
        Some(QuantParams::Tensor { scale, zero_point }) => {
            json!({ "storage": storage, "scale": scale, "zero_point": zero_point })
        }
        Some(QuantParams::Axis {
            axis,
            scales,
            zero_points,
        }) => json!({
            "storage": storage, "axis": axis, "scales": scales, "zero_points": zero_points
        }),
        None => json!({ "storage": storage }),
    }
}

fn io(g: &Graph, x: &Io) -> Json {
    let outer = g.ty(x.outer);
    let inner = g.ty(x.inner);
    json!({
        "name": x.name,
        "shape": outer.shape,
        "dtype": if outer.elem.is_float() { "f32".to_string() } else { outer.elem.storage().map_or_else(String::new, |s| s.to_string()) },
        "host": x.host_op.map(|op| g.ops[op].kind.name()),
        "quant": quant(inner.elem),
        "dram": region(&x.region),
    })
}

/// How the layers were mapped, for the manifest and the report.
pub struct MappingSummary<'a> {
    /// `egraph` or `default`.
    pub kind: &'static str,
    /// The e-graph search, when it ran.
    pub search: Option<&'a Search>,
    /// The default mapping's timing, to compare against.
    pub default: Option<&'a Modeled>,
}

/// `manifest.json`.
pub fn manifest(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    m: &Modeled,
    mapping: &MappingSummary<'_>,
) -> Json {
    let (run, total) = (&m.run, m.total);
    let layers: Vec<Json> = c
        .layers
        .iter()
        .zip(&m.layers)
        .enumerate()
        .map(|(i, (l, m))| {
            json!({
                "index": i,
                "name": l.name,
                "ops": l.ops,
                "mode": l.mode.map(|r| r.mode.to_string()),
                "packing": l.pe.map(|(pe, _)| pe.describe()),
                "products_per_pe": l.pe.map(|(_, p)| p),
                "binding": c.shapes.get(i).and_then(|s| s.as_ref()).map(|(_, b)| b),
                "tiles": l.tiles,
                "result": { "shape": g.ty(l.result).shape, "quant": quant(g.ty(l.result).elem), "dram": region(&l.region) },
                "modeled": {
                    "cycles": m.cycles, "macs": m.macs, "dram_bytes": m.dram_bytes,
                    "utilization": m.utilization,
                    "dsp": m.resources.dsp, "lut": m.resources.lut, "bram": m.resources.bram,
                },
            })
        })
        .collect();
    json!({
        "format": "qweave-program",
        "version": MANIFEST_VERSION,
        "qweave": env!("CARGO_PKG_VERSION"),
        "model": g.name,
        "target": hw.target,
        "hw": hw,
        "files": {
            "program": "program.bin", "assembly": "program.s", "weights": "weights.bin",
            "model": "model.qir", "report": "report.md",
        },
        "dram": {
            "bytes": c.dram.size(),
            "weights": { "byte": c.dram.constants_base(), "bytes": c.dram.image.len() },
        },
        "instructions": c.program.len(),
        "inputs": c.inputs.iter().map(|x| io(g, x)).collect::<Vec<_>>(),
        "outputs": c.outputs.iter().map(|x| io(g, x)).collect::<Vec<_>>(),
        "layers": layers,
        "mapping": {
            "kind": mapping.kind,
            "default_cycles": mapping.default.map(|d| d.run.cycles),
            "search": mapping.search.map(|s| json!({
                "nodes": s.nodes, "classes": s.classes, "iterations": s.iterations,
                "stop": s.stop, "candidates": s.candidates, "timed": s.timed,
                "exhaustive": s.exhaustive, "seconds": s.seconds,
                "shapes": s.shapes.iter().map(|(r, c, cy)| json!({"rows": r, "cols": c, "cycles": cy})).collect::<Vec<_>>(),
            })),
        },
        "modeled": {
            "cycles": run.cycles,
            "macs": run.macs,
            "dram_bytes": run.dram_bytes,
            "latency_us": run.cycles as f64 / f64::from(hw.clock_mhz),
            "dsp": total.dsp, "lut": total.lut, "bram": total.bram,
        },
    })
}

/// `report.md`.
pub fn report(
    c: &Compiled,
    g: &Graph,
    hw: &HwConfig,
    m: &Modeled,
    mapping: &MappingSummary<'_>,
) -> String {
    let (run, total, models) = (&m.run, m.total, &m.layers);
    let mut s = String::new();
    let _ = writeln!(s, "# {} on {}\n", g.name, hw.target);
    let _ = writeln!(
        s,
        "Modeled by the cycle model of `docs/isa.md` at {} MHz: {} cycles ({:.1} us), {} MACs \
         ({:.2} per cycle), {} DRAM bytes. The accelerator is a {}x{} array; it takes {} {}, \
         {} DSP blocks and {} block RAMs.\n",
        hw.clock_mhz,
        run.cycles,
        run.cycles as f64 / f64::from(hw.clock_mhz),
        run.macs,
        run.macs as f64 / run.cycles.max(1) as f64,
        run.dram_bytes,
        hw.rows,
        hw.cols,
        total.lut,
        // (the serial datapath's are measured as nextpnr packs them for the iCE40)
        if hw.serial { "logic cells" } else { "LUTs" },
        total.dsp,
        total.bram,
    );
    // (the iCE40's serial datapath, for one, does not fit its part yet: docs/hw.md)
    if let Some(e) = Target::parse(&hw.target)
        .ok()
        .and_then(|t| qweave_hw::estimate(hw, t).err())
    {
        let _ = writeln!(s, "**It does not fit the part:** {e}.\n");
    }
    if let Some(d) = mapping.default {
        let _ = writeln!(
            s,
            "Mapping `{}`: {} cycles against {} with the default mapping ({:.2}x); the default \
             builds {} LUTs, {} DSP blocks and {} block RAMs.\n",
            mapping.kind,
            run.cycles,
            d.run.cycles,
            d.run.cycles as f64 / run.cycles.max(1) as f64,
            d.total.lut,
            d.total.dsp,
            d.total.bram,
        );
    } else {
        let _ = writeln!(s, "Mapping `{}`.\n", mapping.kind);
    }
    if let Some(x) = mapping.search {
        let _ = writeln!(
            s,
            "The e-graph held {} e-nodes in {} classes after {} iterations ({}); {} fitting \
             tiles, {} of them timed; {} set of packings; {:.2} s.\n",
            x.nodes,
            x.classes,
            x.iterations,
            x.stop,
            x.candidates,
            x.timed,
            if x.exhaustive { "every" } else { "a greedy" },
            x.seconds,
        );
        if x.shapes.len() > 1 {
            let tried: Vec<String> = x
                .shapes
                .iter()
                .map(|(r, c, cy)| match cy {
                    Some(cy) => format!("{r}x{c} {cy}"),
                    None => format!("{r}x{c} does not fit"),
                })
                .collect();
            let _ = writeln!(
                s,
                "Array shapes tried within the target (rows x columns, the layers' cycles alone): {}.\n",
                tried.join(", ")
            );
        }
    }
    if hw.pe == qweave_hw::PeKind::Dsp48e2 {
        let built: Vec<String> = hw
            .packings
            .iter()
            .map(|p| format!("{} {}", p.mode, p.pe.describe()))
            .collect();
        let _ = writeln!(s, "The PEs are built with: {}.\n", built.join(", "));
    }
    let _ = writeln!(
        s,
        "| # | layer | ops | mode | packing | products per PE | tile (g m c r) | tiles | cycles | default cycles | gain | MACs | utilization | DRAM bytes | DSP | LUT | BRAM |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, (l, m)) in c.layers.iter().zip(models).enumerate() {
        let tile = c
            .shapes
            .get(i)
            .and_then(|x| x.as_ref())
            .map_or_else(String::new, |(_, b)| {
                let t = b.tile;
                format!("{} {} {} {}", t.g, t.m, t.c, t.r)
            });
        let default = mapping
            .default
            .and_then(|d| d.layers.get(i))
            .map(|d| d.cycles);
        let _ = writeln!(
            s,
            "| {i} | {} | {} | {} | {} | {} | {tile} | {} | {} | {} | {} | {} | {:.1}% | {} | {} | {} | {} |",
            l.name,
            l.ops.join(", "),
            l.mode
                .map_or_else(|| "post".to_string(), |r| r.mode.to_string()),
            l.pe.map_or_else(String::new, |(pe, _)| pe.describe()),
            l.pe.map_or_else(String::new, |(_, p)| p.to_string()),
            l.tiles,
            m.cycles,
            default.map_or_else(String::new, |d| d.to_string()),
            default.map_or_else(String::new, |d| format!(
                "{:.2}x",
                d as f64 / m.cycles.max(1) as f64
            )),
            m.macs,
            100.0 * m.utilization,
            m.dram_bytes,
            m.resources.dsp,
            m.resources.lut,
            m.resources.bram,
        );
    }
    let tiles: u64 = c.layers.iter().map(|l| l.tiles).sum();
    let default = mapping.default.map(|d| d.run.cycles);
    let _ = writeln!(
        s,
        "| | total | | | | | | {tiles} | {} | {} | {} | {} | | {} | {} | {} | {} |",
        run.cycles,
        default.map_or_else(String::new, |d| d.to_string()),
        default.map_or_else(String::new, |d| format!(
            "{:.2}x",
            d as f64 / run.cycles.max(1) as f64
        )),
        run.macs,
        run.dram_bytes,
        total.dsp,
        total.lut,
        total.bram
    );
    let _ = writeln!(
        s,
        "\nLayers overlap (a layer's loads start while the one before drains), so their cycles \
         add up to more than the total. Utilization is MACs per cycle over the array's peak in \
         the layer's mode; a packing with fewer products per PE than the mode's best (a 1x1 \
         kernel cannot use filter packing) caps it below 100%. Default cycles are the layer's \
         in the program the default mapping gives."
    );
    s
}

/// The closing summary `qweave compile` prints: per layer and in total, the modeled cycles,
/// the latency at `mhz` (the achieved clock when there is one), the resources the layer
/// uses, and the products each PE computes per cycle (per DSP48E2 on the Zynq targets,
/// whose PE is one).
pub fn summary_table(c: &Compiled, modeled: &Modeled, mhz: f64, clock: &str) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "layer".into(),
        "cycles".into(),
        format!("us at {mhz:.1} MHz ({clock})"),
        "DSP".into(),
        "LUT".into(),
        "BRAM".into(),
        "products/PE".into(),
    ]];
    let us = |cycles: u64| format!("{:.1}", cycles as f64 / mhz);
    for (l, m) in c.layers.iter().zip(&modeled.layers) {
        rows.push([
            l.name.clone(),
            m.cycles.to_string(),
            us(m.cycles),
            m.resources.dsp.to_string(),
            m.resources.lut.to_string(),
            m.resources.bram.to_string(),
            l.pe.map_or_else(|| "-".to_string(), |(_, p)| p.to_string()),
        ]);
    }
    let t = &modeled.total;
    rows.push([
        "total".into(),
        modeled.run.cycles.to_string(),
        us(modeled.run.cycles),
        t.dsp.to_string(),
        t.lut.to_string(),
        t.bram.to_string(),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..7)
        .map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(k, (v, &w))| {
                if k == 0 {
                    format!("{v:<w$}")
                } else {
                    format!("{v:>w$}")
                }
            })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  ").trim_end());
        if i == 0 || i == rows.len() - 2 {
            let _ = writeln!(s, "{}", "-".repeat(widths.iter().sum::<usize>() + 12));
        }
    }
    s.push_str("(layers overlap, so the total is less than the sum of theirs)\n");
    s
}
