//! Bit Fusion bricks: the LUT PE's 2-bit multipliers, fused into wider products. An operand
//! splits into base-4 digits (the top one signed for a signed operand); the product is the
//! sum of the digit products shifted into place, so sixteen bricks make one 8x8 product, two
//! 8x4, four 4x4 or sixteen 2x2 (and 1x1) products.

use super::Values;

/// 2-bit bricks in one LUT PE.
pub const BRICKS_PER_PE: u32 = 16;

/// The base-4 digits of `v`, least significant first: unsigned digits below the top, the top
/// one signed when `values` is (a bipolar value is its own single digit).
pub fn digits(v: i64, values: Values) -> Vec<i64> {
    let n = usize::from(values.bits().div_ceil(2));
    (0..n)
        .map(|i| {
            let d = v >> (2 * i);
            if i + 1 == n { d } else { d & 3 }
        })
        .collect()
}

/// Bricks one product of `w` by `a` takes.
pub fn bricks(w: Values, a: Values) -> u32 {
    u32::from(w.bits().div_ceil(2)) * u32::from(a.bits().div_ceil(2))
}

/// Products one PE computes per cycle for `w` by `a`.
pub fn products_per_pe(w: Values, a: Values) -> u32 {
    BRICKS_PER_PE / bricks(w, a)
}

/// One brick: a multiplier of two digits, each 2 bits plus a sign (`-2..=3`).
fn brick(x: i64, y: i64) -> i64 {
    debug_assert!((-2..=3).contains(&x) && (-2..=3).contains(&y));
    x * y
}

/// `w · a` as the fused bricks compute it.
pub fn fused_product(w: i64, wv: Values, a: i64, av: Values) -> i64 {
    let (dw, da) = (digits(w, wv), digits(a, av));
    let mut sum = 0;
    for (i, x) in dw.iter().enumerate() {
        for (j, y) in da.iter().enumerate() {
            sum += brick(*x, *y) << (2 * (i + j));
        }
    }
    sum
}
