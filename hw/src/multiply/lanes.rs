//! Packed lanes: several narrow products in one wide multiplier. Kernel packing (one product
//! per lane, WP486's shared operand when one side holds a single operand) and filter packing
//! (a 1-D convolution as a polynomial product, HiKonv), with the lane decode, the legality
//! check and the accumulation depth, all from the operands' value ranges.
//!
//! Packed operands are sums `Σ x_j · 2^(shift_j)`; their product is `Σ_k L_k · 2^(k·S)` for
//! lanes `L_k` of `S` bits (the top lane gets what is left of the register). Lane `k` decodes
//! as `P[k·S + S - 1 : k·S] + P[k·S - 1]`, sign-extended: the added bit is the borrow of the
//! signed lanes below. This is exact when every lane, accumulated, stays within its signed
//! width, which `Packing::check` proves for every operand in range.

use super::{Multiplier, Values, product_range, wrap};
use serde::{Deserialize, Serialize};

/// Where the packed operands sit and what each lane holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Weights `j` at `j·S`, activations `i` at `i·weights·S`: lane `j + i·weights` holds the
    /// one product `w_j·a_i`. Weights of different output channels times activations of
    /// different pixels (or, with one weight, WP486's shared weight).
    Kernel,
    /// Weights and activations both at `j·S`, `i·S`: lane `k` holds `Σ_{i+j=k} w_j·a_i`,
    /// `weights + activations - 1` lanes. Taps of one kernel row times neighbouring pixels of
    /// one input row: with the taps packed in reverse, lane `weights - 1 + x` is the row's
    /// contribution to output pixel `x`.
    Filter,
}

/// A port of the multiplier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// The wide port (27 bits on the DSP48E2, through the pre-adder).
    A,
    /// The narrow port.
    B,
}

/// Why a packing is not legal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Illegal {
    /// No operand on a side, or lanes of no bits.
    #[error("a packing needs an operand on each side and lanes of 1 bit or more")]
    Empty,
    /// A packed operand exceeds its port.
    #[error("the packed {what} do not fit the {bits}-bit port")]
    Port {
        /// Weights or activations.
        what: &'static str,
        /// The port's bits.
        bits: u8,
    },
    /// The lanes need more bits than the register has.
    #[error("{lanes} lanes overrun the {bits}-bit register")]
    Register {
        /// Lanes of the packing.
        lanes: usize,
        /// The register's bits.
        bits: u8,
    },
    /// A lane is too narrow for even one multiply's contribution.
    #[error("a lane of {bits} bits cannot hold its products")]
    Lane {
        /// The lane's bits.
        bits: u8,
    },
}

/// One way of packing `weights x activations` products into a multiplier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packing {
    /// The multiplier block.
    pub multiplier: Multiplier,
    /// What each lane holds.
    pub layout: Layout,
    /// Weights packed into one operand.
    pub weights: u8,
    /// Activations packed into the other.
    pub activations: u8,
    /// Bits `S` of each lane below the top one (product bits plus guard bits).
    pub lane_bits: u8,
    /// The port the packed weights go to; the activations take the other.
    pub weights_on: Port,
    /// The weights' values.
    pub w: Values,
    /// The activations' values.
    pub a: Values,
}

impl Packing {
    /// Products computed per multiply.
    pub fn products(&self) -> u32 {
        u32::from(self.weights) * u32::from(self.activations)
    }

    /// Lanes of the result.
    pub fn lanes(&self) -> usize {
        let (kp, np) = (usize::from(self.weights), usize::from(self.activations));
        match self.layout {
            Layout::Kernel => kp * np,
            Layout::Filter => kp + np - 1,
        }
    }

    /// The lane holding `w_j · a_i`.
    pub fn lane_of(&self, j: usize, i: usize) -> usize {
        match self.layout {
            Layout::Kernel => j + i * usize::from(self.weights),
            Layout::Filter => j + i,
        }
    }

    fn weight_shift(&self, j: usize) -> u32 {
        j as u32 * u32::from(self.lane_bits)
    }

    fn activation_shift(&self, i: usize) -> u32 {
        let s = u32::from(self.lane_bits);
        match self.layout {
            Layout::Kernel => i as u32 * u32::from(self.weights) * s,
            Layout::Filter => i as u32 * s,
        }
    }

    /// Bits of lane `k`: `S` below the top, what is left of the register at the top (zero or
    /// less when nothing is left).
    fn lane_width(&self, k: usize) -> i64 {
        let s = i64::from(self.lane_bits);
        if k + 1 < self.lanes() {
            s
        } else {
            i64::from(self.multiplier.p_bits()) - k as i64 * s
        }
    }

    /// Products summed in lane `k`.
    fn terms(&self, k: usize) -> i64 {
        let (kp, np) = (usize::from(self.weights), usize::from(self.activations));
        match self.layout {
            Layout::Kernel => 1,
            Layout::Filter => (0..kp).filter(|&j| k >= j && k - j < np).count() as i64,
        }
    }

    /// The range of one multiply's contribution to lane `k`.
    pub fn lane_range(&self, k: usize) -> (i64, i64) {
        let (lo, hi) = product_range(self.w, self.a);
        (lo * self.terms(k), hi * self.terms(k))
    }

    /// The range of a packed operand of `n` values at `shift(0..n)`, or `None` past `bits`.
    fn packed_range(
        values: Values,
        n: usize,
        shift: impl Fn(usize) -> u32,
        bits: u8,
    ) -> Option<(i128, i128)> {
        let (lo, hi) = values.range();
        let mut r = (0i128, 0i128);
        for j in 0..n {
            let sh = shift(j);
            if sh >= u32::from(bits) {
                return None;
            }
            r.0 += i128::from(lo) << sh;
            r.1 += i128::from(hi) << sh;
        }
        Some(r)
    }

    /// The accumulation depth (how many multiplies may be summed in the register before a
    /// lane can overflow), or why the packing is not legal.
    pub fn check(&self) -> Result<u64, Illegal> {
        let m = self.multiplier;
        if self.weights == 0 || self.activations == 0 || self.lane_bits == 0 {
            return Err(Illegal::Empty);
        }
        let (wbits, abits) = match self.weights_on {
            Port::A => (m.a_bits(), m.b_bits()),
            Port::B => (m.b_bits(), m.a_bits()),
        };
        let ports = [
            (
                "weights",
                Self::packed_range(self.w, self.weights.into(), |j| self.weight_shift(j), wbits),
                wbits,
            ),
            (
                "activations",
                Self::packed_range(
                    self.a,
                    self.activations.into(),
                    |i| self.activation_shift(i),
                    abits,
                ),
                abits,
            ),
        ];
        for (what, range, bits) in ports {
            let fits = range.is_some_and(|(lo, hi)| {
                i64::try_from(lo)
                    .is_ok_and(|lo| i64::try_from(hi).is_ok_and(|hi| m.port_holds(bits, lo, hi)))
            });
            if !fits {
                return Err(Illegal::Port { what, bits });
            }
        }
        // Each lane, and each sum of the lanes below a borrow (`R_k = Σ_{j<k} L_j·2^(j·S)`,
        // whose sign bit is the borrow), must stay within its signed width after `d`
        // multiplies; every bound is linear in `d`.
        let s = u32::from(self.lane_bits);
        let mut depth = u64::MAX;
        let mut below = (0i128, 0i128);
        for k in 0..self.lanes() {
            let width = self.lane_width(k);
            if width < 1 {
                return Err(Illegal::Register {
                    lanes: self.lanes(),
                    bits: m.p_bits(),
                });
            }
            let (lo, hi) = self.lane_range(k);
            depth = depth.min(within((i128::from(lo), i128::from(hi)), width as u32));
            if k > 0 {
                depth = depth.min(within(below, k as u32 * s));
            }
            below.0 += i128::from(lo) << (k as u32 * s);
            below.1 += i128::from(hi) << (k as u32 * s);
        }
        if depth == 0 {
            return Err(Illegal::Lane {
                bits: self.lane_bits,
            });
        }
        Ok(depth)
    }

    /// The accumulation depth; 0 when the packing is not legal.
    pub fn depth(&self) -> u64 {
        self.check().unwrap_or(0)
    }

    /// `weights` weights packed into one operand.
    pub fn pack_weights(&self, w: &[i64]) -> i64 {
        w.iter()
            .enumerate()
            .map(|(j, &v)| v << self.weight_shift(j))
            .sum()
    }

    /// `activations` activations packed into the other operand.
    pub fn pack_activations(&self, a: &[i64]) -> i64 {
        a.iter()
            .enumerate()
            .map(|(i, &v)| v << self.activation_shift(i))
            .sum()
    }

    /// The product register after multiplying two packed operands.
    pub fn multiply(&self, packed_w: i64, packed_a: i64) -> i64 {
        wrap(
            i128::from(packed_w) * i128::from(packed_a),
            self.multiplier.p_bits(),
        )
    }

    /// The register after adding a product to it.
    pub fn accumulate(&self, acc: i64, product: i64) -> i64 {
        wrap(
            i128::from(acc) + i128::from(product),
            self.multiplier.p_bits(),
        )
    }

    /// The lanes of a product register: each lane's field plus the borrow bit below it,
    /// sign-extended at the lane's width.
    pub fn decode(&self, p: i64) -> Vec<i64> {
        (0..self.lanes())
            .map(|k| {
                let shift = k as u32 * u32::from(self.lane_bits);
                let borrow = if k == 0 { 0 } else { (p >> (shift - 1)) & 1 };
                wrap(i128::from((p >> shift) + borrow), self.lane_width(k) as u8)
            })
            .collect()
    }

    /// What the lanes hold by plain arithmetic: the reference `decode` must equal.
    pub fn reference(&self, w: &[i64], a: &[i64]) -> Vec<i64> {
        let mut lanes = vec![0; self.lanes()];
        for (j, wj) in w.iter().enumerate() {
            for (i, ai) in a.iter().enumerate() {
                lanes[self.lane_of(j, i)] += wj * ai;
            }
        }
        lanes
    }

    /// A short name: plain, shared weight / activation (WP486), kernel or filter packing.
    pub fn scheme(&self) -> String {
        let (kp, np) = (self.weights, self.activations);
        match (self.layout, kp, np) {
            (_, 1, 1) => "plain".into(),
            (Layout::Kernel, _, 1) => format!("shared activation x{kp}"),
            (Layout::Kernel, 1, _) => format!("shared weight x{np}"),
            (Layout::Kernel, _, _) => format!("kernel {kp}x{np}"),
            (Layout::Filter, _, _) => format!("filter {kp}x{np}"),
        }
    }
}

impl std::fmt::Display for Packing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {}: {} {} x {} {}, {} lane(s) of {} bits, depth {}",
            self.scheme(),
            self.multiplier.name(),
            self.weights,
            self.w,
            self.activations,
            self.a,
            self.lanes(),
            self.lane_bits,
            self.depth()
        )
    }
}

/// Every distinct legal packing of `w` by `a` on `m`, with filter packing limited to
/// `max_taps` taps (a kernel row's width): for each layout and shape the lane width and port
/// assignment with the deepest accumulation. Ordered by shape.
pub fn legal(m: Multiplier, w: Values, a: Values, max_taps: u8) -> Vec<Packing> {
    let mut out = Vec::new();
    for layout in [Layout::Kernel, Layout::Filter] {
        let max_kp = if layout == Layout::Filter {
            max_taps
        } else {
            m.p_bits()
        };
        for kp in 1..=max_kp {
            let mut any_np = false;
            for np in 1..=m.p_bits() {
                if layout == Layout::Filter && (kp == 1 || np == 1) {
                    // The same lanes as kernel packing with one operand on a side.
                    any_np = true;
                    continue;
                }
                let best = deepest(m, layout, kp, np, w, a);
                match best {
                    Some(p) => {
                        any_np = true;
                        out.push(p);
                    }
                    None => break,
                }
            }
            if !any_np {
                break;
            }
        }
    }
    out
}

/// The most multiplies `d` for which `d·lo..=d·hi` stays within `bits` signed bits.
fn within((lo, hi): (i128, i128), bits: u32) -> u64 {
    let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    let mut d = u64::MAX;
    if hi > 0 {
        d = d.min(u64::try_from(max / hi).unwrap_or(u64::MAX));
    }
    if lo < 0 {
        d = d.min(u64::try_from(min / lo).unwrap_or(u64::MAX));
    }
    d
}

/// The deepest legal packing of one shape, over lane widths and port assignments.
fn deepest(m: Multiplier, layout: Layout, kp: u8, np: u8, w: Values, a: Values) -> Option<Packing> {
    let mut best: Option<(u64, Packing)> = None;
    for weights_on in [Port::A, Port::B] {
        for lane_bits in 1..=m.p_bits() {
            let p = Packing {
                multiplier: m,
                layout,
                weights: kp,
                activations: np,
                lane_bits,
                weights_on,
                w,
                a,
            };
            match p.check() {
                Ok(d) => {
                    if best.is_none_or(|(bd, _)| d > bd) {
                        best = Some((d, p));
                    }
                }
                // Wider lanes only make the packed operands and the lanes above wider.
                Err(Illegal::Port { .. } | Illegal::Register { .. }) => break,
                Err(_) => {}
            }
        }
    }
    // One lane is the whole register, whatever `S` says.
    best.map(|(_, p)| Packing {
        lane_bits: if p.lanes() == 1 {
            m.p_bits()
        } else {
            p.lane_bits
        },
        ..p
    })
}

/// The packing with the most products per multiply (then the deepest accumulation, then
/// kernel before filter layout).
pub fn best(m: Multiplier, w: Values, a: Values, max_taps: u8) -> Option<Packing> {
    legal(m, w, a, max_taps).into_iter().max_by(|x, y| {
        (x.products(), x.depth(), x.layout == Layout::Kernel).cmp(&(
            y.products(),
            y.depth(),
            y.layout == Layout::Kernel,
        ))
    })
}
