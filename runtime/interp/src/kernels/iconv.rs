//! The fast path of the integer convolutions (`q.conv`, `onnx.conv_integer`,
//! `onnx.qlinear_conv`): input windows multiplied with packed filters by [`gemm`].
//!
//! For each batch item and group, the group's input channels minus the zero point are copied
//! channels-last into a zero-padded `i16` buffer; padded positions are 0 after the subtraction,
//! so they contribute nothing, as in the exact path. Along the last spatial axis, an undilated
//! window then covers `kernel_last * channels` consecutive values. The other kernel axes
//! ("outer taps") are gathered once per output row into `Z[x][tap][c]` (every position `x` of
//! the last axis, the input rows the taps of this output row read), so that every window of
//! the row is one run of `kernel_last * taps * channels` values of `Z`; with a single tap the
//! runs are read from the padded input itself. A dilated last axis gathers every window
//! explicitly instead. The filters are packed in the same order (`kx`, `tap`, `c`), and every
//! run is padded to a multiple of [`STEP`] with zero filter values, so that the few values read
//! past a window add nothing.

use super::igemm::{Cols, STEP, fits_i32, gemm, max_offset, narrow, padded};
use super::index::strides;
use super::{ints, prepack};
use crate::error::EvalError;
use qweave_ir::ops::ConvAttrs;
use qweave_ir::{Tensor, TensorType};

/// The loop structure of one convolution, from validated types.
pub(crate) struct Geometry {
    batch: usize,
    channels: usize,
    filters: usize,
    /// Input channels and filters per group.
    cg: usize,
    mg: usize,
    groups: usize,
    inp: Vec<usize>,
    out: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pad_begin: Vec<usize>,
    /// Padded input extent each axis needs (the last window's far end).
    pd: Vec<usize>,
    /// Number of outer taps (kernel positions of every axis but the last).
    taps: usize,
    /// Values per window (`kernel_last * taps * cg`) and that rounded up to [`STEP`].
    len: usize,
    run: usize,
}

fn dims(v: &[u64]) -> Vec<usize> {
    v.iter().map(|&d| d as usize).collect()
}

impl Geometry {
    pub fn new(x: &TensorType, w: &TensorType, out: &TensorType, a: &ConvAttrs) -> Geometry {
        let r = x.rank() - 2;
        let (inp, outd, kernel) = (
            dims(&x.shape[2..]),
            dims(&out.shape[2..]),
            dims(&w.shape[2..]),
        );
        let (strides, dilations) = (dims(&a.strides), dims(&a.dilations));
        let pd = (0..r)
            .map(|i| (outd[i].max(1) - 1) * strides[i] + (kernel[i].max(1) - 1) * dilations[i] + 1)
            .collect();
        let taps: usize = kernel[..r - 1].iter().product();
        let cg = w.shape[1] as usize;
        let len = kernel[r - 1] * taps * cg;
        let filters = w.shape[0] as usize;
        let groups = a.group as usize;
        Geometry {
            batch: x.shape[0] as usize,
            channels: x.shape[1] as usize,
            filters,
            cg,
            mg: filters / groups,
            groups,
            pad_begin: dims(&a.pads[..r]),
            inp,
            out: outd,
            kernel,
            strides,
            dilations,
            pd,
            taps,
            len,
            run: padded(len),
        }
    }

    fn rank(&self) -> usize {
        self.inp.len()
    }

    /// Terms per output sum.
    pub fn terms(&self) -> usize {
        self.cg * self.kernel.iter().product::<usize>()
    }

    /// Output positions per filter.
    fn positions(&self) -> usize {
        self.out.iter().product()
    }

    /// The filters minus their zero points, one run of [`Self::run`] values each, in the
    /// (`kx`, tap, channel) order of the windows.
    fn pack_filters(&self, ws: &[i64], zw: &[i64]) -> Vec<i16> {
        let (kl, taps, cg, run) = (self.kernel[self.rank() - 1], self.taps, self.cg, self.run);
        let klen = kl * taps;
        let mut packed = vec![0i16; self.filters * run];
        for (m, row) in packed.chunks_exact_mut(run.max(1)).enumerate() {
            for c in 0..cg {
                let src = &ws[(m * cg + c) * klen..][..klen];
                for t in 0..taps {
                    for kx in 0..kl {
                        row[(kx * taps + t) * cg + c] = narrow(src[t * kl + kx] - zw[m]);
                    }
                }
            }
        }
        packed
    }

    /// Channels `g * cg..` of batch item `n`, minus `zx`, channels-last and zero-padded to
    /// [`Self::pd`] (plus [`STEP`] zeros at the end for the reads past the last window).
    #[inline(always)]
    fn padded_input(&self, xs: &[i64], zx: i64, n: usize, g: usize) -> Vec<i16> {
        let r = self.rank();
        let (cg, last) = (self.cg, r - 1);
        let in_len: usize = self.inp.iter().product();
        let mut xp = vec![0i16; self.pd.iter().product::<usize>() * cg + STEP];
        let rows: usize = self.inp[..last].iter().product();
        let pstrides = strides(&self.pd);
        // Input columns that land inside the padded extent.
        let width = self.inp[last].min(self.pd[last].saturating_sub(self.pad_begin[last]));
        let mut idx = vec![0usize; last];
        for row in 0..rows {
            let mut rem = row;
            for a in (0..last).rev() {
                idx[a] = rem % self.inp[a];
                rem /= self.inp[a];
            }
            let inside = (0..last).all(|a| idx[a] + self.pad_begin[a] < self.pd[a]);
            if inside {
                let base: usize = (0..last)
                    .map(|a| (idx[a] + self.pad_begin[a]) * pstrides[a])
                    .sum::<usize>()
                    + self.pad_begin[last];
                let dst = &mut xp[base * cg..][..width * cg];
                for c in 0..cg {
                    let plane = ((n * self.channels + g * cg + c) * in_len) + row * self.inp[last];
                    let src = &xs[plane..plane + width];
                    // `conv_sums` checked that every `v - zx` fits `i16`.
                    for (d, &v) in dst.chunks_exact_mut(cg).zip(src) {
                        d[c] = (v - zx) as i16;
                    }
                }
            }
        }
        xp
    }
}

/// The exact sums `Σ (x - zx) * (w - zw[m])` (padded positions contributing 0, no bias) of
/// every output element, row-major `[N, M, out...]`, computed in `i32` when they and a bias of
/// at most `max_bias` provably fit it (see [`super::igemm`]); `None` otherwise.
pub(crate) fn conv_sums(
    geo: &Geometry,
    (x, zx): (&Tensor, i64),
    (w, zw): (&Tensor, &[i64]),
    max_bias: u64,
) -> Result<Option<Vec<i32>>, EvalError> {
    let (Some(sx), Some(sw)) = (x.ty.elem.storage(), w.ty.elem.storage()) else {
        return Ok(None);
    };
    let max_x = max_offset(sx.min(), sx.max(), zx);
    let max_w = zw
        .iter()
        .map(|&z| max_offset(sw.min(), sw.max(), z))
        .max()
        .unwrap_or(0);
    if !fits_i32(geo.terms(), max_x, max_w, max_bias) {
        return Ok(None);
    }
    let total = geo.batch * geo.filters * geo.positions();
    if geo.len == 0 || total == 0 {
        return Ok(Some(vec![0; total]));
    }
    let (xs, ws) = (ints(x)?, ints(w)?);
    let layout = [
        1,
        geo.filters,
        geo.cg,
        geo.kernel[geo.rank() - 1],
        geo.taps,
        geo.run,
    ];
    let key = layout
        .iter()
        .map(|&v| v as i64)
        .chain(zw.iter().copied())
        .collect();
    let filters = prepack::packed(&w.data, key, || geo.pack_filters(ws, zw));
    Ok(Some(pulp::Arch::new().dispatch(Sums {
        geo,
        xs,
        zx,
        filters: &filters,
    })))
}

/// [`sums`], compiled by `pulp` for the vector instructions the CPU has (AVX2 where present;
/// integer arithmetic gives the same sums on every instruction set).
struct Sums<'a> {
    geo: &'a Geometry,
    xs: &'a [i64],
    zx: i64,
    filters: &'a [i16],
}

impl pulp::WithSimd for Sums<'_> {
    type Output = Vec<i32>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<i32> {
        sums(self.geo, self.xs, self.zx, self.filters)
    }
}

#[inline(always)]
fn sums(geo: &Geometry, xs: &[i64], zx: i64, filters: &[i16]) -> Vec<i32> {
    let (r, run, cg, taps) = (geo.rank(), geo.run, geo.cg, geo.taps);
    let last = r - 1;
    let (outl, sl, dl) = (geo.out[last], geo.strides[last], geo.dilations[last]);
    let kl = geo.kernel[last];
    let positions = geo.positions();
    let out_rows: usize = geo.out[..last].iter().product();
    let row_len = geo.pd[last] * cg;
    let prow_strides = strides(&geo.pd[..last]);
    let mut y = vec![0i32; geo.batch * geo.filters * positions];
    let mut z: Vec<i16> = Vec::new();
    let (mut o, mut t) = (vec![0usize; last], vec![0usize; last]);
    // The padded-input row each outer tap of output row `o` reads, as a value offset.
    let tap_base = |o: &[usize], t: &[usize]| -> usize {
        (0..last)
            .map(|a| (o[a] * geo.strides[a] + t[a] * geo.dilations[a]) * prow_strides[a])
            .sum::<usize>()
            * row_len
    };
    for n in 0..geo.batch {
        for g in 0..geo.groups {
            let xp = geo.padded_input(xs, zx, n, g);
            let w = &filters[g * geo.mg * run..][..geo.mg * run];
            for orow in 0..out_rows {
                unflatten(orow, &geo.out[..last], &mut o);
                let (b, start, step): (&[i16], usize, usize) = if dl == 1 && taps == 1 {
                    t.fill(0);
                    (&xp, tap_base(&o, &t), sl * cg)
                } else if dl == 1 {
                    // Every value but the last STEP (zeros) is overwritten below.
                    z.resize(row_len * taps + STEP, 0);
                    for tap in 0..taps {
                        unflatten(tap, &geo.kernel[..last], &mut t);
                        let src = &xp[tap_base(&o, &t)..][..row_len];
                        for (x, v) in src.chunks_exact(cg).enumerate() {
                            copy_small(&mut z[(x * taps + tap) * cg..][..cg], v);
                        }
                    }
                    (&z, 0, sl * taps * cg)
                } else {
                    // The same positions are overwritten for every row; the rest stay 0.
                    z.resize(outl * run, 0);
                    for tap in 0..taps {
                        unflatten(tap, &geo.kernel[..last], &mut t);
                        let base = tap_base(&o, &t);
                        for ox in 0..outl {
                            for kx in 0..kl {
                                let src = &xp[base + (ox * sl + kx * dl) * cg..][..cg];
                                copy_small(&mut z[ox * run + (kx * taps + tap) * cg..][..cg], src);
                            }
                        }
                    }
                    (&z, 0, run)
                };
                let cols = Cols {
                    start,
                    step,
                    count: outl,
                };
                let at = (n * geo.filters + g * geo.mg) * positions + orow * outl;
                gemm(w, geo.mg, b, cols, run, &mut y[at..], positions);
            }
        }
    }
    y
}

/// `dst.copy_from_slice(src)` for the short runs of one pixel's channels: in blocks of eight
/// values, which compile to plain vector moves rather than calls to `memcpy`.
#[inline(always)]
fn copy_small(dst: &mut [i16], src: &[i16]) {
    let (d8, d_rest) = dst.as_chunks_mut::<8>();
    let (s8, s_rest) = src.as_chunks::<8>();
    for (d, s) in d8.iter_mut().zip(s8) {
        *d = *s;
    }
    for (d, s) in d_rest.iter_mut().zip(s_rest) {
        *d = *s;
    }
}

/// The row-major multi-index of `flat` over `dims`.
fn unflatten(mut flat: usize, dims: &[usize], idx: &mut [usize]) {
    for a in (0..dims.len()).rev() {
        idx[a] = flat % dims[a];
        flat /= dims[a];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::{Plan, int_conv_sums};
    use crate::testutil::Rng;
    use qweave_ir::{ElemType, IntType};

    /// Random geometries (1 to 3 spatial axes, groups, strides, dilations, asymmetric pads,
    /// per-filter zero points) against the exact `i128` path.
    #[test]
    fn fast_sums_equal_the_exact_sums() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut checked = 0;
        while checked < 150 {
            let r = rng.range(1, 3) as usize;
            let groups = rng.range(1, 3) as u64;
            let cg = rng.range(1, 7) as u64;
            let mg = rng.range(1, 5) as u64;
            let batch = rng.range(1, 2) as u64;
            let (mut xs, mut ks, mut os) = (vec![], vec![], vec![]);
            let (mut strides, mut dil, mut pb, mut pe) = (vec![], vec![], vec![], vec![]);
            for _ in 0..r {
                let (x, k) = (rng.range(1, if r == 3 { 6 } else { 11 }), rng.range(1, 4));
                let (s, d) = (rng.range(1, 3), rng.range(1, 3));
                let (b, e) = (rng.range(0, 2), rng.range(0, 2));
                let span = (k - 1) * d + 1;
                if x + b + e < span {
                    break;
                }
                os.push(((x + b + e - span) / s + 1) as u64);
                xs.push(x as u64);
                ks.push(k as u64);
                strides.push(s as u64);
                dil.push(d as u64);
                pb.push(b as u64);
                pe.push(e as u64);
            }
            if os.len() != r {
                continue;
            }
            let (u8t, i8t) = (IntType::unsigned(8), IntType::signed(8));
            let shape = |a: u64, b: u64, rest: &[u64]| [&[a, b][..], rest].concat();
            let xty = TensorType::new(shape(batch, cg * groups, &xs), ElemType::Int(u8t));
            let wty = TensorType::new(shape(mg * groups, cg, &ks), ElemType::Int(i8t));
            let oty = TensorType::new(shape(batch, mg * groups, &os), ElemType::Int(IntType::I32));
            let xv: Vec<i64> = (0..xty.numel()).map(|_| rng.range(0, 255)).collect();
            let wv: Vec<i64> = (0..wty.numel()).map(|_| rng.range(-128, 127)).collect();
            let x = Tensor::new(xty.clone(), qweave_ir::Data::Int(xv.clone().into())).unwrap();
            let w = Tensor::new(wty.clone(), qweave_ir::Data::Int(wv.clone().into())).unwrap();
            let zx = rng.range(0, 255);
            let zw: Vec<i64> = (0..mg * groups).map(|_| rng.range(-128, 127)).collect();
            let attrs = ConvAttrs {
                strides,
                pads: [pb, pe].concat(),
                dilations: dil,
                group: groups,
            };
            let geo = Geometry::new(&xty, &wty, &oty, &attrs);
            let fast = conv_sums(&geo, (&x, zx), (&w, &zw), 0)
                .unwrap()
                .expect("fits i32");
            let mut exact = vec![0i128; oty.numel()];
            let plan = Plan::new(&xty, &wty, &oty, &attrs);
            int_conv_sums(&plan, (&xv, zx), (&wv, &zw), None, |yi, _, acc| {
                exact[yi] = acc;
            });
            let fast: Vec<i128> = fast.into_iter().map(i128::from).collect();
            assert_eq!(fast, exact, "{xty} {wty} {attrs:?}");
            checked += 1;
        }
    }
}
