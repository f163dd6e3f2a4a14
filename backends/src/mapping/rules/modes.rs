//! Precision modes: a layer computes the same integers in every mode whose widths hold its
//! operands.

use super::{join, var};
use crate::mapping::lang::{Ctx, HwLang, Meaning, mode_node};
use egg::{Applier, EGraph, Id, PatternAst, Rewrite, Subst, Symbol};

pub fn rules() -> Vec<Rewrite<HwLang, Ctx>> {
    let lhs: egg::Pattern<HwLang> = "(impl ?x)".parse().expect("pattern");
    vec![Rewrite::new("any-covering-mode", lhs, AnyCoveringMode).expect("rule")]
}

/// `(impl (layer i))` => `(impl (mode w a (layer i)))` for every mode of the PE that holds
/// the layer's operand widths (a bit-sliced layer: its slices' mode).
struct AnyCoveringMode;

impl Applier<HwLang, Ctx> for AnyCoveringMode {
    fn apply_one(
        &self,
        eg: &mut EGraph<HwLang, Ctx>,
        class: Id,
        subst: &Subst,
        _: Option<&PatternAst<HwLang>>,
        _: Symbol,
    ) -> Vec<Id> {
        let x = subst[var("?x")];
        let Meaning::Layer(l) = eg[x].data else {
            return vec![];
        };
        let modes: Vec<_> = eg.analysis.layers[l]
            .job
            .shape
            .modes
            .iter()
            .map(|m| m.mode)
            .collect();
        let mut changed = vec![];
        for m in modes {
            let moded = mode_node(eg, m, x);
            let imp = eg.add(HwLang::Impl([moded]));
            changed.extend(join(eg, class, imp));
        }
        changed
    }
}
