//! Extraction under the target's global budget.
//!
//! egg's `Extractor` picks, in each e-class on its own, the e-node of least cost, with a
//! term's cost a sum over its nodes. That cannot honour a budget: which packings the PEs are
//! built with is one choice for the whole accelerator; it costs LUTs once however many layers
//! use it, and it decides which e-nodes are usable at all. So this extractor works in two
//! steps:
//!
//! 1. For each layer and each packing `q` (a mode and its `PeMode`) in the layer's class, the
//!    best tile: over the class's tile e-nodes of `q` that fit the buffers, in order of a
//!    lower bound (the sum of the layer's `gemm` cycles, which the compute queue runs one
//!    after another), time each exactly (the cycle model's timing of the instructions the
//!    layer would hold) until the bound reaches the best time found. This is exact: no
//!    skipped tile can be faster.
//! 2. Over the sets `S` of packings, the cost is `Σ_layers min_{q ∈ S} best(layer, q)`, and
//!    `S` is feasible when the accelerator built with it fits the target (`estimate`). With
//!    at most `EXHAUSTIVE` candidate packings every set is tried; beyond, a greedy descent
//!    from the set of each layer's favourite drops the packing whose loss is least until the
//!    set fits.
//!
//! Guarantee (exhaustive case): among all choices of one e-node per layer class from the
//! e-graph (every mode, packing and tile it holds) together with a set of packings to
//! build, the result minimizes the sum of the layers' cycles, each timed alone, subject to
//! the target's LUT, DSP and block RAM limits; ties go to fewer LUTs. Layers run one after
//! another between barriers, so the sum is the program's time up to the overlap at layer
//! boundaries. LUT PEs have no packing to build, and the result is each layer's best.

use super::lang::{Ctx, HwLang, Meaning};
use crate::program::Binding;
use crate::program::tiles;
use crate::program::tiling::Tile;
use egg::{EGraph, Id};
use qweave_hw::pe::PeMode;
use qweave_hw::{HwConfig, Mode, Packed, PeKind, Target};
use std::collections::HashMap;

/// Candidate packings beyond which the set is chosen greedily.
pub const EXHAUSTIVE: usize = 16;

/// A packing in a mode.
pub type Q = (Mode, PeMode);

/// The best tile of one packing for one layer.
#[derive(Clone, Copy, Debug)]
pub struct Best {
    pub binding: Binding,
    pub cycles: u64,
}

/// What the extractor chose.
#[derive(Clone, Debug)]
pub struct Extraction {
    /// The packings the PEs are built with (empty for LUT PEs).
    pub packings: Vec<Packed>,
    /// Per array layer, its binding and cycles alone.
    pub layers: Vec<Best>,
    /// Whether every set of packings was tried.
    pub exhaustive: bool,
    /// Tile e-nodes considered (fitting the buffers), and how many were timed.
    pub candidates: usize,
    pub timed: usize,
}

/// The tile e-nodes of a layer's class that fit, by packing.
fn tiles_by_packing(eg: &EGraph<HwLang, Ctx>, class: Id) -> HashMap<Q, Vec<Binding>> {
    let ctx = &eg.analysis;
    let mut out: HashMap<Q, Vec<Binding>> = HashMap::new();
    for node in &eg[class].nodes {
        let HwLang::Tile([g, m, c, r, p]) = node else {
            continue;
        };
        let num = |id: &Id| match eg[*id].data {
            Meaning::Num(n) => Some(n),
            _ => None,
        };
        let (Some(g), Some(m), Some(c), Some(r), Meaning::Packed(l, mode, pe)) =
            (num(g), num(m), num(c), num(r), eg[*p].data)
        else {
            continue;
        };
        let tile = Tile { g, m, c, r };
        if ctx.layers[l].job.shape.fits(&ctx.hw, mode, tile).is_ok() {
            out.entry((mode, pe))
                .or_default()
                .push(Binding { mode, pe, tile });
        }
    }
    out
}

/// Per layer, the best tile of each packing its class holds (step 1).
fn best_tiles(
    eg: &EGraph<HwLang, Ctx>,
    impls: &[Id],
    candidates: &mut usize,
    timed: &mut usize,
) -> Result<Vec<HashMap<Q, Best>>, String> {
    let ctx = &eg.analysis;
    let mut out = Vec::with_capacity(impls.len());
    for (l, &id) in impls.iter().enumerate() {
        let job = &ctx.layers[l].job;
        let mut per_q = HashMap::new();
        for (q, bindings) in tiles_by_packing(eg, eg.find(id)) {
            *candidates += bindings.len();
            let mut bounded: Vec<(u64, Binding)> = bindings
                .into_iter()
                .map(|b| Ok((tiles::gemm_cycles(&ctx.hw, job, b)?, b)))
                .collect::<Result<_, String>>()?;
            bounded.sort_by_key(|&(lb, b)| (lb, b.tile.g, b.tile.m, b.tile.c, b.tile.r));
            let mut best: Option<Best> = None;
            for (lb, b) in bounded {
                if best.is_some_and(|x| lb >= x.cycles) {
                    break;
                }
                *timed += 1;
                let cycles = tiles::cycles(&ctx.hw, job, b)?;
                if best.is_none_or(|x| cycles < x.cycles) {
                    best = Some(Best { binding: b, cycles });
                }
            }
            if let Some(b) = best {
                per_q.insert(q, b);
            }
        }
        out.push(per_q);
    }
    Ok(out)
}

/// The cost of building `set`: the layers' cycles, or `None` if a layer has no packing in it.
fn cost(best: &[HashMap<Q, Best>], set: &[Q]) -> Option<(u64, Vec<Best>)> {
    let mut total = 0;
    let mut chosen = Vec::with_capacity(best.len());
    for per_q in best {
        let b = set
            .iter()
            .filter_map(|q| per_q.get(q))
            .min_by_key(|b| b.cycles)?;
        total += b.cycles;
        chosen.push(*b);
    }
    Some((total, chosen))
}

/// `base` built with the packings the chosen bindings use, and plain products in its first
/// mode (no decoder to build) for the layers that do not use the array.
fn built(base: &HwConfig, chosen: &[Best]) -> HwConfig {
    let mut packings: Vec<Packed> = vec![Packed {
        mode: base.modes[0].mode,
        pe: PeMode::PLAIN,
    }];
    for b in chosen {
        let p = Packed {
            mode: b.binding.mode,
            pe: b.binding.pe,
        };
        if !packings.contains(&p) {
            packings.push(p);
        }
    }
    HwConfig {
        packings,
        ..base.clone()
    }
}

/// Extracts one binding per layer class in `impls` and the packings to build (step 2).
pub fn extract(
    eg: &EGraph<HwLang, Ctx>,
    impls: &[Id],
    base: &HwConfig,
    target: Target,
) -> Result<Extraction, String> {
    let (mut candidates, mut timed) = (0, 0);
    let best = best_tiles(eg, impls, &mut candidates, &mut timed)?;
    let mut qs: Vec<Q> = Vec::new();
    for per_q in &best {
        for q in per_q.keys() {
            if !qs.contains(q) {
                qs.push(*q);
            }
        }
    }
    qs.sort_by_key(|(m, pe)| {
        (
            m.w,
            m.a,
            pe.pack as u8,
            pe.kp,
            pe.np,
            pe.lane,
            pe.wport as u8,
        )
    });
    let fits = |hw: &HwConfig| qweave_hw::estimate(hw, target).ok().map(|r| r.lut);
    let done = |chosen: Vec<Best>, exhaustive| {
        let hw = built(base, &chosen);
        Extraction {
            packings: if base.pe == PeKind::Dsp48e2 {
                hw.packings
            } else {
                Vec::new()
            },
            layers: chosen,
            exhaustive,
            candidates,
            timed,
        }
    };
    let no_fit = || {
        format!(
            "no set of packings lets every layer run within {}'s resources",
            target.name()
        )
    };
    if base.pe == PeKind::Lut {
        let (_, chosen) = cost(&best, &qs).ok_or_else(no_fit)?;
        return Ok(done(chosen, true));
    }
    if qs.len() <= EXHAUSTIVE {
        let mut winner: Option<(u64, u64, Vec<Best>)> = None;
        for mask in 1u32..(1 << qs.len()) {
            let set: Vec<Q> = (0..qs.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| qs[i])
                .collect();
            let Some((total, chosen)) = cost(&best, &set) else {
                continue;
            };
            if winner.as_ref().is_some_and(|w| total > w.0) {
                continue;
            }
            let Some(lut) = fits(&built(base, &chosen)) else {
                continue;
            };
            if winner.as_ref().is_none_or(|w| (total, lut) < (w.0, w.1)) {
                winner = Some((total, lut, chosen));
            }
        }
        let (_, _, chosen) = winner.ok_or_else(no_fit)?;
        return Ok(done(chosen, true));
    }
    // greedy: from every packing, drop the one whose loss is least until the set fits
    let mut set = qs.clone();
    loop {
        let (_, chosen) = cost(&best, &set).ok_or_else(no_fit)?;
        let used: Vec<Q> = chosen
            .iter()
            .map(|b| (b.binding.mode, b.binding.pe))
            .collect();
        set.retain(|q| used.contains(q));
        if fits(&built(base, &chosen)).is_some() {
            return Ok(done(chosen, false));
        }
        let drop = (0..set.len())
            .filter_map(|i| {
                let mut s = set.clone();
                s.remove(i);
                cost(&best, &s).map(|(t, _)| (t, i))
            })
            .min()
            .ok_or_else(no_fit)?;
        set.remove(drop.1);
    }
}
