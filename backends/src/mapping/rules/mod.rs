//! The rewrites, grouped by topic; `README.md` here says why each is sound.

mod modes;
mod packing;
mod tiling;

use super::lang::{Ctx, HwLang};
use egg::Rewrite;

/// Every rule.
pub fn all() -> Vec<Rewrite<HwLang, Ctx>> {
    let mut r = modes::rules();
    r.extend(packing::rules());
    r.extend(tiling::rules());
    r
}

/// Joins `node` to the class `class` (an equality the rule states); the node if that grew the
/// class.
fn join(eg: &mut egg::EGraph<HwLang, Ctx>, class: egg::Id, node: egg::Id) -> Option<egg::Id> {
    eg.union(class, node).then_some(node)
}

/// The class of `?x` in a match.
fn var(name: &str) -> egg::Var {
    name.parse().expect("a pattern variable")
}
