//! Hardware-aware precision search: per-layer widths from {8, 4, 2, 1} (weights and the
//! activations a layer reads, lowered together) for a float model, trading the accuracy the
//! interpreter measures on a data set against the cycles the mapped program models.
//!
//! The search is greedy and records every point it evaluates: from every layer at 8 bits it
//! repeatedly lowers the one layer whose next width saves the most cycles per point of
//! accuracy lost (a step that loses nothing wins outright), until the accuracy falls below
//! the floor (`max_drop` under the float model's), every layer is at 1 bit, or no narrower
//! step compiles. Each point is quantized after training (`ptq`, per-channel
//! weights, bias correction), lowered to the q level, scored by top-1 agreement (with the
//! labels, or with the float model's classes), and mapped onto the target with the e-graph
//! mapper. The Pareto front (accuracy up, cycles and DSP blocks down) is marked, and the
//! chosen point is the fastest within `max_drop` of the float model's accuracy.
//!
//! Widths are per layer: the array runs one mode per layer, so narrower channels beside a
//! wider one would run at the wider channel's mode and gain nothing.

use crate::class;
use qweave_backends::{mapping, program};
use qweave_hw::{HwConfig, Target};
use qweave_ir::{Graph, Tensor};
use qweave_passes::ptq::{BitRules, Calibration, PtqOptions};
use qweave_passes::{Pipeline, PipelineOptions};
use serde::Serialize;

/// The widths a layer may take, widest first.
pub const WIDTHS: [u8; 4] = [8, 4, 2, 1];

/// One evaluated assignment of widths.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Widths per weighted layer, in order, as `qweave quantize --bits` rules.
    pub rules: String,
    /// The widths, by layer name.
    pub bits: Vec<(String, u8)>,
    /// Top-1 agreement on the data set, 0 to 1.
    pub accuracy: f64,
    /// Modeled cycles of the mapped program.
    pub cycles: u64,
    /// The accelerator's DSP blocks and LUTs as mapped.
    pub dsp: u64,
    pub lut: u64,
    /// On the Pareto front.
    pub pareto: bool,
}

/// The search's result.
#[derive(Clone, Debug, Serialize)]
pub struct Exploration {
    /// The float model's accuracy (1 when scored against its own classes).
    pub float_accuracy: f64,
    /// Whether accuracy is against labels (else the float model's classes).
    pub labeled: bool,
    /// The largest accuracy drop allowed.
    pub max_drop: f64,
    /// Every point evaluated, in order.
    pub points: Vec<Point>,
    /// The index of the chosen point.
    pub chosen: usize,
}

/// What the search needs.
pub struct Options<'a> {
    pub target: Target,
    pub hw: &'a HwConfig,
    /// Calibration and evaluation items (one input list per item).
    pub items: &'a [Vec<Tensor>],
    /// A class label per item, if known.
    pub labels: Option<&'a [i64]>,
    pub max_drop: f64,
}

/// The QDQ model for `rules`, lowered to the q level.
fn quantized(float: &Graph, rules: &str, items: &[Vec<Tensor>]) -> Result<Graph, String> {
    let opts = PtqOptions {
        bits: BitRules::parse(rules)?,
        calibration: Calibration::MinMax,
        per_channel: true,
        bias_correction: true,
    };
    let mut g = qweave_passes::ptq::quantize(float, items, &opts)?.graph;
    Pipeline::parse("lower")
        .and_then(|p| p.run(&mut g, PipelineOptions { verify_each: false }, |_, _| {}))
        .map_err(|e| e.to_string())?;
    Ok(g)
}

/// The classes `g` predicts for `items`.
fn classes(g: &Graph, items: &[Vec<Tensor>]) -> Result<Vec<Option<usize>>, String> {
    items
        .iter()
        .map(|x| {
            qweave_interp::run(g, x)
                .map(|outs| class(&outs))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The share of `got` equal to `want`.
fn agreement(got: &[Option<usize>], want: &[Option<usize>]) -> f64 {
    let same = got
        .iter()
        .zip(want)
        .filter(|(a, b)| a.is_some() && a == b)
        .count();
    same as f64 / want.len().max(1) as f64
}

/// The weighted layers' names, in order.
fn layers(float: &Graph, items: &[Vec<Tensor>]) -> Result<Vec<String>, String> {
    let opts = PtqOptions {
        bits: BitRules::default(),
        calibration: Calibration::MinMax,
        per_channel: true,
        bias_correction: false,
    };
    let q = qweave_passes::ptq::quantize(float, &items[..1], &opts)?;
    Ok(q.weights.into_iter().map(|w| w.layer).collect())
}

fn rules_of(names: &[String], bits: &[u8]) -> String {
    let mut r = vec!["default=8".to_string()];
    r.extend(names.iter().zip(bits).map(|(n, b)| format!("{n}={b}")));
    r.join(",")
}

/// Searches widths for `float` (see the module's documentation); `progress` hears of each
/// point as it is evaluated.
pub fn explore(
    float: &Graph,
    opts: &Options<'_>,
    mut progress: impl FnMut(&Point),
) -> Result<Exploration, String> {
    let items = opts.items;
    if items.is_empty() {
        return Err("the data set holds no items".into());
    }
    let float_classes = classes(float, items)?;
    if float_classes.iter().any(Option::is_none) {
        return Err("the model's first output is not a [1, classes] score vector; the search scores top-1 classes".into());
    }
    let want: Vec<Option<usize>> = match opts.labels {
        Some(l) => {
            if l.len() != items.len() {
                return Err(format!("{} labels for {} items", l.len(), items.len()));
            }
            l.iter().map(|&c| usize::try_from(c).ok()).collect()
        }
        None => float_classes.clone(),
    };
    let float_accuracy = agreement(&float_classes, &want);
    let names = layers(float, items)?;
    let mut points: Vec<Point> = Vec::new();
    // a point, or (`Ok(Err)`) why the target cannot map these widths
    let mut eval =
        |bits: &[u8], points: &mut Vec<Point>| -> Result<Result<usize, String>, String> {
            let rules = rules_of(&names, bits);
            if let Some(i) = points.iter().position(|p| p.rules == rules) {
                return Ok(Ok(i));
            }
            let g = quantized(float, &rules, items)?;
            let accuracy = agreement(&classes(&g, items)?, &want);
            let m = match mapping::map(&g, opts.hw, opts.target, &mapping::Limits::default()) {
                Ok(m) => m,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let c = match program::compile_with(&g, &m.hw, &m.bindings) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let cycles = qweave_sim::time(&m.hw, &c.program)
                .map_err(|e| e.to_string())?
                .cycles;
            let r = qweave_hw::estimate(&m.hw, opts.target).map_err(|e| e.to_string())?;
            let p = Point {
                rules,
                bits: names.iter().cloned().zip(bits.iter().copied()).collect(),
                accuracy,
                cycles,
                dsp: r.dsp,
                lut: r.lut,
                pareto: false,
            };
            progress(&p);
            points.push(p);
            Ok(Ok(points.len() - 1))
        };
    let mut bits = vec![8u8; names.len()];
    let mut current = eval(&bits, &mut points)?
        .map_err(|e| format!("at 8 bits everywhere the model does not map onto the target: {e}"))?;
    let floor = float_accuracy - opts.max_drop;
    // below the floor, narrower steps only lose more: the descent stops at its first point there
    while points[current].accuracy >= floor - 1e-12 {
        let (cur_acc, cur_cycles) = (points[current].accuracy, points[current].cycles);
        let mut best: Option<(f64, usize, Vec<u8>)> = None;
        for l in 0..bits.len() {
            let Some(k) = WIDTHS.iter().position(|&w| w == bits[l]) else {
                continue;
            };
            let Some(&next) = WIDTHS.get(k + 1) else {
                continue;
            };
            let mut trial = bits.clone();
            trial[l] = next;
            // widths the target cannot map are not points
            let Ok(i) = eval(&trial, &mut points)? else {
                continue;
            };
            let saved = cur_cycles as f64 - points[i].cycles as f64;
            let lost = (cur_acc - points[i].accuracy).max(0.0);
            // cycles saved per point of accuracy lost; lossless steps first
            let score = if lost == 0.0 {
                1e12 + saved
            } else {
                saved / lost
            };
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, i, trial));
            }
        }
        let Some((_, i, trial)) = best else {
            break;
        };
        bits = trial;
        current = i;
    }
    // the Pareto front: no other point is at least as accurate, as fast and as small, and
    // better in one
    let dominated = |p: &Point| {
        points.iter().any(|q| {
            q.accuracy >= p.accuracy
                && q.cycles <= p.cycles
                && q.dsp <= p.dsp
                && (q.accuracy > p.accuracy || q.cycles < p.cycles || q.dsp < p.dsp)
        })
    };
    let front: Vec<bool> = points.iter().map(|p| !dominated(p)).collect();
    for (p, f) in points.iter_mut().zip(front) {
        p.pareto = f;
    }
    let chosen = (0..points.len())
        .filter(|&i| points[i].accuracy >= floor - 1e-12)
        .min_by(|&a, &b| {
            let (p, q) = (&points[a], &points[b]);
            p.cycles
                .cmp(&q.cycles)
                .then(q.accuracy.total_cmp(&p.accuracy))
        })
        .ok_or_else(|| {
            format!(
                "no width assignment stays within {:.2}% of the float model's accuracy ({:.2}%): \
                 even 8 bits reach only {:.2}%; raise --max-accuracy-drop or calibrate on more data",
                100.0 * opts.max_drop,
                100.0 * float_accuracy,
                100.0 * points[0].accuracy
            )
        })?;
    Ok(Exploration {
        float_accuracy,
        labeled: opts.labels.is_some(),
        max_drop: opts.max_drop,
        points,
        chosen,
    })
}
