//! The accelerator program: a q-level graph mapped onto the template as instruction streams
//! with their dependency tokens ([`streams::Streams`]), a DRAM image with the packed
//! constants, and where every input, output and layer result lives.
//!
//! [`compile`] plans the layers ([`plan`]), gives every tensor that crosses a layer boundary a
//! DRAM region ([`layout`]), and emits each layer's tiles: convolutions and matrix products
//! on the array ([`conv`]), everything else on the post-processing unit ([`map`]).

mod conv;
pub mod layout;
mod map;
pub mod plan;
pub mod post;
mod slices;
pub mod streams;
pub mod tiles;
pub mod tiling;
pub mod window;

use layout::{Dram, Region, format};
use plan::{Anchor, Plan};
use post::storage;
use qweave_hw::HwConfig;
use qweave_hw::isa::{Config, Format, Instr};
use qweave_ir::{Graph, Value};
use std::collections::HashMap;
use streams::Streams;

/// A compiled program.
#[derive(Debug)]
pub struct Compiled {
    /// The instructions.
    pub program: Vec<Instr>,
    /// DRAM: the activations' extent and the constants' image after it.
    pub dram: Dram,
    /// The layers, indexed as the instructions' `layer` field.
    pub layers: Vec<LayerInfo>,
    /// The graph inputs, in order.
    pub inputs: Vec<Io>,
    /// The graph outputs, in order.
    pub outputs: Vec<Io>,
    /// For each layer on the array, its shape and the binding it ran with.
    pub shapes: Vec<Option<(tiles::ConvJob, Binding)>>,
}

/// One layer as compiled.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Its name (the source node of its first op).
    pub name: String,
    /// The ops it runs, by name.
    pub ops: Vec<&'static str>,
    /// The array's precision mode and its MACs per PE and cycle, for layers on the array.
    pub mode: Option<qweave_hw::ModeRate>,
    /// How the PEs compute its products (packing) and how many per PE and cycle, for layers
    /// on the array.
    pub pe: Option<(qweave_hw::pe::PeMode, u32)>,
    /// Output tiles.
    pub tiles: u64,
    /// PE rows and columns its largest tile occupies, for layers on the array.
    pub array: Option<[u64; 2]>,
    /// The value it stores.
    pub result: Value,
    /// Where that lives.
    pub region: Region,
}

/// A graph input or output.
#[derive(Clone, Debug)]
pub struct Io {
    /// The graph's name for it.
    pub name: String,
    /// The graph value (a float one when the host quantizes or dequantizes).
    pub outer: Value,
    /// The integer value in DRAM.
    pub inner: Value,
    /// The host's `onnx.quantize_linear` or `onnx.dequantize_linear`, if any.
    pub host_op: Option<qweave_ir::Op>,
    /// Where it lives.
    pub region: Region,
}

/// A graph the accelerator cannot run, naming the layer and the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// The layer (its source node).
    pub layer: String,
    /// The op.
    pub op: &'static str,
    /// What is wrong and the way out.
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer '{}' (`{}`): {}",
            self.layer, self.op, self.message
        )
    }
}

impl std::error::Error for CompileError {}

/// How a layer was mapped.
pub(crate) struct Mapping {
    pub mode: Option<qweave_hw::ModeRate>,
    pub pe: Option<(qweave_hw::pe::PeMode, u32)>,
    pub tiles: u64,
    pub array: Option<[u64; 2]>,
}

/// How a layer on the array runs: its mode, packing and tile size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Binding {
    /// The precision mode.
    pub mode: qweave_hw::Mode,
    /// How the PEs compute its products.
    pub pe: qweave_hw::pe::PeMode,
    /// The tile size.
    pub tile: tiling::Tile,
}

impl Binding {
    /// The IR's form of the binding (`map = [...]` at the hw level).
    pub fn to_map(&self) -> qweave_ir::binding::Map {
        use qweave_hw::isa::{MulPort, Pack};
        use qweave_ir::binding::{Bound, Map, PackKind};
        let t = self.tile;
        Map::Bound(Bound {
            w: self.mode.w,
            a: self.mode.a,
            pack: match self.pe.pack {
                Pack::Bricks => PackKind::Bricks,
                Pack::Xnor => PackKind::Xnor,
                Pack::Kernel => PackKind::Kernel,
                Pack::Filter => PackKind::Filter,
            },
            kp: self.pe.kp,
            np: self.pe.np,
            lane: self.pe.lane,
            wport_a: self.pe.wport == MulPort::A,
            tile: [t.g, t.m, t.c, t.r],
        })
    }

    /// The binding an op's `map` attribute states, if any.
    pub fn of_map(m: &qweave_ir::binding::Map) -> Option<Binding> {
        use qweave_hw::isa::{MulPort, Pack};
        use qweave_ir::binding::{Map, PackKind};
        let Map::Bound(b) = m else {
            return None;
        };
        let [g, m, c, r] = b.tile;
        Some(Binding {
            mode: qweave_hw::Mode { w: b.w, a: b.a },
            pe: qweave_hw::pe::PeMode {
                pack: match b.pack {
                    PackKind::Bricks => Pack::Bricks,
                    PackKind::Xnor => Pack::Xnor,
                    PackKind::Kernel => Pack::Kernel,
                    PackKind::Filter => Pack::Filter,
                },
                kp: b.kp,
                np: b.np,
                lane: b.lane,
                wport: if b.wport_a { MulPort::A } else { MulPort::B },
            },
            tile: tiling::Tile { g, m, c, r },
        })
    }
}

/// State while emitting.
pub(crate) struct Emitter<'g> {
    pub g: &'g Graph,
    pub hw: &'g HwConfig,
    pub dram: Dram,
    pub regions: HashMap<Value, Region>,
    pub s: Streams,
    /// The layer being emitted.
    pub layer: usize,
    /// Bindings chosen for layers on the array, by layer index (the defaults where absent).
    pub bindings: &'g [Option<Binding>],
    /// What each layer on the array was, and how it ran.
    pub shapes: Vec<Option<(tiles::ConvJob, Binding)>>,
}

impl Emitter<'_> {
    /// The binding chosen for the current layer, anchored at `op`: the one given to
    /// `compile_with`, else the op's own (`map` at the hw level), if any.
    pub fn binding(&self, op: qweave_ir::Op) -> Option<Binding> {
        self.bindings
            .get(self.layer)
            .copied()
            .flatten()
            .or_else(|| match &self.g.ops[op].kind {
                qweave_ir::OpKind::QConv(a) => Binding::of_map(&a.map),
                qweave_ir::OpKind::QMatMul(a) => Binding::of_map(&a.map),
                _ => None,
            })
    }

    /// Records the current layer's shape and the binding it ran with.
    pub fn record(&mut self, shape: tiles::ConvJob, b: Binding) {
        if self.shapes.len() <= self.layer {
            self.shapes.resize(self.layer + 1, None);
        }
        self.shapes[self.layer] = Some((shape, b));
    }

    /// The DRAM region of `v`: a tensor in DRAM, or a constant packed on first use.
    pub fn region(&mut self, v: Value) -> Result<Region, String> {
        if let Some(r) = self.regions.get(&v) {
            return Ok(*r);
        }
        let data = self
            .g
            .const_data(v)
            .and_then(|d| d.as_int())
            .ok_or_else(|| {
                format!(
                    "value {} is neither in DRAM nor a constant",
                    self.g.values[v].name.as_deref().unwrap_or("(unnamed)")
                )
            })?;
        let (fmt, bits) = format(storage(self.g.ty(v).elem)?);
        let r = self.dram.constant(data, fmt, bits)?;
        self.regions.insert(v, r);
        Ok(r)
    }

    /// Accumulators per half.
    pub fn acc_half(&self) -> u64 {
        u64::from(self.hw.cols) * u64::from(self.hw.acc_entries) / 2
    }

    /// A mode for layers that do not use the array, with sums wrapping at `acc_bits`.
    pub fn plain_config(&self, acc_bits: u8) -> Config {
        let rate = self.hw.modes[0];
        let pe = qweave_hw::pe::choices(self.hw, rate, Format::Signed, Format::Signed, 1)
            .first()
            .copied()
            .unwrap_or(qweave_hw::pe::PeMode::BRICKS);
        pe.apply(Config {
            w: rate.mode.w,
            a: rate.mode.a,
            wfmt: Format::Signed,
            afmt: Format::Signed,
            acc_bits,
            ..Config::zeroed()
        })
    }

    /// The post-processing op `op` on a tensor of `planes` channels, its parameters packed;
    /// an error when a constant it loads into the accumulators does not fit them.
    pub fn post(&mut self, op: qweave_ir::Op, planes: u64) -> Result<post::Post, String> {
        let p = post::Post::prepare(self.g, &mut self.dram, op, planes)?;
        if let post::Post::Alu { .. } = p {
            let d = &self.g.ops[op];
            for &v in &d.operands {
                if self.g.const_data(v).is_some() {
                    self.fits_acc(v)?;
                }
            }
        }
        Ok(p)
    }

    /// An error unless the tables of `posts` fit the activation table together.
    pub fn check_tables(&self, posts: &[post::Post]) -> Result<(), String> {
        let need: u64 = posts.iter().map(post::Post::lut_entries).sum();
        if need > u64::from(self.hw.post.lut_entries) {
            return Err(format!(
                "its tables need {need} entries but the activation table holds {}",
                self.hw.post.lut_entries
            ));
        }
        Ok(())
    }

    /// An error unless every value of `v`'s type fits an accumulator.
    pub fn fits_acc(&self, v: Value) -> Result<(), String> {
        let s = storage(self.g.ty(v).elem)?;
        let bits = self.hw.acc_bits;
        let (lo, hi) = qweave_hw::isa::packing::range(Format::Signed, bits);
        if s.min() < lo || s.max() > hi {
            return Err(format!(
                "its {s} values do not fit the {bits}-bit accumulators of target {}; \
                 narrow the intermediate (requantize earlier) or pick a target with wider \
                 accumulators",
                self.hw.target
            ));
        }
        Ok(())
    }
}

/// Compiles `g`, a graph at the q level (or the hw level, whose ops' bindings it follows),
/// for `hw`, with the emitter's default bindings for unbound layers.
pub fn compile(g: &Graph, hw: &HwConfig) -> Result<Compiled, CompileError> {
    compile_with(g, hw, &[])
}

/// Compiles `g` for `hw`, running each layer on the array with its binding in `bindings`
/// (by layer index), else its op's own, else the default.
pub fn compile_with(
    g: &Graph,
    hw: &HwConfig,
    bindings: &[Option<Binding>],
) -> Result<Compiled, CompileError> {
    let plan = plan::plan(g).map_err(|u| CompileError {
        layer: plan::op_name(g, u.op),
        op: g.ops[u.op].kind.name(),
        message: u.message,
    })?;
    let graph_err = |message: String| CompileError {
        layer: g.name.clone(),
        op: "graph",
        message,
    };
    hw.validate().map_err(|e| graph_err(e.to_string()))?;
    let mut e = Emitter {
        g,
        hw,
        dram: Dram::default(),
        regions: HashMap::new(),
        s: Streams::new(),
        layer: 0,
        bindings,
        shapes: Vec::new(),
    };
    allocate(&mut e, &plan).map_err(graph_err)?;
    let mut layers = Vec::with_capacity(plan.layers.len());
    for (index, layer) in plan.layers.iter().enumerate() {
        let first = match &layer.anchor {
            Anchor::Conv(op) | Anchor::Pool(op) | Anchor::Concat(op) => *op,
            Anchor::Binary { op, .. } => *op,
            Anchor::Load(_) => layer.post[0],
        };
        let err = |message: String| CompileError {
            layer: layer.name.clone(),
            op: g.ops[first].kind.name(),
            message,
        };
        let index = u16::try_from(index)
            .map_err(|_| err("more than 65535 layers; the layer field is 16 bits".into()))?;
        e.s.layer(index);
        e.layer = usize::from(index);
        let Mapping {
            mode,
            pe,
            tiles,
            array,
        } = match &layer.anchor {
            Anchor::Conv(op) => conv::emit(&mut e, layer, *op),
            _ => map::emit(&mut e, layer),
        }
        .map_err(err)?;
        let region = e.regions[&layer.result];
        let mut ops: Vec<&'static str> = Vec::new();
        if let Anchor::Binary { pre, .. } = &layer.anchor {
            ops.extend(pre.iter().flatten().map(|&o| g.ops[o].kind.name()));
        }
        if !matches!(layer.anchor, Anchor::Load(_)) {
            ops.push(g.ops[first].kind.name());
        }
        ops.extend(layer.post.iter().map(|&o| g.ops[o].kind.name()));
        // names are the layers' source nodes; a node lowered into several layers numbers them
        let mut name = layer.name.clone();
        let mut k = 1;
        while layers.iter().any(|l: &LayerInfo| l.name == name) {
            k += 1;
            name = format!("{}#{k}", layer.name);
        }
        layers.push(LayerInfo {
            name,
            ops,
            mode,
            pe,
            tiles,
            array,
            result: layer.result,
            region,
        });
    }
    let io = |hosts: &[plan::Host]| -> Result<Vec<Io>, CompileError> {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let region = *e.regions.get(&h.inner).ok_or_else(|| {
                    graph_err(if g.ty(h.inner).elem.is_float() {
                        format!(
                            "graph input or output {i} is float and no `onnx.quantize_linear` \
                             or `onnx.dequantize_linear` at the boundary converts it; quantize \
                             the model (`qweave quantize`)"
                        )
                    } else {
                        format!("graph input or output {i} is a constant, not a tensor in DRAM")
                    })
                })?;
                Ok(Io {
                    name: g.values[h.outer]
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("#{i}")),
                    outer: h.outer,
                    inner: h.inner,
                    host_op: h.op,
                    region,
                })
            })
            .collect()
    };
    if hw.serial && e.dram.size() > qweave_hw::serial::DRAM_BYTES {
        return Err(graph_err(format!(
            "the program needs {} bytes of DRAM, but the serial datapath addresses {} (the \
             UP5K's SPRAM)",
            e.dram.size(),
            qweave_hw::serial::DRAM_BYTES
        )));
    }
    let inputs = io(&plan.inputs)?;
    let outputs = io(&plan.outputs)?;
    let mut shapes = std::mem::take(&mut e.shapes);
    shapes.resize(layers.len(), None);
    let program = e.s.finish();
    if hw.serial {
        // the board shell holds the program above DRAM in the same SPRAM
        crate::rtl::board::check_memory(e.dram.size() as usize, program.len()).map_err(|m| {
            graph_err(format!(
                "{m}; the serial datapath's board runs it from there, so a smaller model or \
                 input is the way out"
            ))
        })?;
    }
    Ok(Compiled {
        shapes,
        program,
        dram: e.dram,
        layers,
        inputs,
        outputs,
    })
}

/// Gives every tensor crossing a layer boundary its DRAM region.
fn allocate(e: &mut Emitter<'_>, plan: &Plan) -> Result<(), String> {
    let g = e.g;
    let alloc = |e: &mut Emitter<'_>, v: Value| -> Result<(), String> {
        if e.regions.contains_key(&v) {
            return Ok(());
        }
        let ty = g.ty(v);
        let (fmt, bits) = format(storage(ty.elem).map_err(|m| {
            format!(
                "{}: {m}",
                g.values[v].name.as_deref().unwrap_or("a graph input")
            )
        })?);
        let r = e.dram.alloc(ty.numel() as u64, fmt, bits)?;
        e.regions.insert(v, r);
        Ok(())
    };
    for h in &plan.inputs {
        if !g.ty(h.inner).elem.is_float() {
            alloc(e, h.inner)?;
        }
    }
    for l in &plan.layers {
        alloc(e, l.result)?;
    }
    for &(r, src) in &plan.aliases {
        if let Some(&reg) = e.regions.get(&src) {
            e.regions.insert(r, reg);
        }
    }
    Ok(())
}
