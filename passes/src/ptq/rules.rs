//! Per-layer bit widths for post-training quantization, from rules such as
//! `default=4,first=8,last=8,conv2=w4a8`.

use std::fmt;

/// Weight and activation widths of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    /// Width of the layer's weights, 1 to 8 (1 is bipolar ±1).
    pub w: u8,
    /// Width of the activations the layer reads, 1 to 8.
    pub a: u8,
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}a{}", self.w, self.a)
    }
}

/// Which layers a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Default,
    First,
    Last,
    /// A layer by its node name.
    Named(String),
}

/// Bit-width rules: `default`, `first` and `last` (the first and last layer with weights),
/// and layers by node name. A named rule beats `first`/`last`, which beat `default`; without
/// a `default` rule every layer gets 8 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitRules {
    rules: Vec<(Target, Bits)>,
}

impl Default for BitRules {
    fn default() -> Self {
        BitRules {
            rules: vec![(Target::Default, Bits { w: 8, a: 8 })],
        }
    }
}

impl BitRules {
    /// Parses `KEY=VALUE[,KEY=VALUE...]`, where `KEY` is `default`, `first`, `last` or a
    /// layer name and `VALUE` is `N` (weights and activations) or `wNaM`, widths 1 to 8.
    pub fn parse(text: &str) -> Result<BitRules, String> {
        let mut rules = BitRules::default().rules;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("bit rule '{part}' is not KEY=BITS (for example default=4 or conv1=w8a8)")
            })?;
            let target = match key.trim() {
                "" => return Err(format!("bit rule '{part}' names no layer")),
                "default" => Target::Default,
                "first" => Target::First,
                "last" => Target::Last,
                name => Target::Named(name.to_string()),
            };
            let bits = parse_bits(value.trim())
                .ok_or_else(|| format!("bit rule '{part}': widths are N or wNaM, each 1 to 8"))?;
            rules.retain(|(t, _)| *t != target);
            rules.push((target, bits));
        }
        Ok(BitRules { rules })
    }

    /// The widths of the layer called `name`; `first`/`last` say whether it is the first or
    /// last layer with weights.
    pub fn for_layer(&self, name: Option<&str>, first: bool, last: bool) -> Bits {
        let find = |want: &dyn Fn(&Target) -> bool| {
            self.rules.iter().rev().find(|(t, _)| want(t)).map(|r| r.1)
        };
        let named = name.and_then(|n| find(&|t| matches!(t, Target::Named(m) if m == n)));
        named
            .or_else(|| {
                if first {
                    find(&|t| *t == Target::First)
                } else {
                    None
                }
            })
            .or_else(|| {
                if last {
                    find(&|t| *t == Target::Last)
                } else {
                    None
                }
            })
            .or_else(|| find(&|t| *t == Target::Default))
            .unwrap_or(Bits { w: 8, a: 8 })
    }

    /// The layer names the rules mention, to check that each names a layer.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|(t, _)| match t {
            Target::Named(n) => Some(n.as_str()),
            _ => None,
        })
    }
}

fn parse_bits(v: &str) -> Option<Bits> {
    let width = |s: &str| s.parse::<u8>().ok().filter(|b| (1..=8).contains(b));
    if let Some(rest) = v.strip_prefix('w') {
        let (w, a) = rest.split_once('a')?;
        return Some(Bits {
            w: width(w)?,
            a: width(a)?,
        });
    }
    let b = width(v)?;
    Some(Bits { w: b, a: b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_beats_first_and_last_which_beat_default() {
        let r = BitRules::parse("default=4, first=8,last=w8a6,conv2=w2a3").unwrap();
        assert_eq!(r.for_layer(Some("conv1"), true, false), Bits { w: 8, a: 8 });
        assert_eq!(r.for_layer(Some("fc"), false, true), Bits { w: 8, a: 6 });
        assert_eq!(r.for_layer(Some("conv2"), true, false), Bits { w: 2, a: 3 });
        assert_eq!(r.for_layer(None, false, false), Bits { w: 4, a: 4 });
        assert_eq!(r.names().collect::<Vec<_>>(), ["conv2"]);
        let plain = BitRules::parse("").unwrap();
        assert_eq!(plain.for_layer(Some("x"), true, true), Bits { w: 8, a: 8 });
        // a later rule for the same target replaces the earlier one
        let r = BitRules::parse("default=4,default=6").unwrap();
        assert_eq!(r.for_layer(None, false, false), Bits { w: 6, a: 6 });
    }

    #[test]
    fn bad_rules_are_errors() {
        for bad in [
            "default",
            "default=0",
            "default=9",
            "first=w4",
            "=4",
            "last=w4a9x",
        ] {
            assert!(BitRules::parse(bad).is_err(), "{bad}");
        }
    }
}
