//! The AVX2 microkernel of [`super::igemm::gemm`], written with `pulp`'s safe intrinsics.
//!
//! Same contract and same results as the portable kernel (exact `i32` sums; the callers have
//! proved they cannot overflow): a 2 x 4 block of dot products per pass over the runs, 16
//! `i16` values per vector, `vpmaddwd` products summed pairwise into eight `i32` accumulators,
//! and one `vphaddd` tree that turns the eight accumulators into the eight sums. Runs are a
//! multiple of [`STEP`] values, so a run is a whole number of vectors.

use super::igemm::{Cols, STEP};
use core::arch::x86_64::__m256i;
use pulp::x86::V3;

/// Values per vector.
const LANES: usize = 16;
const _: () = assert!(STEP.is_multiple_of(LANES));

type Run<'a> = &'a [[i16; LANES]];

/// [`super::igemm::gemm`] on a CPU with AVX2.
pub(crate) struct Gemm<'a> {
    pub v3: V3,
    pub a: &'a [i16],
    pub rows: usize,
    pub b: &'a [i16],
    pub cols: Cols,
    pub len: usize,
    pub out: &'a mut [i32],
    pub ldo: usize,
}

impl pulp::WithSimd for Gemm<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Gemm {
            v3,
            a,
            rows,
            b,
            cols,
            len,
            out,
            ldo,
        } = self;
        let run = |s| run(s, len);
        let last = cols.count - 1;
        for r0 in (0..rows).step_by(2) {
            // An odd last row is computed twice and stored once.
            let r1 = (r0 + 1).min(rows - 1);
            let pair = [run(&a[r0 * len..]), run(&a[r1 * len..])];
            for c0 in (0..cols.count).step_by(4) {
                // The last block repeats its last column.
                let col = |i: usize| run(&b[cols.start + (c0 + i).min(last) * cols.step..]);
                let sums = block(v3, pair, [col(0), col(1), col(2), col(3)]);
                let k = (cols.count - c0).min(4);
                out[r1 * ldo + c0..][..k].copy_from_slice(&sums[1][..k]);
                if r1 != r0 {
                    out[r0 * ldo + c0..][..k].copy_from_slice(&sums[0][..k]);
                }
            }
        }
    }
}

/// The run of `len` values at the start of `s`, as vectors.
#[inline(always)]
fn run(s: &[i16], len: usize) -> Run<'_> {
    &s[..len].as_chunks::<LANES>().0[..len / LANES]
}

/// The dot products of two rows with four columns (runs of one length).
#[inline(always)]
fn block(v3: V3, a: [Run<'_>; 2], b: [Run<'_>; 4]) -> [[i32; 4]; 2] {
    let n = a[0].len();
    let (a0, a1) = (&a[0][..n], &a[1][..n]);
    let (b0, b1, b2, b3) = (&b[0][..n], &b[1][..n], &b[2][..n], &b[3][..n]);
    let load = |v: &[i16; LANES]| -> __m256i { pulp::cast(*v) };
    let mac = |acc: __m256i, x: __m256i, y: __m256i| {
        v3.avx2
            ._mm256_add_epi32(acc, v3.avx2._mm256_madd_epi16(x, y))
    };
    let mut s = [v3.avx._mm256_setzero_si256(); 8];
    for j in 0..n {
        let (x0, x1) = (load(&a0[j]), load(&a1[j]));
        for (c, y) in [&b0[j], &b1[j], &b2[j], &b3[j]].into_iter().enumerate() {
            let y = load(y);
            s[c] = mac(s[c], x0, y);
            s[4 + c] = mac(s[4 + c], x1, y);
        }
    }
    // hadd(hadd(p, q), hadd(r, t)) holds, in each 128-bit half, the sums of that half's lanes
    // of p, q, r and t; adding the halves gives the four dot products.
    let hadd = |p, q| v3.avx2._mm256_hadd_epi32(p, q);
    let reduce = |p: [__m256i; 4]| -> [i32; 4] {
        let g = hadd(hadd(p[0], p[1]), hadd(p[2], p[3]));
        let lo = v3.avx._mm256_castsi256_si128(g);
        let hi = v3.avx2._mm256_extracti128_si256::<1>(g);
        pulp::cast(v3.sse2._mm_add_epi32(lo, hi))
    };
    [
        reduce([s[0], s[1], s[2], s[3]]),
        reduce([s[4], s[5], s[6], s[7]]),
    ]
}
