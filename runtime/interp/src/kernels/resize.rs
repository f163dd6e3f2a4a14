//! `resize_nearest`: ONNX Resize in `nearest` mode, on any element type.

use super::Computed;
use super::index::{dims, strides};
use super::structural::gather_data;
use qweave_ir::ops::ResizeAttrs;
use qweave_ir::{CoordMode, NearestMode, Tensor, TensorType};

/// The input coordinate of output index `o`, in `f32` as onnxruntime computes it
/// (`align_corners` multiplies by `len_in - 1` before dividing by `len_out - 1`).
fn coordinate(mode: CoordMode, o: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
    let o = o as f32;
    match mode {
        CoordMode::HalfPixel => (o + 0.5) / scale - 0.5,
        CoordMode::PytorchHalfPixel if len_out > 1 => (o + 0.5) / scale - 0.5,
        CoordMode::PytorchHalfPixel => 0.0,
        CoordMode::Asymmetric => o / scale,
        CoordMode::AlignCorners if len_out > 1 => o * (len_in - 1) as f32 / (len_out - 1) as f32,
        CoordMode::AlignCorners => 0.0,
        CoordMode::TfHalfPixelForNn => (o + 0.5) / scale,
    }
}

/// The integer `nearest_mode` picks for coordinate `x` (before clamping).
fn nearest(mode: NearestMode, x: f32) -> f32 {
    let tie = x - x.floor() == 0.5;
    match mode {
        NearestMode::RoundPreferFloor if tie => x.floor(),
        NearestMode::RoundPreferCeil if tie => x.ceil(),
        NearestMode::RoundPreferFloor | NearestMode::RoundPreferCeil => x.round(),
        NearestMode::Floor => x.floor(),
        NearestMode::Ceil => x.ceil(),
    }
}

/// `resize_nearest`: along each axis, output index `o` reads input index
/// `clamp(nearest(coordinate(o)), 0, len_in - 1)`, `scale` being the attribute's scale.
pub(crate) fn resize_nearest(x: &Tensor, a: &ResizeAttrs, out: &TensorType) -> Computed {
    let in_dims = dims(&x.ty.shape);
    let in_strides = strides(&in_dims);
    let tables: Vec<Vec<Option<usize>>> = (0..in_dims.len())
        .map(|k| {
            let (len_in, len_out) = (in_dims[k], out.shape[k] as usize);
            (0..len_out)
                .map(|o| {
                    let c = nearest(
                        a.nearest,
                        coordinate(a.coord, o, a.scales[k], len_in, len_out),
                    );
                    // `as` saturates (NaN becomes 0); the clamp keeps the index in range.
                    let i = (c as i64).clamp(0, len_in as i64 - 1) as usize;
                    Some(i * in_strides[k])
                })
                .collect()
        })
        .collect();
    Computed {
        data: gather_data(&x.data, &tables, (0.0, 0)),
        overflows: 0,
        saturations: 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints};
    use qweave_ir::ops::ResizeAttrs;
    use qweave_ir::{CoordMode, NearestMode, OpKind};

    fn resize(
        x: &[f32],
        len_out: u64,
        scale: f32,
        coord: CoordMode,
        nearest: NearestMode,
    ) -> Vec<f32> {
        let kind = OpKind::ResizeNearest(ResizeAttrs {
            shape: vec![1, len_out],
            scales: vec![1.0, scale],
            coord,
            nearest,
        });
        floats(&eval(&kind, &[&f(&[1, x.len() as u64], x)]))
    }

    #[test]
    fn coordinate_modes() {
        use CoordMode::*;
        use NearestMode::*;
        assert_eq!(
            resize(&[1.0, 2.0], 4, 2.0, Asymmetric, Floor),
            [1.0, 1.0, 2.0, 2.0]
        );
        assert_eq!(
            resize(&[1.0, 2.0], 4, 2.0, HalfPixel, RoundPreferFloor),
            [1.0, 1.0, 2.0, 2.0]
        );
        assert_eq!(
            resize(&[1.0, 2.0], 4, 2.0, TfHalfPixelForNn, Floor),
            [1.0, 1.0, 2.0, 2.0]
        );
        assert_eq!(
            resize(
                &[1.0, 2.0, 3.0],
                5,
                5.0 / 3.0,
                AlignCorners,
                RoundPreferCeil
            ),
            [1.0, 2.0, 2.0, 3.0, 3.0]
        );
        assert_eq!(
            resize(
                &[1.0, 2.0, 3.0],
                5,
                5.0 / 3.0,
                AlignCorners,
                RoundPreferFloor
            ),
            [1.0, 1.0, 2.0, 2.0, 3.0]
        );
        assert_eq!(
            resize(&[1.0, 2.0, 3.0], 1, 0.5, PytorchHalfPixel, Ceil),
            [1.0]
        );
        assert_eq!(resize(&[1.0, 2.0, 3.0], 1, 0.5, HalfPixel, Ceil), [2.0]);
    }

    #[test]
    fn nearest_modes_on_ties_and_clamping() {
        use CoordMode::*;
        use NearestMode::*;
        let x = [10.0, 20.0, 30.0, 40.0];
        // half_pixel at scale 0.5: coordinates 0.5 and 2.5, both ties
        assert_eq!(
            resize(&x, 2, 0.5, HalfPixel, RoundPreferFloor),
            [10.0, 30.0]
        );
        assert_eq!(resize(&x, 2, 0.5, HalfPixel, RoundPreferCeil), [20.0, 40.0]);
        // asymmetric 2 -> 3: coordinates 0, 0.67, 1.33; ceil reads index 2, clamped to 1
        assert_eq!(
            resize(&[1.0, 2.0], 3, 1.5, Asymmetric, Ceil),
            [1.0, 2.0, 2.0]
        );
        assert_eq!(
            resize(&[1.0, 2.0], 3, 1.5, Asymmetric, RoundPreferFloor),
            [1.0, 2.0, 2.0]
        );
    }

    #[test]
    fn resizes_integers_along_several_axes() {
        let x = int(&[2, 2], i(8), &[1, 2, 3, 4]);
        let kind = OpKind::ResizeNearest(ResizeAttrs {
            shape: vec![4, 4],
            scales: vec![2.0, 2.0],
            coord: CoordMode::Asymmetric,
            nearest: NearestMode::Floor,
        });
        let o = eval(&kind, &[&x]);
        assert_eq!(ints(&o), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    }
}
