//! Bias correction: the mean output shift that weight quantization causes, moved into the
//! bias (Nagel et al., "Data-Free Quantization", analytic form with calibrated input means).
//!
//! A layer computes `y[m] = sum_k W[m, k] x[k]`; with quantized weights `Wq` its expected
//! output moves by `sum_k (W - Wq)[m, k] E[x[k]]`, and adding that to the bias restores the
//! expected value. `E[x]` is the calibration mean of each input channel (padding, which
//! contributes zeros at borders, is ignored).

/// How a layer's weights index output and input channels.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// Conv weights `[M, C / group, kh, kw]`.
    Conv { group: usize },
    /// Gemm weights `[N, K]` (transposed).
    RowsOut,
    /// Gemm or matmul weights `[K, N]`.
    ColumnsOut,
}

/// Per output channel, `sum_k (w - wq)[m, k] * mean[input channel of k]`; `None` when the
/// shapes do not fit together.
pub fn shift(
    layout: Layout,
    shape: &[u64],
    w: &[f32],
    wq: &[f32],
    means: &[f64],
) -> Option<Vec<f32>> {
    let err = |i: usize| f64::from(w[i]) - f64::from(wq[i]);
    match layout {
        Layout::Conv { group } => {
            let (m, cg) = (*shape.first()? as usize, *shape.get(1)? as usize);
            let taps = shape.iter().skip(2).product::<u64>() as usize;
            if group == 0 || m % group != 0 || means.len() != cg * group {
                return None;
            }
            let per_group = m / group;
            Some(
                (0..m)
                    .map(|o| {
                        let base = (o / per_group) * cg;
                        let mut s = 0.0;
                        for c in 0..cg {
                            for t in 0..taps {
                                s += err((o * cg + c) * taps + t) * means[base + c];
                            }
                        }
                        s as f32
                    })
                    .collect(),
            )
        }
        Layout::RowsOut => {
            let (n, k) = (*shape.first()? as usize, *shape.get(1)? as usize);
            (means.len() == k).then(|| {
                (0..n)
                    .map(|o| (0..k).map(|i| err(o * k + i) * means[i]).sum::<f64>() as f32)
                    .collect()
            })
        }
        Layout::ColumnsOut => {
            let (k, n) = (*shape.first()? as usize, *shape.get(1)? as usize);
            (means.len() == k).then(|| {
                (0..n)
                    .map(|o| (0..k).map(|i| err(i * n + o) * means[i]).sum::<f64>() as f32)
                    .collect()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_per_layout() {
        // two output channels, two inputs
        let w = [1.0, 2.0, 3.0, 4.0];
        let wq = [1.0, 1.5, 3.0, 5.0];
        let means = [10.0, 2.0];
        // rows out: y0 error 0.5 * 2, y1 error -1 * 2
        assert_eq!(
            shift(Layout::RowsOut, &[2, 2], &w, &wq, &means),
            Some(vec![1.0, -2.0])
        );
        // columns out: W[k, n]; y0 = k0 (0) + k1 (-0? w[2]-wq[2] = 0), y1 = 0.5 * 10 - 1 * 2
        assert_eq!(
            shift(Layout::ColumnsOut, &[2, 2], &w, &wq, &means),
            Some(vec![0.0, 3.0])
        );
        // a depthwise conv [2, 1, 1, 2]: channel m reads input m
        let conv = shift(Layout::Conv { group: 2 }, &[2, 1, 1, 2], &w, &wq, &means);
        assert_eq!(conv, Some(vec![5.0, -2.0]));
        assert_eq!(shift(Layout::RowsOut, &[2, 2], &w, &wq, &[1.0]), None);
    }
}
