//! The hw level: a `q.conv` or `q.matmul` bound to the accelerator by the mapper, written
//! `map = [w4a4, filter, 3, 2, 11, a, 1, 16, 16, 8]`: the precision mode, the packing of its
//! products (kind, weights and activations per multiply, lane bits, the weights' port) and
//! the tile (groups, filters, input channels, output rows). The binding never changes what
//! the op computes; the interpreter ignores it, the program emitter follows it. At the q
//! level ops carry `map = none`, which is not printed.

use crate::attrs::{AttrKind, AttrValue};
use crate::types::ElemType;

/// How a PE computes the products (the ISA's `config pack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PackKind {
    /// Bit Fusion bricks in LUTs.
    Bricks,
    /// XNOR-popcount of ±1 operands.
    Xnor,
    /// Products packed into a DSP block, one per lane.
    Kernel,
    /// Taps times neighbouring pixels packed into a DSP block.
    Filter,
}

impl PackKind {
    /// Every kind, in the ISA's encoding order.
    pub const ALL: [PackKind; 4] = [
        PackKind::Bricks,
        PackKind::Xnor,
        PackKind::Kernel,
        PackKind::Filter,
    ];

    /// The word in the text form (the ISA's name).
    pub fn as_str(self) -> &'static str {
        match self {
            PackKind::Bricks => "bricks",
            PackKind::Xnor => "xnor",
            PackKind::Kernel => "kernel",
            PackKind::Filter => "filter",
        }
    }
}

/// A binding of an array op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bound {
    /// The mode's weight and activation bits.
    pub w: u8,
    pub a: u8,
    /// The packing.
    pub pack: PackKind,
    pub kp: u8,
    pub np: u8,
    pub lane: u8,
    /// Whether the packed weights take the multiplier's wide port `a` (else `b`).
    pub wport_a: bool,
    /// Groups, filters, input channels and output rows per tile.
    pub tile: [u64; 4],
}

/// An op's binding, if it has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Map {
    /// The q level: not bound.
    #[default]
    None,
    /// The hw level.
    Bound(Bound),
}

fn word(v: &AttrValue) -> Option<&str> {
    match v {
        AttrValue::Word(w) => Some(w),
        _ => None,
    }
}

fn num<T: std::str::FromStr>(v: &AttrValue) -> Option<T> {
    match v {
        AttrValue::Number(n) => n.parse().ok(),
        _ => None,
    }
}

/// `wNaM` as its two widths.
fn mode(s: &str) -> Option<(u8, u8)> {
    let rest = s.strip_prefix('w')?;
    let (w, a) = rest.split_once('a')?;
    Some((w.parse().ok()?, a.parse().ok()?))
}

impl AttrKind for Map {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        let shape = "none or [wNaM, bricks|xnor|kernel|filter, kp, np, lane, a|b, g, m, c, r]";
        match v {
            AttrValue::Word(w) if w == "none" => Ok(Map::None),
            AttrValue::List(items) if items.len() == 10 => {
                let bad = |what: &str| format!("a binding's {what} is malformed; expected {shape}");
                let (w, a) = word(&items[0]).and_then(mode).ok_or_else(|| bad("mode"))?;
                let pack = word(&items[1])
                    .and_then(|p| PackKind::ALL.into_iter().find(|k| k.as_str() == p))
                    .ok_or_else(|| bad("packing kind"))?;
                let [kp, np, lane] = [2, 3, 4].map(|i| num::<u8>(&items[i]));
                let (Some(kp), Some(np), Some(lane)) = (kp, np, lane) else {
                    return Err(bad("packing shape"));
                };
                let wport_a = match word(&items[5]) {
                    Some("a") => true,
                    Some("b") => false,
                    _ => return Err(bad("port")),
                };
                let mut tile = [0u64; 4];
                for (k, t) in tile.iter_mut().enumerate() {
                    *t = num(&items[6 + k])
                        .filter(|&v| v >= 1)
                        .ok_or_else(|| bad("tile"))?;
                }
                if !(1..=8).contains(&w) || !(1..=8).contains(&a) {
                    return Err(bad("mode"));
                }
                Ok(Map::Bound(Bound {
                    w,
                    a,
                    pack,
                    kp,
                    np,
                    lane,
                    wport_a,
                    tile,
                }))
            }
            _ => Err(format!("expected {shape}")),
        }
    }

    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        match self {
            Map::None => out.push_str("none"),
            Map::Bound(b) => {
                let [g, m, c, r] = b.tile;
                out.push_str(&format!(
                    "[w{}a{}, {}, {}, {}, {}, {}, {g}, {m}, {c}, {r}]",
                    b.w,
                    b.a,
                    b.pack.as_str(),
                    b.kp,
                    b.np,
                    b.lane,
                    if b.wport_a { "a" } else { "b" }
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_round_trip_and_bad_ones_say_what() {
        let b = Map::Bound(Bound {
            w: 4,
            a: 4,
            pack: PackKind::Filter,
            kp: 3,
            np: 2,
            lane: 11,
            wport_a: true,
            tile: [1, 16, 8, 4],
        });
        let mut text = String::new();
        b.write_attr(&mut text, &|_| String::new());
        assert_eq!(text, "[w4a4, filter, 3, 2, 11, a, 1, 16, 8, 4]");
        let parsed = crate::parse(
            &format!(
                "graph @g(%x: tensor<1x1x4x4xi8>) -> (tensor<1x1x4x4xi32>) {{\n  %w = const dense<[1]> : tensor<1x1x1x1xi8>\n  %y = q.conv %x, %w {{strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], acc = i32, map = {text}}} : tensor<1x1x4x4xi32>\n  return %y\n}}\n"
            ),
            None,
        )
        .unwrap();
        let printed = crate::print(&parsed.graph);
        assert!(
            printed.contains("map = [w4a4, filter, 3, 2, 11, a, 1, 16, 8, 4]"),
            "{printed}"
        );
        let bad = |t: &str| {
            let items = t
                .split(", ")
                .map(|x| {
                    if x.parse::<u64>().is_ok() {
                        AttrValue::Number(x.into())
                    } else {
                        AttrValue::Word(x.into())
                    }
                })
                .collect();
            Map::from_attr(&AttrValue::List(items)).unwrap_err()
        };
        assert!(bad("w9a4, filter, 3, 2, 11, a, 1, 16, 8, 4").contains("mode"));
        assert!(bad("w4a4, fold, 3, 2, 11, a, 1, 16, 8, 4").contains("packing kind"));
        assert!(bad("w4a4, filter, 3, 2, 11, a, 1, 0, 8, 4").contains("tile"));
        assert!(bad("w4a4").contains("expected none or"));
    }
}
