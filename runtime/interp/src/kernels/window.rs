//! Window geometry of convolutions and pools: which input positions each output reads.

use super::index::{dims, strides};

/// The spatial geometry of one window op (shapes come from validated types).
pub(crate) struct Window {
    in_dims: Vec<usize>,
    /// Output spatial dimensions.
    pub out_dims: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<i64>,
    pad_begin: Vec<i64>,
    pad_end: Vec<i64>,
    dilations: Vec<i64>,
    in_strides: Vec<usize>,
    kernel_strides: Vec<usize>,
}

/// Reusable buffers for [`Window::taps`].
#[derive(Default)]
pub(crate) struct Taps {
    axis: Vec<Vec<(usize, usize)>>,
    counter: Vec<usize>,
    /// `(kernel offset, input offset)` of every window position inside the input, with
    /// offsets flat over the spatial axes, in row-major kernel order.
    pub list: Vec<(usize, usize)>,
    /// Number of window positions inside the padded input (the explicit pads count, the
    /// positions beyond the end padding that `ceil_mode` creates do not).
    pub padded: u64,
}

impl Window {
    /// The geometry of spatial axes `in_spatial` to `out_spatial`; `pads` lists all begin
    /// pads, then all end pads; no dilations means 1.
    pub fn new(
        in_spatial: &[u64],
        out_spatial: &[u64],
        kernel: &[u64],
        strides_: &[u64],
        pads: &[u64],
        dilations: Option<&[u64]>,
    ) -> Self {
        let k = in_spatial.len();
        let int = |v: &[u64]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        let in_dims = dims(in_spatial);
        let kernel = dims(kernel);
        Window {
            in_strides: strides(&in_dims),
            kernel_strides: strides(&kernel),
            in_dims,
            out_dims: dims(out_spatial),
            kernel,
            strides: int(strides_),
            pad_begin: int(&pads[..k]),
            pad_end: int(&pads[k..]),
            dilations: dilations.map_or_else(|| vec![1; k], int),
        }
    }

    /// Number of input spatial positions.
    pub fn in_len(&self) -> usize {
        self.in_dims.iter().product()
    }

    /// Number of output spatial positions.
    pub fn out_len(&self) -> usize {
        self.out_dims.iter().product()
    }

    /// Number of kernel positions.
    pub fn kernel_len(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Fills `t` with the window of the output position `o` (a spatial multi-index).
    pub fn taps(&self, o: &[usize], t: &mut Taps) {
        let rank = self.in_dims.len();
        t.axis.resize_with(rank, Vec::new);
        t.counter.clear();
        t.counter.resize(rank, 0);
        t.list.clear();
        t.padded = 1;
        for (a, (&oa, list)) in o.iter().zip(t.axis.iter_mut()).enumerate() {
            let (d, len, kernel) = (
                self.dilations[a],
                self.in_dims[a] as i64,
                self.kernel[a] as i64,
            );
            let start = oa as i64 * self.strides[a] - self.pad_begin[a];
            // Kernel indices k with 0 <= start + k*d < len; start >= -pad_begin always.
            let first = if start >= 0 { 0 } else { ceil_div(-start, d) };
            let end = ceil_div(len - start, d).clamp(0, kernel);
            let padded_end = ceil_div(len + self.pad_end[a] - start, d).clamp(0, kernel);
            t.padded = t.padded.saturating_mul(padded_end as u64);
            list.clear();
            for k in first..end {
                let p = (start + k * d) as usize;
                list.push((k as usize * self.kernel_strides[a], p * self.in_strides[a]));
            }
        }
        if t.axis[..rank].iter().any(Vec::is_empty) {
            return;
        }
        loop {
            let (mut kf, mut xo) = (0, 0);
            for a in 0..rank {
                let (k, p) = t.axis[a][t.counter[a]];
                kf += k;
                xo += p;
            }
            t.list.push((kf, xo));
            let mut a = rank;
            loop {
                if a == 0 {
                    return;
                }
                a -= 1;
                t.counter[a] += 1;
                if t.counter[a] < t.axis[a].len() {
                    break;
                }
                t.counter[a] = 0;
            }
        }
    }
}

/// `ceil(n / d)` for positive `d`.
fn ceil_div(n: i64, d: i64) -> i64 {
    n.div_euclid(d) + i64::from(n.rem_euclid(d) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_skip_padding_and_count_the_padded_input() {
        // 1-D: input 5, kernel 3, stride 2, pads 1 and 1, ceil mode gives 3 outputs.
        let w = Window::new(&[5], &[3], &[3], &[2], &[1, 1], None);
        let mut t = Taps::default();
        w.taps(&[0], &mut t);
        assert_eq!((t.list.clone(), t.padded), (vec![(1, 0), (2, 1)], 3));
        w.taps(&[2], &mut t);
        assert_eq!((t.list.clone(), t.padded), (vec![(0, 3), (1, 4)], 3));
        // input 5, kernel 2, stride 2, no pads, ceil mode: the last window is half outside.
        let w = Window::new(&[5], &[3], &[2], &[2], &[0, 0], None);
        w.taps(&[2], &mut t);
        assert_eq!((t.list.clone(), t.padded), (vec![(0, 4)], 1));
    }

    #[test]
    fn taps_with_dilation_in_two_dimensions() {
        let w = Window::new(
            &[3, 3],
            &[1, 1],
            &[2, 2],
            &[1, 1],
            &[0, 0, 0, 0],
            Some(&[2, 2]),
        );
        let mut t = Taps::default();
        w.taps(&[0, 0], &mut t);
        assert_eq!(t.list, [(0, 0), (1, 2), (2, 6), (3, 8)]);
        assert_eq!(w.kernel_len(), 4);
    }
}
