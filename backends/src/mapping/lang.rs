//! The e-graph language of hw-level choices, and the analysis that tells what each e-class
//! stands for.
//!
//! A layer on the array is `(layer i)`; `(impl x)` is "x computed exactly", the class every
//! implementation of a layer joins. The rewrites (`rules/`) add to that class:
//! `(impl (mode w a (layer i)))` — the layer with its operands read in mode `wWaA`;
//! `(impl (pack k kp np lane port (mode ...)))` — its products computed with PE packing `k`;
//! `(tile g m c r (pack ...))` — computed in tiles of `g` groups, `m` filters, `c` input
//! channels and `r` output rows. The network is `(net (impl ...) ...)`.

use crate::program::Binding;
use crate::program::tiles::ConvJob;
use crate::program::tiling::Tile;
use egg::{Analysis, DidMerge, EGraph, Id, Symbol, define_language};
use qweave_hw::isa::{MulPort, Pack};
use qweave_hw::pe::PeMode;
use qweave_hw::{HwConfig, Mode};

define_language! {
    /// Hardware choices for the layers on the array.
    pub enum HwLang {
        "layer" = Layer([Id; 1]),
        "impl" = Impl([Id; 1]),
        "mode" = Mode([Id; 3]),
        "pack" = Pack([Id; 6]),
        "tile" = Tile([Id; 5]),
        "net" = Net(Box<[Id]>),
        Num(u64),
        Word(Symbol),
    }
}

/// What an e-class stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    Num(u64),
    Word(Symbol),
    /// Array layer `i` (an index into the context's layers).
    Layer(usize),
    /// A layer read in a mode.
    Moded(usize, Mode),
    /// A layer in a mode with a packing.
    Packed(usize, Mode, PeMode),
    /// Every exact implementation of a layer.
    Impl(usize),
    /// The network.
    Net,
    /// A term the language admits but that means nothing (a malformed child).
    Invalid,
}

/// One layer on the array as the mapper sees it.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Its index among all the program's layers.
    pub index: usize,
    /// Its shape and placed operands.
    pub job: ConvJob,
    /// The emitter's default binding.
    pub default: Binding,
}

/// The analysis: the layers, the hardware the rewrites check fits against, and the limits.
pub struct Ctx {
    pub layers: Vec<Layer>,
    /// The accelerator with every candidate packing built (for fit checks and timing).
    pub hw: HwConfig,
    /// Packings per layer and mode the packing rule adds, fastest first.
    pub packings_per_mode: usize,
    /// A tile that fits is split further only while the layer runs in fewer steps (tiles
    /// times input-channel chunks) than this.
    pub min_steps: u64,
}

fn pack_word(p: Pack) -> Symbol {
    Symbol::from(p.name())
}

/// The term for packing `pe` of the class `x`.
pub fn pack_node(eg: &mut EGraph<HwLang, Ctx>, pe: PeMode, x: Id) -> Id {
    let k = eg.add(HwLang::Word(pack_word(pe.pack)));
    let kp = eg.add(HwLang::Num(pe.kp.into()));
    let np = eg.add(HwLang::Num(pe.np.into()));
    let lane = eg.add(HwLang::Num(pe.lane.into()));
    let port = eg.add(HwLang::Word(Symbol::from(pe.wport.name())));
    eg.add(HwLang::Pack([k, kp, np, lane, port, x]))
}

/// The term for tile `t` of the class `p`.
pub fn tile_node(eg: &mut EGraph<HwLang, Ctx>, t: Tile, p: Id) -> Id {
    let [g, m, c, r] = [t.g, t.m, t.c, t.r].map(|v| eg.add(HwLang::Num(v)));
    eg.add(HwLang::Tile([g, m, c, r, p]))
}

/// The term for mode `m` of the class `x`.
pub fn mode_node(eg: &mut EGraph<HwLang, Ctx>, m: Mode, x: Id) -> Id {
    let w = eg.add(HwLang::Num(m.w.into()));
    let a = eg.add(HwLang::Num(m.a.into()));
    eg.add(HwLang::Mode([w, a, x]))
}

impl Analysis<HwLang> for Ctx {
    type Data = Meaning;

    fn make(eg: &mut EGraph<HwLang, Self>, enode: &HwLang, _id: Id) -> Meaning {
        let d = |id: &Id| eg[*id].data;
        let num = |id: &Id| match eg[*id].data {
            Meaning::Num(n) => u8::try_from(n).ok(),
            _ => None,
        };
        match enode {
            HwLang::Num(n) => Meaning::Num(*n),
            HwLang::Word(w) => Meaning::Word(*w),
            HwLang::Layer([x]) => match d(x) {
                Meaning::Num(n) => Meaning::Layer(n as usize),
                _ => Meaning::Invalid,
            },
            HwLang::Mode([w, a, x]) => match (num(w), num(a), d(x)) {
                (Some(w), Some(a), Meaning::Layer(l)) => Meaning::Moded(l, Mode { w, a }),
                _ => Meaning::Invalid,
            },
            HwLang::Pack([k, kp, np, lane, port, x]) => {
                let word = |id: &Id, names: &[&str]| match eg[*id].data {
                    Meaning::Word(w) => names.iter().position(|n| *n == w.as_str()),
                    _ => None,
                };
                match (
                    word(k, Pack::NAMES),
                    num(kp),
                    num(np),
                    num(lane),
                    word(port, MulPort::NAMES),
                    d(x),
                ) {
                    (Some(k), Some(kp), Some(np), Some(lane), Some(port), Meaning::Moded(l, m)) => {
                        let pe = PeMode {
                            pack: Pack::ALL[k],
                            kp,
                            np,
                            lane,
                            wport: MulPort::ALL[port],
                        };
                        Meaning::Packed(l, m, pe)
                    }
                    _ => Meaning::Invalid,
                }
            }
            HwLang::Impl([x]) => match d(x) {
                Meaning::Layer(l) | Meaning::Moded(l, _) | Meaning::Packed(l, _, _) => {
                    Meaning::Impl(l)
                }
                _ => Meaning::Invalid,
            },
            HwLang::Tile([.., p]) => match d(p) {
                Meaning::Packed(l, _, _) => Meaning::Impl(l),
                _ => Meaning::Invalid,
            },
            HwLang::Net(_) => Meaning::Net,
        }
    }

    fn merge(&mut self, a: &mut Meaning, b: Meaning) -> DidMerge {
        // the rules only ever join implementations of one layer
        debug_assert!(*a == b, "merged {a:?} with {b:?}");
        DidMerge(false, false)
    }
}
