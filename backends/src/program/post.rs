//! Post-processing ops (`q.requantize`, `q.clamp`, `q.lut`, `q.multi_threshold`) as the
//! instructions that apply them to a block of accumulators, with their parameters packed in
//! DRAM and loaded into the parameter memory and the table per tile.

use super::layout::{Dram, Region, channel_axis, format};
use qweave_hw::isa::{self, AluOp, Buf, Format, Load, Op};
use qweave_ir::{ElemType, Graph, OpKind, QuantParams, RoundingMode, Storage};

/// Words of a requantization record: multiplier, shift, input and output zero points.
const RECORD: u64 = 4;

/// A post-processing op ready to emit.
#[derive(Clone, Debug)]
pub enum Post {
    /// `requant` with one record per channel (`per_channel`) or one for all.
    Requant {
        records: Region,
        per_channel: bool,
        rounding: RoundingMode,
        out: (Format, u8),
    },
    /// `clamp`.
    Clamp { lo: i64, hi: i64 },
    /// `lut` with the table in DRAM; `min` reads its first entry.
    Lut { table: Region, min: i64 },
    /// `alu` with a constant per channel (or one for all), loaded beside the block.
    Alu {
        op: AluOp,
        values: Region,
        per_channel: bool,
        /// Zero points of the block, of the constant, and of the result.
        zps: [i64; 3],
        out: (Format, u8),
    },
    /// `thresh` with `count` thresholds per channel (or shared).
    Thresh {
        table: Region,
        count: u64,
        per_channel: bool,
        bias: i64,
        out: (Format, u8),
    },
}

/// The zero point of `elem` for each of `channels` channels (0 for plain integers); an error
/// unless it is per tensor or per axis along the channel axis.
pub fn zero_points(elem: ElemType, rank: usize, channels: u64) -> Result<Vec<i64>, String> {
    let Some(q) = elem.quant() else {
        return Ok(vec![0; channels as usize]);
    };
    match &q.params {
        QuantParams::Tensor { zero_point, .. } => Ok(vec![*zero_point; channels as usize]),
        QuantParams::Axis {
            axis, zero_points, ..
        } if *axis == channel_axis(rank) && zero_points.len() as u64 == channels => {
            Ok(zero_points.to_vec())
        }
        QuantParams::Axis { axis, .. } => Err(format!(
            "zero points run along axis {axis}; the accelerator keeps per-channel parameters \
             on the channel axis ({})",
            channel_axis(rank)
        )),
    }
}

/// The storage of an integer-valued type.
pub fn storage(elem: ElemType) -> Result<Storage, String> {
    elem.storage()
        .ok_or_else(|| "a float value is left; lower the graph to the q level first".into())
}

impl Post {
    /// Prepares `op` (a post-processing op of `g`) on a tensor of `channels` planes, packing
    /// its parameters into `dram`.
    pub fn prepare(
        g: &Graph,
        dram: &mut Dram,
        op: qweave_ir::Op,
        channels: u64,
    ) -> Result<Post, String> {
        let d = &g.ops[op];
        let x = g.ty(d.operands[0]);
        let y = g.ty(d.results[0]);
        let rank = x.rank();
        match &d.kind {
            OpKind::Requantize(a) => {
                let per = |len: usize| len > 1;
                if (per(a.multiplier.len()) || per(a.shift.len()))
                    && a.axis as usize != channel_axis(rank)
                {
                    return Err(format!(
                        "requantizes along axis {}; per-channel parameters must run along the \
                         channel axis ({})",
                        a.axis,
                        channel_axis(rank)
                    ));
                }
                let zin = zero_points(x.elem, rank, channels)?;
                let zout = zero_points(y.elem, rank, channels)?;
                let per_channel = channels > 1
                    && (per(a.multiplier.len())
                        || per(a.shift.len())
                        || zin.iter().any(|&z| z != zin[0])
                        || zout.iter().any(|&z| z != zout[0]));
                let n = if per_channel { channels as usize } else { 1 };
                let pick = |v: &[i64], c: usize| v[if v.len() == 1 { 0 } else { c }];
                let shifts: Vec<i64> = a.shift.iter().map(|&s| s as i64).collect();
                let mut words = Vec::with_capacity(n * RECORD as usize);
                for c in 0..n {
                    words.extend([pick(&a.multiplier, c), pick(&shifts, c), zin[c], zout[c]]);
                }
                if let Some(w) = words.iter().find(|w| i32::try_from(**w).is_err()) {
                    return Err(format!(
                        "a requantization parameter ({w}) does not fit the 32 bits a record \
                         word holds"
                    ));
                }
                Ok(Post::Requant {
                    records: dram.constant(&words, Format::Signed, 32)?,
                    per_channel,
                    rounding: a.rounding,
                    out: format(storage(y.elem)?),
                })
            }
            OpKind::QClamp(a) => Ok(Post::Clamp {
                lo: a.min,
                hi: a.max,
            }),
            OpKind::QLut => {
                let t = g.const_data(d.operands[1]).and_then(|t| t.as_int()).ok_or(
                    "the table is not a constant; fold constants (`fold-constants`) first",
                )?;
                let (fmt, bits) = format(storage(g.ty(d.operands[1]).elem)?);
                Ok(Post::Lut {
                    table: dram.constant(t, fmt, bits)?,
                    min: storage(x.elem)?.min(),
                })
            }
            OpKind::QMultiThreshold(a) => {
                if a.axis as usize != channel_axis(rank) {
                    return Err(format!(
                        "thresholds run along axis {}; they must run along the channel axis ({})",
                        a.axis,
                        channel_axis(rank)
                    ));
                }
                let tt = g.ty(d.operands[1]);
                let t = g.const_data(d.operands[1]).and_then(|t| t.as_int()).ok_or(
                    "the thresholds are not a constant; fold constants (`fold-constants`) first",
                )?;
                let rows = tt.shape.first().copied().unwrap_or(1);
                let count = tt.shape.get(1).copied().unwrap_or(0);
                if let Some(v) = t.iter().find(|v| i32::try_from(**v).is_err()) {
                    return Err(format!(
                        "threshold {v} does not fit the 32 bits a parameter word holds"
                    ));
                }
                Ok(Post::Thresh {
                    table: dram.constant(t, Format::Signed, 32)?,
                    count,
                    per_channel: rows > 1 && channels > 1,
                    bias: a.bias,
                    out: format(storage(y.elem)?),
                })
            }
            OpKind::QAdd(_) | OpKind::QMul(_) => {
                let data = super::plan::post_operand(g, op)
                    .ok_or("not an add or multiply by a per-channel constant")?;
                let k = d.operands.iter().position(|&v| v != data).unwrap_or(1);
                let cv = d.operands[k];
                let ct = g.ty(cv);
                let values = g
                    .const_data(cv)
                    .and_then(|t| t.as_int())
                    .ok_or("the constant operand is not an integer constant")?;
                let w = super::layout::view(&ct.shape, &y.shape)?;
                let per_channel = w.strides[0] != 0 && channels > 1;
                let picked: Vec<i64> = if per_channel {
                    (0..channels)
                        .map(|c| values[w.at(c, 0, 0) as usize])
                        .collect()
                } else {
                    vec![values[0]]
                };
                if let Some(v) = picked.iter().find(|v| i32::try_from(**v).is_err()) {
                    return Err(format!(
                        "the constant {v} does not fit the 32 bits it is loaded at"
                    ));
                }
                let zp = |elem: ElemType| zero_points(elem, rank, 1).map(|z| z[0]);
                Ok(Post::Alu {
                    op: if matches!(d.kind, OpKind::QAdd(_)) {
                        AluOp::Add
                    } else {
                        AluOp::Mul
                    },
                    values: dram.constant(&picked, Format::Signed, 32)?,
                    per_channel,
                    zps: [zp(g.ty(data).elem)?, zp(ct.elem)?, zp(y.elem)?],
                    out: format(storage(y.elem)?),
                })
            }
            k => Err(format!("`{}` is not a post-processing op", k.name())),
        }
    }

    /// Parameter words it needs for `planes` channels.
    pub fn par_words(&self, planes: u64) -> u64 {
        match self {
            Post::Requant { per_channel, .. } => RECORD * if *per_channel { planes } else { 1 },
            Post::Thresh {
                count, per_channel, ..
            } => count * if *per_channel { planes } else { 1 },
            Post::Clamp { .. } | Post::Lut { .. } | Post::Alu { .. } => 0,
        }
    }

    /// Accumulators it needs beside the block of `planes` channels.
    pub fn scratch(&self, planes: u64) -> u64 {
        match self {
            Post::Alu { per_channel, .. } => {
                if *per_channel {
                    planes
                } else {
                    1
                }
            }
            _ => 0,
        }
    }

    /// Table entries it needs.
    pub fn lut_entries(&self) -> u64 {
        match self {
            Post::Lut { table, .. } => table.len,
            _ => 0,
        }
    }
}

/// A parameter or table load of `n` values per plane for `z` planes (`zs` values apart).
fn param_load(buf: Buf, src: &Region, first: u64, sram: u64, z: u64, n: u64, zs: u64) -> Load {
    let (dram, bit) = src.at(first);
    // a table of more than 65535 entries (16-bit inputs) goes as rows of 256
    let (y, x, ys) = if n > u64::from(u16::MAX) {
        (n / 256, 256, 256)
    } else {
        (1, n, 0)
    };
    Load {
        buf,
        fmt: src.fmt,
        bits: src.bits,
        sram: sram as u32,
        dram,
        bit,
        z: z as u16,
        y: y as u16,
        x: x as u16,
        zs: zs as u32,
        ys,
        xs: 1,
        ..Load::zeroed()
    }
}

/// The instructions applying `posts` to the accumulators from `acc` on: `dims` planes, rows
/// and columns, the first plane being channel `z0` of the tensor. Constants go to the
/// accumulators from `scratch` on ([`Post::scratch`] of them).
pub fn emit(posts: &[Post], acc: u64, scratch: u64, z0: u64, dims: [u64; 3]) -> Vec<Op> {
    let [z, y, x] = dims;
    let (mut par, mut lut, mut spare) = (0u64, 0u64, scratch);
    let mut ops = Vec::new();
    let (acc32, z16, y16, x16) = (acc as u32, z as u16, y as u16, x as u16);
    for p in posts {
        match p {
            Post::Requant {
                records,
                per_channel,
                rounding,
                out,
            } => {
                let (first, planes) = if *per_channel { (z0, z) } else { (0, 1) };
                ops.push(Op::Load(param_load(
                    Buf::Par,
                    records,
                    first * RECORD,
                    par,
                    planes,
                    RECORD,
                    RECORD,
                )));
                ops.push(Op::Requant(isa::Requant {
                    acc: acc32,
                    z: z16,
                    y: y16,
                    x: x16,
                    par: par as u32,
                    pstride: if *per_channel { RECORD as u16 } else { 0 },
                    rounding: *rounding,
                    ofmt: out.0,
                    obits: out.1,
                }));
                par += RECORD * planes;
            }
            Post::Alu {
                op,
                values,
                per_channel,
                zps,
                out,
            } => {
                let (first, planes) = if *per_channel { (z0, z) } else { (0, 1) };
                ops.push(Op::Load(param_load(
                    Buf::Acc,
                    values,
                    first,
                    spare,
                    planes,
                    1,
                    1,
                )));
                ops.push(Op::Alu(isa::Alu {
                    op: *op,
                    dst: acc32,
                    src: spare as u32,
                    z: z16,
                    y: y16,
                    x: x16,
                    szs: u32::from(*per_channel),
                    sys: 0,
                    sxs: 0,
                    dzp: zps[0],
                    szp: zps[1],
                    ozp: zps[2],
                    ofmt: out.0,
                    obits: out.1,
                }));
                spare += planes;
            }
            Post::Clamp { lo, hi } => ops.push(Op::Clamp(isa::Clamp {
                acc: acc32,
                z: z16,
                y: y16,
                x: x16,
                lo: *lo,
                hi: *hi,
            })),
            Post::Lut { table, min } => {
                ops.push(Op::Load(param_load(
                    Buf::Lut,
                    table,
                    0,
                    lut,
                    1,
                    table.len,
                    0,
                )));
                ops.push(Op::Lut(isa::Lut {
                    acc: acc32,
                    z: z16,
                    y: y16,
                    x: x16,
                    lut: lut as u32,
                    entries: table.len as u32,
                    min: *min,
                }));
                lut += table.len;
            }
            Post::Thresh {
                table,
                count,
                per_channel,
                bias,
                out,
            } => {
                let (first, planes) = if *per_channel { (z0, z) } else { (0, 1) };
                if *count > 0 {
                    ops.push(Op::Load(param_load(
                        Buf::Par,
                        table,
                        first * count,
                        par,
                        planes,
                        *count,
                        *count,
                    )));
                }
                ops.push(Op::Threshold(isa::Threshold {
                    acc: acc32,
                    z: z16,
                    y: y16,
                    x: x16,
                    par: par as u32,
                    count: *count as u16,
                    pstride: if *per_channel { *count as u32 } else { 0 },
                    bias: *bias,
                    ofmt: out.0,
                    obits: out.1,
                }));
                par += count * planes;
            }
        }
    }
    ops
}
