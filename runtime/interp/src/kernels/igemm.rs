//! The fast path of the integer matrix ops: exact products of `i16` operands summed in `i32`.
//!
//! # When it applies
//!
//! Every integer matrix op (`q.conv`, `q.matmul`, `onnx.conv_integer`, `onnx.matmul_integer`,
//! `onnx.qlinear_conv`, `onnx.qlinear_matmul`, `onnx.qgemm`) computes exact sums
//! `bias + Σ_k (x_k - zx) * (w_k - zw)` and then wraps, rounds or requantizes them. When every
//! difference fits `i16` and
//!
//! ```text
//! K * max|x - zx| * max|w - zw| + max|bias| <= i32::MAX        (K = terms per sum)
//! ```
//!
//! no partial sum, in any order, leaves the `i32` range (each is bounded by the sum of the
//! absolute values of its terms), so the `i32` sums computed here are the exact sums and the
//! callers finish them exactly as they finish the `i128` sums of the exact path ([`fits_i32`]
//! checks the bound; the callers keep the exact path otherwise). For operands of at most 8
//! bits the differences are at most 255 in magnitude, so any `K` up to 33,025 qualifies.
//!
//! # How it is computed
//!
//! `out[r][c] = Σ_i a[r][i] * b[c][i]`: every row of `a` and every column of `b` is a
//! contiguous run of `len` values (`len` a multiple of [`STEP`]; the callers pad with zeros).
//! Rows are consecutive in `a`; columns start anywhere in `b`, so a convolution reads its
//! (overlapping) input windows in place. [`dot24`] computes a 2 x 4 block of sums in one pass
//! over the runs, as pairs `a[2j] * b[2j] + a[2j+1] * b[2j+1]`, which LLVM's loop vectorizer
//! turns into `pmaddwd` (eight multiply-adds per instruction at the baseline x86-64 target).
//! Each pair sum is XORed with a zero LLVM cannot see through before it is accumulated:
//! otherwise LLVM reassociates `acc + (p0 + p1)` into `(acc + p0) + p1`, which no longer
//! matches `pmaddwd` and costs twice the multiplies.

/// The run lengths are multiples of this many values (one 256-bit vector of `i16`).
pub(crate) const STEP: usize = 16;

/// `n` rounded up to a multiple of [`STEP`].
pub(crate) fn padded(n: usize) -> usize {
    n.div_ceil(STEP) * STEP
}

/// Whether sums of `terms` products of factors bounded by `max_a` and `max_b` plus a bias
/// bounded by `max_bias` provably fit `i32` with operands that fit `i16` (see the module
/// documentation).
pub(crate) fn fits_i32(terms: usize, max_a: u64, max_b: u64, max_bias: u64) -> bool {
    let limit = i16::MAX as u64;
    if max_a > limit || max_b > limit {
        return false;
    }
    let bound = terms as u128 * u128::from(max_a) * u128::from(max_b) + u128::from(max_bias);
    bound <= i32::MAX as u128
}

/// The largest `|v - z|` over the values of a type with stored range `[lo, hi]` and zero
/// point `z`.
pub(crate) fn max_offset(lo: i64, hi: i64, z: i64) -> u64 {
    let d = |a: i64, b: i64| (i128::from(a) - i128::from(b)).unsigned_abs();
    u64::try_from(d(hi, z).max(d(z, lo))).unwrap_or(u64::MAX)
}

/// The largest `|v|` of `values` (0 for none).
pub(crate) fn max_abs(values: &[i64]) -> u64 {
    values.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0)
}

/// Where the columns of `b` start: column `c` is `b[start + c * step..][..len]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cols {
    pub start: usize,
    pub step: usize,
    pub count: usize,
}

/// Row-major `rows x len` matrix `a` times the columns of `b`:
/// `out[r * ldo + c] = Σ_i a[r * len + i] * b[cols.start + c * cols.step + i]`. `len` is a
/// multiple of [`STEP`]; every column must lie inside `b` and `out` must hold every result
/// (the callers build them so; violations panic).
#[inline(always)]
pub(crate) fn gemm(
    a: &[i16],
    rows: usize,
    b: &[i16],
    cols: Cols,
    len: usize,
    out: &mut [i32],
    ldo: usize,
) {
    debug_assert_eq!(len % STEP, 0);
    if rows == 0 || cols.count == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        use super::igemm_avx2::Gemm;
        return pulp::Simd::vectorize(
            v3,
            Gemm {
                v3,
                a,
                rows,
                b,
                cols,
                len,
                out,
                ldo,
            },
        );
    }
    portable(a, rows, b, cols, len, out, ldo);
}

/// [`gemm`] in plain Rust, for any CPU.
#[inline(always)]
fn portable(
    a: &[i16],
    rows: usize,
    b: &[i16],
    cols: Cols,
    len: usize,
    out: &mut [i32],
    ldo: usize,
) {
    // An optimization barrier, not a semantic one: the value is always 0.
    let zero = std::hint::black_box(0);
    for r0 in (0..rows).step_by(2) {
        // An odd last row is computed twice and stored once.
        let r1 = (r0 + 1).min(rows - 1);
        let (head, tail) = out.split_at_mut(r1 * ldo);
        let o1 = &mut tail[..cols.count];
        let o0 = if r1 == r0 {
            None
        } else {
            Some(&mut head[r0 * ldo..][..cols.count])
        };
        let pair = [&a[r0 * len..][..len], &a[r1 * len..][..len]];
        row_pair(pair, b, cols, (o0, o1), zero);
    }
}

type Pair = [i16; 2];

/// `a[0] * b[0] + a[1] * b[1]` (cannot overflow `i32` unless all four are `i16::MIN`).
#[inline(always)]
fn pair(a: Pair, b: Pair) -> i32 {
    (i32::from(a[0]) * i32::from(b[0])).wrapping_add(i32::from(a[1]) * i32::from(b[1]))
}

/// The dot products of rows `a[0]` and `a[1]` (of one length) with every column, into
/// `o0` (when given) and `o1`, four columns at a time (the last block repeats its last column).
///
/// Kept out of line so that its code does not depend on the caller: the inner loop must stay
/// a plain eight-accumulator reduction for the vectorizer.
#[inline(always)]
fn row_pair(
    a: [&[i16]; 2],
    b: &[i16],
    cols: Cols,
    (o0, o1): (Option<&mut [i32]>, &mut [i32]),
    zero: i32,
) {
    let len = a[0].len();
    let n = len / 2;
    let a0 = &a[0].as_chunks::<2>().0[..n];
    let a1 = &a[1].as_chunks::<2>().0[..n];
    let last = cols.count - 1;
    let mut o0 = o0;
    for c0 in (0..cols.count).step_by(4) {
        let col = |i: usize| {
            let s = cols.start + (c0 + i).min(last) * cols.step;
            &b[s..s + len].as_chunks::<2>().0[..n]
        };
        let (b0, b1, b2, b3) = (col(0), col(1), col(2), col(3));
        let mut s = [[0i32; 4]; 2];
        for j in 0..n {
            s[0][0] = s[0][0].wrapping_add(pair(a0[j], b0[j]) ^ zero);
            s[0][1] = s[0][1].wrapping_add(pair(a0[j], b1[j]) ^ zero);
            s[0][2] = s[0][2].wrapping_add(pair(a0[j], b2[j]) ^ zero);
            s[0][3] = s[0][3].wrapping_add(pair(a0[j], b3[j]) ^ zero);
            s[1][0] = s[1][0].wrapping_add(pair(a1[j], b0[j]) ^ zero);
            s[1][1] = s[1][1].wrapping_add(pair(a1[j], b1[j]) ^ zero);
            s[1][2] = s[1][2].wrapping_add(pair(a1[j], b2[j]) ^ zero);
            s[1][3] = s[1][3].wrapping_add(pair(a1[j], b3[j]) ^ zero);
        }
        let k = (cols.count - c0).min(4);
        if let Some(o0) = o0.as_deref_mut() {
            store(&mut o0[c0..c0 + k], &s[0]);
        }
        store(&mut o1[c0..c0 + k], &s[1]);
    }
}

/// `out.copy_from_slice(&s[..out.len()])` for at most four values, without a call to `memcpy`.
#[inline(always)]
fn store(out: &mut [i32], s: &[i32; 4]) {
    if let Ok(four) = <&mut [i32; 4]>::try_from(&mut *out) {
        *four = *s;
    } else {
        for (o, &v) in out.iter_mut().zip(s) {
            *o = v;
        }
    }
}

/// `v` as `i16`; callers have checked the range, so a violation is a bug.
#[inline]
pub(crate) fn narrow(v: i64) -> i16 {
    i16::try_from(v).expect("operand checked to fit i16")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn bounds() {
        assert!(fits_i32(33_025, 255, 255, 0));
        assert!(!fits_i32(33_026, 255, 255, 0));
        assert!(fits_i32(1, 255, 255, i32::MAX as u64 - 65_025));
        assert!(!fits_i32(1, 255, 255, i32::MAX as u64 - 65_024));
        assert!(!fits_i32(1, 32_768, 1, 0));
        assert_eq!(max_offset(0, 255, 0), 255);
        assert_eq!(max_offset(-128, 127, 127), 255);
        assert_eq!(max_offset(i64::MIN, i64::MAX, 0), 1 << 63);
        assert_eq!(max_abs(&[3, -7, 5]), 7);
        assert_eq!(padded(0), 0);
        assert_eq!(padded(9), 16);
    }

    #[test]
    fn gemm_matches_the_naive_product() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..60 {
            let rows = 1 + rng.range(0, 6) as usize;
            let ncols = 1 + rng.range(0, 9) as usize;
            let len = STEP * (1 + rng.range(0, 5) as usize);
            let extreme = case % 3 == 0;
            let val = |rng: &mut Rng| {
                if extreme {
                    [-255, 255, -128, 127, 0][rng.range(0, 4) as usize]
                } else {
                    rng.range(-255, 255)
                }
            };
            let a: Vec<i16> = (0..rows * len).map(|_| val(&mut rng) as i16).collect();
            let step = rng.range(0, 2 * len as i64) as usize;
            let start = rng.range(0, 9) as usize;
            let blen = start + (ncols - 1) * step + len + rng.range(0, 20) as usize;
            let b: Vec<i16> = (0..blen).map(|_| val(&mut rng) as i16).collect();
            let cols = Cols {
                start,
                step,
                count: ncols,
            };
            let ldo = ncols + 3;
            let mut out = vec![i32::MIN; rows * ldo];
            let mut out_portable = out.clone();
            // The dispatched kernel (AVX2 where the CPU has it) and the portable one.
            gemm(&a, rows, &b, cols, len, &mut out, ldo);
            portable(&a, rows, &b, cols, len, &mut out_portable, ldo);
            assert_eq!(out, out_portable, "case {case}");
            for r in 0..rows {
                for c in 0..ncols {
                    let off = start + c * step;
                    let want: i64 = (0..len)
                        .map(|i| i64::from(a[r * len + i]) * i64::from(b[off + i]))
                        .sum();
                    assert_eq!(i64::from(out[r * ldo + c]), want, "case {case}");
                }
                assert!(
                    out[r * ldo + ncols..(r + 1) * ldo]
                        .iter()
                        .all(|&v| v == i32::MIN)
                );
            }
        }
    }
}
