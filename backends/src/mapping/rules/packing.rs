//! Packing: a layer in a mode computes the same integers with every packing its PE could be
//! built with for that mode, its operands' formats and its kernel (`qweave_hw::multiply`
//! proves each exact for every operand value of the mode's widths).

use super::{join, var};
use crate::mapping::lang::{Ctx, HwLang, Meaning, pack_node};
use egg::{Applier, EGraph, Id, PatternAst, Rewrite, Subst, Symbol};
use qweave_hw::pe;

pub fn rules() -> Vec<Rewrite<HwLang, Ctx>> {
    let lhs: egg::Pattern<HwLang> = "(impl ?x)".parse().expect("pattern");
    vec![Rewrite::new("any-legal-packing", lhs, AnyLegalPacking).expect("rule")]
}

/// `(impl (mode w a x))` => `(impl (pack k kp np lane port (mode w a x)))` for the fastest
/// legal packings of the mode (at most `packings_per_mode`).
struct AnyLegalPacking;

impl Applier<HwLang, Ctx> for AnyLegalPacking {
    fn apply_one(
        &self,
        eg: &mut EGraph<HwLang, Ctx>,
        class: Id,
        subst: &Subst,
        _: Option<&PatternAst<HwLang>>,
        _: Symbol,
    ) -> Vec<Id> {
        let x = subst[var("?x")];
        let Meaning::Moded(l, mode) = eg[x].data else {
            return vec![];
        };
        let ctx = &eg.analysis;
        let shape = &ctx.layers[l].job.shape;
        let Some(rate) = shape.rate(mode) else {
            return vec![];
        };
        let mut pes = pe::candidates(&ctx.hw, rate, shape.wfmt, shape.afmt, shape.taps);
        pes.truncate(ctx.packings_per_mode);
        let mut changed = vec![];
        for p in pes {
            let packed = pack_node(eg, p, x);
            let imp = eg.add(HwLang::Impl([packed]));
            changed.extend(join(eg, class, imp));
        }
        changed
    }
}
