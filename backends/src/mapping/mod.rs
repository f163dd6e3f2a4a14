//! The e-graph mapper: for every layer on the array the cheapest exact way to run it —
//! precision mode, packing of its products into the PEs' multipliers, tile sizes — and the
//! set of packings the PEs are built with, within the target's resources.
//!
//! The layers come from the emitter (a default compile gives each layer's shape and placed
//! operands). Each becomes an e-class `(impl (layer i))`; the rules of `rules/` (soundness
//! argued in `rules/README.md`) add every mode, packing and tiling that computes the same
//! integers; `extract` picks one per layer and the packings to build, with costs from the
//! cycle model (each candidate's instructions timed) and the resource model. The emitter's
//! own binding is seeded into each class, so the result is never slower than the default.
//! The array's shape is the outermost global choice: the search runs again on each larger
//! array that fits the target (rows and columns grown by a quarter, a half, or doubled), and
//! the shape whose layers take the fewest cycles wins.

mod extract;
pub mod lang;
mod rules;

use crate::program::{self, Binding, CompileError};
use egg::{EGraph, Id, Runner, SimpleScheduler};
use lang::{Ctx, HwLang, Layer, mode_node, pack_node, tile_node};
use qweave_hw::pe::{self, PeMode};
use qweave_hw::{HwConfig, Packed, PeKind, Target};
use qweave_ir::{Graph, OpKind};
use std::time::{Duration, Instant};

/// Bounds on the search, each with its reason in `rules/README.md`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// E-nodes (memory).
    pub nodes: usize,
    /// Rule iterations.
    pub iterations: usize,
    /// Wall time of the rewriting.
    pub time: Duration,
    /// Packings per layer and mode, the most products first.
    pub packings_per_mode: usize,
    /// A fitting tile is split further only while the layer runs in fewer steps.
    pub min_steps: u64,
    /// Try larger arrays within the target's resources.
    pub shapes: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            nodes: 200_000,
            iterations: 64,
            time: Duration::from_secs(5),
            packings_per_mode: 4,
            min_steps: 8,
            shapes: true,
        }
    }
}

/// What the search did.
#[derive(Clone, Debug)]
pub struct Search {
    pub nodes: usize,
    pub classes: usize,
    pub iterations: usize,
    /// Why the rewriting stopped (`Saturated` unless a limit cut it).
    pub stop: String,
    /// Fitting tile e-nodes, and how many of them were timed.
    pub candidates: usize,
    pub timed: usize,
    /// Whether every set of packings was tried.
    pub exhaustive: bool,
    /// The array shapes tried (rows, columns) and the sum of the layers' cycles on each
    /// (`None` where the layers or packings do not fit).
    pub shapes: Vec<(u32, u32, Option<u64>)>,
    pub seconds: f64,
}

/// One array layer: the default binding and the chosen one, with their cycles alone.
#[derive(Clone, Debug)]
pub struct LayerChoice {
    /// Its index among the program's layers.
    pub index: usize,
    pub default: Binding,
    pub default_cycles: u64,
    pub chosen: Binding,
    pub chosen_cycles: u64,
    /// The extracted term.
    pub term: String,
}

/// The mapper's result.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// The accelerator, built with the chosen packings.
    pub hw: HwConfig,
    /// Per program layer, its binding (`None` off the array).
    pub bindings: Vec<Option<Binding>>,
    pub layers: Vec<LayerChoice>,
    pub search: Search,
}

/// `hw` with every packing the rules may add for these layers built, for fit checks and
/// timing (the resource model is applied only to the extracted set).
fn open_hw(hw: &HwConfig, layers: &[Layer], limits: &Limits) -> HwConfig {
    let mut open = hw.clone();
    if hw.pe != PeKind::Dsp48e2 {
        return open;
    }
    for l in layers {
        let s = &l.job.shape;
        for &rate in &s.modes {
            for pe in pe::candidates(hw, rate, s.wfmt, s.afmt, s.taps)
                .into_iter()
                .take(limits.packings_per_mode)
            {
                let p = Packed {
                    mode: rate.mode,
                    pe,
                };
                if !open.packings.contains(&p) {
                    open.packings.push(p);
                }
            }
        }
    }
    open
}

/// The term of a binding for the program's layer `i`.
fn term(i: usize, b: &Binding) -> String {
    let PeMode {
        pack,
        kp,
        np,
        lane,
        wport,
    } = b.pe;
    let t = b.tile;
    format!(
        "(tile {} {} {} {} (pack {} {kp} {np} {lane} {} (mode {} {} (layer {i}))))",
        t.g,
        t.m,
        t.c,
        t.r,
        pack.name(),
        wport.name(),
        b.mode.w,
        b.mode.a
    )
}

/// Writes each layer's binding into `g` as the `map` attribute of its `q.conv` or `q.matmul`:
/// the hw level, which `program::compile` follows.
pub fn annotate(g: &mut Graph, bindings: &[Option<Binding>]) -> Result<(), String> {
    let plan = program::plan::plan(g).map_err(|u| u.message)?;
    for (layer, b) in plan.layers.iter().zip(bindings) {
        if let (program::plan::Anchor::Conv(op), Some(b)) = (&layer.anchor, b) {
            match &mut g.ops[*op].kind {
                OpKind::QConv(a) => a.map = b.to_map(),
                OpKind::QMatMul(a) => a.map = b.to_map(),
                _ => {}
            }
        }
    }
    Ok(())
}

/// One search on one accelerator: the e-graph grown and extracted.
struct Found {
    eg: EGraph<HwLang, Ctx>,
    ex: extract::Extraction,
    iterations: usize,
    stop: String,
}

impl Found {
    /// The sum of the layers' cycles alone.
    fn cycles(&self) -> u64 {
        self.ex.layers.iter().map(|b| b.cycles).sum()
    }
}

/// Grows the e-graph of `layers` on `hw` and extracts within `target`.
fn search(
    layers: &[Layer],
    hw: &HwConfig,
    target: Target,
    limits: &Limits,
) -> Result<Found, String> {
    let open = open_hw(hw, layers, limits);
    let mut eg: EGraph<HwLang, Ctx> = EGraph::new(Ctx {
        layers: layers.to_vec(),
        hw: open,
        packings_per_mode: limits.packings_per_mode,
        min_steps: limits.min_steps,
    });
    let mut impls: Vec<Id> = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let d = l.default;
        let n = eg.add(HwLang::Num(i as u64));
        let layer = eg.add(HwLang::Layer([n]));
        let imp = eg.add(HwLang::Impl([layer]));
        // the emitter's default joins the class
        let moded = mode_node(&mut eg, d.mode, layer);
        let packed = pack_node(&mut eg, d.pe, moded);
        let tiled = tile_node(&mut eg, d.tile, packed);
        eg.union(imp, tiled);
        impls.push(imp);
    }
    eg.add(HwLang::Net(impls.clone().into_boxed_slice()));
    eg.rebuild();
    // the runner's own analysis is replaced by the e-graph's
    let spare = Ctx {
        layers: Vec::new(),
        hw: hw.clone(),
        packings_per_mode: 0,
        min_steps: 0,
    };
    let runner: Runner<HwLang, Ctx, ()> = Runner::new(spare)
        .with_egraph(eg)
        .with_scheduler(SimpleScheduler)
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .run(&rules::all());
    let stop = match &runner.stop_reason {
        Some(egg::StopReason::Saturated) => "saturated".to_string(),
        Some(r) => format!("{r:?}"),
        None => "unknown".to_string(),
    };
    let iterations = runner.iterations.len();
    let eg = runner.egraph;
    let ex = extract::extract(&eg, &impls, hw, target)?;
    Ok(Found {
        eg,
        ex,
        iterations,
        stop,
    })
}

/// The array shapes to try beside `hw`'s: rows and columns grown by a quarter, a half or
/// doubled, that fit `target` with `hw`'s packings built (the extractor checks the packings
/// it chooses). None for a target without limits: nothing would bound the array.
fn shapes(hw: &HwConfig, target: Target) -> Vec<HwConfig> {
    if target.limits().is_none() {
        return Vec::new();
    }
    let grow = |v: u32| [v, v + v / 4, v + v / 2, 2 * v];
    let mut out = Vec::new();
    for rows in grow(hw.rows) {
        for cols in grow(hw.cols) {
            if (rows, cols) == (hw.rows, hw.cols) || rows > 256 || cols > 256 {
                continue;
            }
            let c = HwConfig {
                rows,
                cols,
                ..hw.clone()
            };
            if qweave_hw::estimate(&c, target).is_ok() {
                out.push(c);
            }
        }
    }
    out
}

/// Maps `g` onto the accelerator `hw` of `target`: bindings for every layer on the array, the
/// packings to build and (within the target's resources, when `limits.shapes`) the array's
/// rows and columns.
pub fn map(
    g: &Graph,
    hw: &HwConfig,
    target: Target,
    limits: &Limits,
) -> Result<Mapped, CompileError> {
    let started = Instant::now();
    let base = program::compile(g, hw)?;
    map_compiled(g, &base, hw, target, limits, started)
}

/// `map` from `base`, the default compilation of `g` for `hw` (which gives the layers'
/// shapes), when the caller has it already; `started` is when the mapping began.
pub fn map_compiled(
    g: &Graph,
    base: &program::Compiled,
    hw: &HwConfig,
    target: Target,
    limits: &Limits,
    started: Instant,
) -> Result<Mapped, CompileError> {
    let graph_err = |message: String| CompileError {
        layer: g.name.clone(),
        op: "graph",
        message,
    };
    let layers: Vec<Layer> = base
        .shapes
        .iter()
        .enumerate()
        .filter_map(|(index, s)| {
            s.clone().map(|(job, default)| Layer {
                index,
                job,
                default,
            })
        })
        .collect();
    let mut found = search(&layers, hw, target, limits).map_err(graph_err)?;
    let mut tried = vec![(hw.rows, hw.cols, Some(found.cycles()))];
    let mut array = hw.clone();
    if limits.shapes {
        for c in shapes(hw, target) {
            // a shape the layers' tiles or the chosen packings cannot use is no candidate
            let f = search(&layers, &c, target, limits).ok();
            tried.push((c.rows, c.cols, f.as_ref().map(Found::cycles)));
            if let Some(f) = f.filter(|f| f.cycles() < found.cycles()) {
                found = f;
                array = c;
            }
        }
    }
    let Found {
        eg,
        ex,
        iterations,
        stop,
    } = found;
    let ctx = &eg.analysis;
    let mut chosen_hw = array.clone();
    if hw.pe == PeKind::Dsp48e2 {
        chosen_hw.packings = ex.packings.clone();
    }
    let mut bindings = vec![None; base.layers.len()];
    let mut out = Vec::new();
    for (l, b) in ctx.layers.iter().zip(&ex.layers) {
        bindings[l.index] = Some(b.binding);
        let default_cycles = program::tiles::cycles(hw, &l.job, l.default).map_err(graph_err)?;
        out.push(LayerChoice {
            index: l.index,
            default: l.default,
            default_cycles,
            chosen: b.binding,
            chosen_cycles: b.cycles,
            term: term(l.index, &b.binding),
        });
    }
    Ok(Mapped {
        hw: chosen_hw,
        bindings,
        layers: out,
        search: Search {
            nodes: eg.total_number_of_nodes(),
            classes: eg.number_of_classes(),
            iterations,
            stop,
            candidates: ex.candidates,
            timed: ex.timed,
            exhaustive: ex.exhaustive,
            shapes: tried,
            seconds: started.elapsed().as_secs_f64(),
        },
    })
}
