//! Tiling: a layer computes the same integers however its outputs are split into tiles
//! (groups, filters, rows) and however its reduction is split into input-channel chunks that
//! accumulate (integer addition, even wrapping at the accumulator width, is associative and
//! commutative).

use super::{join, var};
use crate::mapping::lang::{Ctx, HwLang, Meaning, tile_node};
use crate::program::tiling::Tile;
use egg::{Applier, EGraph, Id, PatternAst, Rewrite, Subst, Symbol};

pub fn rules() -> Vec<Rewrite<HwLang, Ctx>> {
    let imp: egg::Pattern<HwLang> = "(impl ?p)".parse().expect("pattern");
    let tile = || -> egg::Pattern<HwLang> { "(tile ?g ?m ?c ?r ?p)".parse().expect("pattern") };
    vec![
        Rewrite::new("one-tile", imp, OneTile).expect("rule"),
        Rewrite::new("halve-groups", tile(), Split(Dim::G)).expect("rule"),
        Rewrite::new("halve-filters", tile(), Split(Dim::M)).expect("rule"),
        Rewrite::new("halve-channels", tile(), Split(Dim::C)).expect("rule"),
        Rewrite::new("halve-rows", tile(), Split(Dim::R)).expect("rule"),
        Rewrite::new("fill-rows", tile(), FillRows).expect("rule"),
    ]
}

/// The tile of a `(tile g m c r p)` match and the layer and mode of `p`.
fn matched(eg: &EGraph<HwLang, Ctx>, subst: &Subst) -> Option<(Tile, usize, qweave_hw::Mode, Id)> {
    let num = |v: &str| match eg[subst[var(v)]].data {
        Meaning::Num(n) => Some(n),
        _ => None,
    };
    let p = subst[var("?p")];
    let Meaning::Packed(l, mode, _) = eg[p].data else {
        return None;
    };
    let t = Tile {
        g: num("?g")?,
        m: num("?m")?,
        c: num("?c")?,
        r: num("?r")?,
    };
    Some((t, l, mode, p))
}

fn add_tile(eg: &mut EGraph<HwLang, Ctx>, class: Id, t: Tile, p: Id) -> Vec<Id> {
    let id = tile_node(eg, t, p);
    join(eg, class, id).into_iter().collect()
}

/// `(impl (pack ...))` => `(tile G M C OH (pack ...))`: the whole layer as one tile.
struct OneTile;

impl Applier<HwLang, Ctx> for OneTile {
    fn apply_one(
        &self,
        eg: &mut EGraph<HwLang, Ctx>,
        class: Id,
        subst: &Subst,
        _: Option<&PatternAst<HwLang>>,
        _: Symbol,
    ) -> Vec<Id> {
        let p = subst[var("?p")];
        let Meaning::Packed(l, _, _) = eg[p].data else {
            return vec![];
        };
        let s = &eg.analysis.layers[l].job.shape;
        let t = Tile {
            g: s.groups,
            m: s.mpg,
            c: s.cpg,
            r: s.win.oh,
        };
        add_tile(eg, class, t, p)
    }
}

#[derive(Clone, Copy)]
enum Dim {
    G,
    M,
    C,
    R,
}

/// `(tile g m c r p)` => the same with one dimension halved (rounded up), while the tile does
/// not fit the buffers or the layer runs in fewer than `min_steps` steps.
struct Split(Dim);

impl Applier<HwLang, Ctx> for Split {
    fn apply_one(
        &self,
        eg: &mut EGraph<HwLang, Ctx>,
        class: Id,
        subst: &Subst,
        _: Option<&PatternAst<HwLang>>,
        _: Symbol,
    ) -> Vec<Id> {
        let Some((t, l, mode, p)) = matched(eg, subst) else {
            return vec![];
        };
        let ctx = &eg.analysis;
        let shape = &ctx.layers[l].job.shape;
        let fits = shape.fits(&ctx.hw, mode, t).is_ok();
        let steps = shape.tiles(t) * shape.cpg.div_ceil(t.c) * shape.slices;
        if fits && steps >= ctx.min_steps {
            return vec![];
        }
        let half = |v: u64| v.div_ceil(2);
        let next = match self.0 {
            Dim::G if t.g > 1 => Tile { g: half(t.g), ..t },
            Dim::M if t.m > 1 => Tile { m: half(t.m), ..t },
            Dim::C if t.c > 1 => Tile { c: half(t.c), ..t },
            Dim::R if t.r > 1 => Tile { r: half(t.r), ..t },
            _ => return vec![],
        };
        add_tile(eg, class, next, p)
    }
}

/// `(tile g m c r p)` => `(tile g m c r' p)` with `r'` the most output rows that fit beside
/// `g`, `m` and `c` (halving rows skips past it).
struct FillRows;

impl Applier<HwLang, Ctx> for FillRows {
    fn apply_one(
        &self,
        eg: &mut EGraph<HwLang, Ctx>,
        class: Id,
        subst: &Subst,
        _: Option<&PatternAst<HwLang>>,
        _: Symbol,
    ) -> Vec<Id> {
        let Some((t, l, mode, p)) = matched(eg, subst) else {
            return vec![];
        };
        let ctx = &eg.analysis;
        let shape = &ctx.layers[l].job.shape;
        if shape.fits(&ctx.hw, mode, Tile { r: 1, ..t }).is_err() {
            return vec![];
        }
        // the largest fitting r, by bisection (fitting is monotone in r)
        let (mut lo, mut hi) = (1, shape.win.oh);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if shape.fits(&ctx.hw, mode, Tile { r: mid, ..t }).is_ok() {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo == t.r {
            return vec![];
        }
        add_tile(eg, class, Tile { r: lo, ..t }, p)
    }
}
