//! The packing arithmetic against plain products: exhaustive for operands up to 4 bits, at
//! random at 8 bits, and at the accumulation-depth limit.

use super::*;
use crate::Target;
use crate::config::PeKind;

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick(&mut self, v: Values) -> i64 {
        let all = v.all();
        all[(self.next() % all.len() as u64) as usize]
    }

    fn pick_n(&mut self, v: Values, n: u8) -> Vec<i64> {
        (0..n).map(|_| self.pick(v)).collect()
    }
}

const MULTIPLIERS: [Multiplier; 2] = [DSP48E2, SB_MAC16];

/// Weight values (stored minus their zero point, so signed) and activation values.
fn operand_kinds(max_bits: u8) -> (Vec<Values>, Vec<Values>) {
    let mut w: Vec<Values> = (1..=max_bits).map(Values::Signed).collect();
    w.push(Values::Bipolar);
    let mut a: Vec<Values> = (1..=max_bits).map(Values::Unsigned).collect();
    a.extend((1..=max_bits).map(Values::Signed));
    a.push(Values::Bipolar);
    (w, a)
}

/// Every legal packing of the operand kinds up to `max_bits` on both multipliers, for 1x1
/// and 3x3 kernels.
fn all_packings(max_bits: u8) -> Vec<Packing> {
    let (ws, as_) = operand_kinds(max_bits);
    let mut out = Vec::new();
    for m in MULTIPLIERS {
        for &w in &ws {
            for &a in &as_ {
                out.extend(legal(m, w, a, 3));
            }
        }
    }
    out
}

/// Checks one multiply of `w` by `a`: packed ports in range, lanes equal to the reference.
fn check_one(p: &Packing, w: &[i64], a: &[i64]) {
    let (pw, pa) = (p.pack_weights(w), p.pack_activations(a));
    let got = p.decode(p.multiply(pw, pa));
    assert_eq!(got, p.reference(w, a), "{p}: w {w:?} a {a:?}");
}

/// Every tuple of `n` values of `v`, as a mixed-radix counter.
fn tuples(v: Values, n: u8) -> Vec<Vec<i64>> {
    let all = v.all();
    let mut out = vec![vec![]];
    for _ in 0..n {
        out = out
            .into_iter()
            .flat_map(|t| {
                all.iter().map(move |&x| {
                    let mut t = t.clone();
                    t.push(x);
                    t
                })
            })
            .collect();
    }
    out
}

#[test]
fn every_legal_packing_is_exact_for_all_operands_up_to_4_bits() {
    let packings = all_packings(4);
    assert!(packings.len() > 100, "only {} packings", packings.len());
    let mut multiplies = 0u64;
    for p in &packings {
        let ws = tuples(p.w, p.weights);
        let as_ = tuples(p.a, p.activations);
        for w in &ws {
            for a in &as_ {
                check_one(p, w, a);
            }
        }
        multiplies += (ws.len() * as_.len()) as u64;
    }
    assert!(multiplies > 1_000_000, "{multiplies}");
}

#[test]
fn every_legal_packing_is_exact_at_random_up_to_8_bits() {
    let mut rng = Rng(8);
    for p in all_packings(8) {
        for _ in 0..300 {
            let (w, a) = (rng.pick_n(p.w, p.weights), rng.pick_n(p.a, p.activations));
            check_one(&p, &w, &a);
        }
    }
}

/// The operand values whose products reach the least (then the greatest) product.
fn corners(p: &Packing) -> [(i64, i64); 2] {
    let (wl, wh) = p.w.range();
    let (al, ah) = p.a.range();
    let c = [(wl, al), (wl, ah), (wh, al), (wh, ah)];
    let min = *c.iter().min_by_key(|(w, a)| w * a).expect("corners");
    let max = *c.iter().max_by_key(|(w, a)| w * a).expect("corners");
    [min, max]
}

#[test]
fn accumulation_is_exact_to_the_depth_limit_and_overflows_past_it() {
    for p in all_packings(8) {
        let depth = p.depth();
        assert!(depth >= 1, "{p}");
        let mut overflowed = false;
        for (wc, ac) in corners(&p) {
            let w = vec![wc; p.weights.into()];
            let a = vec![ac; p.activations.into()];
            let product = p.multiply(p.pack_weights(&w), p.pack_activations(&a));
            let lanes = p.reference(&w, &a);
            // Accumulating `d` equal products is `d` times the product, wrapped.
            let sum = |d: u64| wrap(i128::from(product) * i128::from(d), p.multiplier.p_bits());
            let scaled = |d: u64| lanes.iter().map(|l| l * d as i64).collect::<Vec<_>>();
            let at_limit = depth.min(1 << 40);
            assert_eq!(
                p.decode(sum(at_limit)),
                scaled(at_limit),
                "{p} at depth {at_limit}"
            );
            if depth < 1 << 40 {
                overflowed |= p.decode(sum(depth + 1)) != scaled(depth + 1);
            }
        }
        assert!(
            overflowed || depth >= 1 << 40,
            "{p}: depth {depth} is not tight"
        );
    }
}

#[test]
fn random_accumulations_within_the_depth_decode_exactly() {
    let mut rng = Rng(48);
    for p in all_packings(8) {
        for _ in 0..20 {
            let n = 1 + rng.next() % p.depth().min(64);
            let mut acc = 0;
            let mut want = vec![0; p.lanes()];
            for _ in 0..n {
                let (w, a) = (rng.pick_n(p.w, p.weights), rng.pick_n(p.a, p.activations));
                acc = p.accumulate(acc, p.multiply(p.pack_weights(&w), p.pack_activations(&a)));
                for (s, l) in want.iter_mut().zip(p.reference(&w, &a)) {
                    *s += l;
                }
            }
            assert_eq!(p.decode(acc), want, "{p} after {n} products");
        }
    }
}

#[test]
fn dsp48e2_products_reach_the_published_table_for_3x3_kernels() {
    let products =
        |b| best(DSP48E2, Values::Signed(b), Values::Unsigned(b), 3).map(|p| p.products());
    assert_eq!(products(8), Some(2));
    assert_eq!(products(4), Some(6));
    assert_eq!(products(2), Some(15));
    // WP486: two 8-bit weights share an activation in 18-bit lanes.
    let p = best(DSP48E2, Values::Signed(8), Values::Unsigned(8), 3).expect("w8a8");
    assert_eq!(
        (p.scheme().as_str(), p.lane_bits),
        ("shared activation x2", 18)
    );
    // With signed 8-bit activations and symmetric weights, WP486's depth of 8.
    let p = best(DSP48E2, Values::Signed(8), Values::Signed(8), 1).expect("w8a8");
    assert_eq!(p.products(), 2);
    // The -128 x -128 corner limits the depth to 7 here; WP486 quotes 8 without it.
    assert_eq!(p.depth(), 7);
}

#[test]
fn the_packing_tables_are_what_the_docs_say() {
    let table = |m: Multiplier, taps| -> Vec<(u8, u32)> {
        [8, 4, 2, 1]
            .into_iter()
            .map(|b| {
                (
                    b,
                    best(m, Values::Signed(b), Values::Unsigned(b), taps)
                        .map_or(0, |p| p.products()),
                )
            })
            .collect()
    };
    assert_eq!(table(DSP48E2, 3), [(8, 2), (4, 6), (2, 15), (1, 27)]);
    assert_eq!(table(DSP48E2, 1), [(8, 2), (4, 4), (2, 9), (1, 18)]);
    assert_eq!(table(SB_MAC16, 3), [(8, 1), (4, 4), (2, 9), (1, 18)]);
    assert_eq!(table(SB_MAC16, 1), [(8, 1), (4, 2), (2, 6), (1, 14)]);
}

#[test]
fn presets_claim_the_products_their_multipliers_compute() {
    for t in Target::ALL {
        let c = t.preset();
        for m in &c.modes {
            let (w, a) = (Values::Signed(m.mode.w), Values::Unsigned(m.mode.a));
            let products = match c.pe {
                PeKind::Lut => products_per_pe(w, a),
                PeKind::Dsp48e2 => best(DSP48E2, w, a, 3).expect("legal").products(),
            };
            assert_eq!(products, m.macs_per_cycle, "{} mode {}", t.name(), m.mode);
        }
    }
}

#[test]
fn fused_bricks_equal_plain_products_for_every_operand_up_to_8_bits() {
    let (ws, as_) = operand_kinds(8);
    for &wv in &ws {
        for &av in &as_ {
            for w in wv.all() {
                for a in av.all() {
                    assert_eq!(
                        fused_product(w, wv, a, av),
                        w * a,
                        "{w} ({wv}) x {a} ({av})"
                    );
                }
            }
        }
    }
    assert_eq!(products_per_pe(Values::Signed(8), Values::Unsigned(8)), 1);
    assert_eq!(products_per_pe(Values::Signed(4), Values::Unsigned(8)), 2);
    assert_eq!(products_per_pe(Values::Signed(3), Values::Unsigned(3)), 4);
    assert_eq!(products_per_pe(Values::Bipolar, Values::Unsigned(2)), 16);
}

#[test]
fn xnor_popcount_equals_the_bipolar_dot_product() {
    let mut rng = Rng(1);
    for n in (0..300).chain([64, 128, 1000]) {
        let w = rng
            .pick_n(Values::Bipolar, 0)
            .into_iter()
            .chain((0..n).map(|_| rng.pick(Values::Bipolar)))
            .collect::<Vec<_>>();
        let a: Vec<i64> = (0..n).map(|_| rng.pick(Values::Bipolar)).collect();
        let want: i64 = w.iter().zip(&a).map(|(x, y)| x * y).sum();
        let (ew, ea) = (
            xnor_encode(&w).expect("bipolar"),
            xnor_encode(&a).expect("bipolar"),
        );
        assert_eq!(xnor_dot(&ew, &ea, n), want, "n = {n}");
    }
    assert_eq!(xnor_encode(&[1, 0, -1]), None);
}

#[test]
fn illegal_packings_say_why() {
    let p = Packing {
        multiplier: DSP48E2,
        layout: Layout::Kernel,
        weights: 3,
        activations: 1,
        lane_bits: 16,
        weights_on: Port::A,
        w: Values::Signed(8),
        a: Values::Unsigned(8),
    };
    assert_eq!(
        p.check(),
        Err(Illegal::Port {
            what: "weights",
            bits: 27
        })
    );
    let p = Packing {
        weights: 2,
        lane_bits: 10,
        ..p
    };
    assert_eq!(p.check(), Err(Illegal::Lane { bits: 10 }));
    assert_eq!(
        p.check().unwrap_err().to_string(),
        "a lane of 10 bits cannot hold its products"
    );
}
