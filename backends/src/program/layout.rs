//! Where tensors live: every tensor seen as planes of rows of values, and its DRAM region.
//!
//! The accelerator works on `(plane, row, column)` blocks. A tensor of rank 4 `[1, C, H, W]`
//! is `C` planes of `H x W`; a matrix `[M, N]` is `N` planes of one row of `M` values (the
//! layout a matrix product computes in, see `docs/isa.md`); a vector `[n]` is `n` planes of
//! one value. The plane is always the channel axis, so per-channel parameters run along
//! planes. In DRAM every tensor is dense and row-major at its storage width; a view gives the
//! value strides of its planes, rows and columns there (0 along broadcast dimensions).

use qweave_hw::isa::Format;
use qweave_ir::Storage;

/// A tensor as planes of rows of values, with each dimension's stride in DRAM values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Planes, rows, columns.
    pub dims: [u64; 3],
    /// DRAM values between consecutive planes, rows and columns.
    pub strides: [u64; 3],
}

impl View {
    /// The DRAM value number of plane `z`, row `y`, column `x`.
    pub fn at(&self, z: u64, y: u64, x: u64) -> u64 {
        z * self.strides[0] + y * self.strides[1] + x * self.strides[2]
    }
}

/// The channel axis of a tensor of rank `rank`: the one the planes run along.
pub fn channel_axis(rank: usize) -> usize {
    usize::from(rank >= 2)
}

/// Which view dimension (0 planes, 1 rows, 2 columns) axis `axis` of a rank-`rank` tensor is.
pub fn view_dim(rank: usize, axis: usize) -> Option<usize> {
    let lead = rank.saturating_sub(4);
    match (rank.min(4), axis.checked_sub(lead)?) {
        (4, 1) | (3, 1) | (2, 1) | (1, 0) => Some(0),
        (4, 2) => Some(1),
        (4, 3) | (3, 2) | (2, 0) => Some(2),
        _ => None,
    }
}

/// The view of a tensor of shape `shape` broadcast (numpy rules) to `result`, in `result`'s
/// planes, rows and columns. Leading axes of `result` beyond the view's must be 1.
pub fn view(shape: &[u64], result: &[u64]) -> Result<View, String> {
    let r = result.len();
    if shape.len() > r {
        return Err(format!("shape {shape:?} does not broadcast to {result:?}"));
    }
    let padded: Vec<u64> = std::iter::repeat_n(1, r - shape.len())
        .chain(shape.iter().copied())
        .collect();
    let mut own = vec![0u64; r];
    let mut acc = 1u64;
    for i in (0..r).rev() {
        own[i] = acc;
        acc *= padded[i];
    }
    let mut strides = vec![0u64; r];
    for i in 0..r {
        strides[i] = if padded[i] == result[i] {
            own[i]
        } else if padded[i] == 1 {
            0
        } else {
            return Err(format!("shape {shape:?} does not broadcast to {result:?}"));
        };
    }
    let mut dims = [1u64; 3];
    let mut st = [0u64; 3];
    for (axis, (&d, &s)) in result.iter().zip(&strides).enumerate() {
        match view_dim(r, axis) {
            Some(k) => {
                dims[k] = d;
                st[k] = s;
            }
            None if d == 1 => {}
            None => {
                return Err(format!(
                    "shape {result:?}: axis {axis} has {d} elements; the accelerator runs \
                     one image at a time (batch 1) with channels on axis 1"
                ));
            }
        }
    }
    Ok(View { dims, strides: st })
}

/// The DRAM format and width of a storage type.
pub fn format(s: Storage) -> (Format, u8) {
    match s {
        Storage::Int(t) if t.signed => (Format::Signed, t.bits),
        Storage::Int(t) => (Format::Unsigned, t.bits),
        Storage::Bipolar => (Format::Bipolar, 1),
    }
}

/// A dense tensor in DRAM: values packed at `bits` from bit address `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Bit address of value 0 (regions start on a byte).
    pub start: u64,
    /// Format of the values.
    pub fmt: Format,
    /// Bits per value.
    pub bits: u8,
    /// Number of values.
    pub len: u64,
}

impl Region {
    /// The byte and bit where value `e` starts, as a transfer names them.
    pub fn at(&self, e: u64) -> (u32, u8) {
        let bit = self.start + e * u64::from(self.bits);
        // regions are allocated below 4 GiB (`Dram::alloc` checks)
        ((bit / 8) as u32, (bit % 8) as u8)
    }

    /// First byte.
    pub fn byte(&self) -> u64 {
        self.start / 8
    }

    /// Bytes it spans.
    pub fn bytes(&self) -> u64 {
        (self.len * u64::from(self.bits)).div_ceil(8)
    }
}

/// The accelerator's DRAM: activations first (allocated while planning), then the
/// constants the emitter packs (the `weights.bin` image).
#[derive(Debug, Default)]
pub struct Dram {
    /// Bytes allocated to activations (the constants start here, 64-byte aligned).
    pub activations: u64,
    /// The constants' bytes.
    pub image: Vec<u8>,
    sealed: bool,
}

/// Regions and transfers address DRAM with `u32` bytes.
const DRAM_LIMIT: u64 = 1 << 32;

impl Dram {
    /// Allocates an activation region (before any constant is packed).
    pub fn alloc(&mut self, len: u64, fmt: Format, bits: u8) -> Result<Region, String> {
        debug_assert!(!self.sealed, "activations are allocated before constants");
        let start = self.activations.next_multiple_of(8);
        let r = Region {
            start: start * 8,
            fmt,
            bits,
            len,
        };
        self.activations = start + r.bytes();
        if self.activations > DRAM_LIMIT {
            return Err(format!(
                "the activations need {} bytes of DRAM, more than the 4 GiB a transfer addresses",
                self.activations
            ));
        }
        Ok(r)
    }

    /// Where the constants start.
    pub fn constants_base(&self) -> u64 {
        self.activations.next_multiple_of(64)
    }

    /// Packs `values` as a constant region.
    pub fn constant(&mut self, values: &[i64], fmt: Format, bits: u8) -> Result<Region, String> {
        self.sealed = true;
        let offset = self.image.len().next_multiple_of(8) as u64;
        let r = Region {
            start: (self.constants_base() + offset) * 8,
            fmt,
            bits,
            len: values.len() as u64,
        };
        if r.byte() + r.bytes() > DRAM_LIMIT {
            return Err("the constants do not fit the 4 GiB a transfer addresses".into());
        }
        self.image.resize((offset + r.bytes()) as usize, 0);
        for (e, &v) in values.iter().enumerate() {
            qweave_hw::isa::packing::write(&mut self.image, offset * 8, e as u64, bits, fmt, v)
                .map_err(|m| format!("constant value {e}: {m}"))?;
        }
        Ok(r)
    }

    /// Total DRAM bytes: activations, then constants.
    pub fn size(&self) -> u64 {
        self.constants_base() + self.image.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_put_channels_on_planes_and_broadcast_with_stride_zero() {
        let v = view(&[1, 3, 4, 5], &[1, 3, 4, 5]).unwrap();
        assert_eq!((v.dims, v.strides), ([3, 4, 5], [20, 5, 1]));
        // a matrix is N planes of one row of M values
        let v = view(&[2, 6], &[2, 6]).unwrap();
        assert_eq!((v.dims, v.strides), ([6, 1, 2], [1, 0, 6]));
        // a per-channel gate broadcast over rows and columns
        let v = view(&[1, 3, 1, 1], &[1, 3, 4, 5]).unwrap();
        assert_eq!((v.dims, v.strides), ([3, 4, 5], [1, 0, 0]));
        // a bias vector along a matrix's columns
        let v = view(&[6], &[2, 6]).unwrap();
        assert_eq!((v.dims, v.strides), ([6, 1, 2], [1, 0, 0]));
        assert!(
            view(&[2, 3, 4, 5], &[2, 3, 4, 5])
                .unwrap_err()
                .contains("batch 1")
        );
        assert!(view(&[3], &[1, 4]).is_err());
        assert_eq!(view_dim(4, 1), Some(0));
        assert_eq!(view_dim(2, 0), Some(2));
        assert_eq!(view_dim(4, 0), None);
    }

    #[test]
    fn regions_start_on_bytes_and_constants_follow_activations() {
        let mut d = Dram::default();
        let a = d.alloc(5, Format::Unsigned, 3).unwrap();
        let b = d.alloc(2, Format::Signed, 8).unwrap();
        assert_eq!((a.start, a.bytes(), b.start), (0, 2, 64));
        assert_eq!(a.at(3), (1, 1));
        let c = d.constant(&[-1, 2, 3], Format::Signed, 4).unwrap();
        assert_eq!(c.byte(), 64);
        assert_eq!(&d.image, &[0x2f, 0x03]);
        assert_eq!(d.size(), 66);
    }
}
