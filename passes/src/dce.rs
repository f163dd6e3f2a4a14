//! `dce`: removes ops whose results no graph output depends on.
//!
//! Every op in the IR is pure, so an op is dead exactly when none of its results is reachable
//! backwards from the graph outputs. Graph inputs are the graph's interface and stay, used
//! or not. The graph is compacted afterwards so dead ops do not linger in the arenas.

use crate::{Pass, PassError};
use qweave_ir::{Graph, HandleMap, ValueData};

/// The dead-code elimination pass.
pub struct Dce;

impl Pass for Dce {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let mut live: HandleMap<ValueData, bool> = HandleMap::new();
        for &v in &g.outputs {
            live.insert(v, true);
        }
        let mut keep = Vec::with_capacity(g.order.len());
        for &op in g.order.iter().rev() {
            let data = &g.ops[op];
            let alive = data.results.iter().any(|&r| live[r]);
            if alive {
                for &v in &data.operands {
                    live.insert(v, true);
                }
            }
            keep.push(alive);
        }
        keep.reverse();
        if keep.iter().all(|&k| k) {
            return Ok(false);
        }
        let mut flags = keep.into_iter();
        g.retain(|_, _| flags.next().unwrap_or(true));
        g.compact();
        Ok(true)
    }
}
