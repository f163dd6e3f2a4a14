//! Inference for windowed ops: convolutions and pools.

use super::{float, integer, per_tensor_integer};
use crate::ops::{ConvAttrs, MaxPoolAttrs, QConvAttrs, SumPoolAttrs};
use crate::types::{ElemType, Shape, TensorType};

/// Output length of one spatial axis of a window op, per ONNX: with
/// `span = in + pad_begin + pad_end - dil * (k - 1) - 1`, `floor(span / s) + 1`, or with
/// `ceil_mode` `ceil(span / s) + 1` less one if that last window would start in the end
/// padding.
pub fn window_out(
    input: u64,
    k: u64,
    s: u64,
    pad_b: u64,
    pad_e: u64,
    dil: u64,
    ceil: bool,
) -> Result<u64, String> {
    let (input, k, s, pb, pe, d) = (
        input as i128,
        k as i128,
        s as i128,
        pad_b as i128,
        pad_e as i128,
        dil as i128,
    );
    let span = input + pb + pe - d * (k - 1) - 1;
    if span < 0 {
        return Err(format!(
            "the window (kernel {k}, dilation {d}) is larger than the padded input ({})",
            input + pb + pe
        ));
    }
    let mut out = if ceil {
        (span + s - 1) / s + 1
    } else {
        span / s + 1
    };
    if ceil && (out - 1) * s >= input + pb {
        out -= 1;
    }
    u64::try_from(out).map_err(|_| "the output size overflows".to_string())
}

/// Checks window attributes against `k` spatial axes and returns the output spatial shape.
fn window(
    spatial: &[u64],
    kernel: &[u64],
    strides: &[u64],
    pads: &[u64],
    dilations: Option<&[u64]>,
    ceil: bool,
) -> Result<Shape, String> {
    let k = spatial.len();
    let lens = [
        ("kernel", kernel.len(), k),
        ("strides", strides.len(), k),
        ("pads", pads.len(), 2 * k),
    ];
    let dil_len = dilations.map(|d| ("dilations", d.len(), k));
    for (name, got, want) in lens.into_iter().chain(dil_len) {
        if got != want {
            return Err(format!(
                "'{name}' has {got} entries, expected {want} for {k} spatial axes"
            ));
        }
    }
    let limit = 1u64 << 32;
    for (name, list) in [
        ("kernel", kernel),
        ("strides", strides),
        ("dilations", dilations.unwrap_or(&[])),
    ] {
        if let Some(v) = list.iter().find(|&&v| v == 0 || v > limit) {
            return Err(format!("'{name}' entry {v} is outside 1..=2^32"));
        }
    }
    if let Some(p) = pads.iter().find(|&&p| p > limit) {
        return Err(format!("'pads' entry {p} exceeds 2^32"));
    }
    (0..k)
        .map(|i| {
            let d = dilations.map_or(1, |d| d[i]);
            window_out(
                spatial[i],
                kernel[i],
                strides[i],
                pads[i],
                pads[k + i],
                d,
                ceil,
            )
        })
        .collect()
}

/// Shared checks of `onnx.conv` and `q.conv`; returns the result shape.
pub(crate) fn conv_shape(
    x: &TensorType,
    w: &TensorType,
    b: Option<&TensorType>,
    a: &ConvAttrs,
) -> Result<Shape, String> {
    if x.rank() < 3 {
        return Err(format!("x must be [N, C, spatial...], found {x}"));
    }
    if w.rank() != x.rank() {
        return Err(format!(
            "w must have the rank of x ({}), found {w}",
            x.rank()
        ));
    }
    let (c, m) = (x.shape[1], w.shape[0]);
    if a.group == 0 || c % a.group != 0 || m % a.group != 0 {
        return Err(format!(
            "group {} must divide both the {c} input and the {m} output channels",
            a.group
        ));
    }
    if w.shape[1] * a.group != c {
        return Err(format!(
            "w has {} input channels per group, but x has {c} channels in {} groups",
            w.shape[1], a.group
        ));
    }
    if let Some(b) = b
        && b.shape != [m]
    {
        return Err(format!("the bias must be [{m}], found {b}"));
    }
    let spatial = window(
        &x.shape[2..],
        &w.shape[2..],
        &a.strides,
        &a.pads,
        Some(&a.dilations),
        false,
    )?;
    let mut shape = vec![x.shape[0], m];
    shape.extend(spatial);
    Ok(shape)
}

/// `onnx.conv`.
pub fn conv(x: &[&TensorType], a: &ConvAttrs) -> Result<TensorType, String> {
    float(x[0], "x")?;
    float(x[1], "w")?;
    if let Some(b) = x.get(2) {
        float(b, "the bias")?;
    }
    Ok(TensorType::new(
        conv_shape(x[0], x[1], x.get(2).copied(), a)?,
        ElemType::F32,
    ))
}

/// `q.conv`.
pub fn qconv(x: &[&TensorType], a: &QConvAttrs) -> Result<TensorType, String> {
    per_tensor_integer(x[0], "x")?;
    integer(x[1], "w")?;
    if let Some(axis) = x[1].elem.quant_axis()
        && axis != 0
    {
        return Err(format!(
            "w may only be per-axis quantized along axis 0, found axis {axis}"
        ));
    }
    if let Some(b) = x.get(2)
        && !matches!(b.elem, ElemType::Int(_))
    {
        return Err(format!(
            "the bias must be a plain integer tensor, found {b}"
        ));
    }
    if !a.acc.is_valid() {
        return Err(format!(
            "accumulator width {} is outside 1..=32",
            a.acc.bits
        ));
    }
    let geometry = ConvAttrs {
        strides: a.strides.clone(),
        pads: a.pads.clone(),
        dilations: a.dilations.clone(),
        group: a.group,
    };
    Ok(TensorType::new(
        conv_shape(x[0], x[1], x.get(2).copied(), &geometry)?,
        ElemType::Int(a.acc),
    ))
}

/// Any pool: `[N, C, spatial...]` to `[N, C, out...]`, element type kept.
pub fn pool_like(
    x: &TensorType,
    kernel: &[u64],
    strides: &[u64],
    pads: &[u64],
    dilations: Option<&[u64]>,
    ceil: bool,
) -> Result<TensorType, String> {
    if x.rank() < 3 {
        return Err(format!("x must be [N, C, spatial...], found {x}"));
    }
    let spatial = window(&x.shape[2..], kernel, strides, pads, dilations, ceil)?;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(spatial);
    Ok(TensorType::new(shape, x.elem))
}

/// `onnx.max_pool` and `q.max_pool`.
pub fn max_pool(x: &TensorType, a: &MaxPoolAttrs) -> Result<TensorType, String> {
    pool_like(
        x,
        &a.kernel,
        &a.strides,
        &a.pads,
        Some(&a.dilations),
        a.ceil_mode,
    )
}

/// `q.sum_pool`.
pub fn sum_pool(x: &TensorType, a: &SumPoolAttrs) -> Result<TensorType, String> {
    integer(x, "x")?;
    if let Some(axis) = x.elem.quant_axis()
        && axis != 1
    {
        return Err(format!(
            "x may only be per-axis quantized along the channel axis 1, found {axis}"
        ));
    }
    if !a.acc.is_valid() {
        return Err(format!(
            "accumulator width {} is outside 1..=32",
            a.acc.bits
        ));
    }
    let t = pool_like(x, &a.kernel, &a.strides, &a.pads, None, a.ceil_mode)?;
    Ok(t.with_elem(ElemType::Int(a.acc)))
}

/// Global pools: every spatial axis becomes 1.
pub fn global_pool(x: &TensorType) -> Result<TensorType, String> {
    if x.rank() < 3 {
        return Err(format!("x must be [N, C, spatial...], found {x}"));
    }
    let mut shape = x.shape.clone();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    Ok(TensorType::new(shape, x.elem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_onnx() {
        assert_eq!(window_out(32, 3, 1, 1, 1, 1, false), Ok(32));
        assert_eq!(window_out(32, 3, 2, 1, 1, 1, false), Ok(16));
        assert_eq!(window_out(5, 2, 2, 0, 0, 1, false), Ok(2));
        assert_eq!(window_out(5, 2, 2, 0, 0, 1, true), Ok(3));
        // ceil mode never starts a window in the end padding
        assert_eq!(window_out(4, 2, 2, 0, 1, 1, true), Ok(2));
        assert_eq!(window_out(7, 3, 1, 0, 0, 2, false), Ok(3));
        assert!(window_out(2, 5, 1, 0, 0, 1, false).is_err());
    }
}
