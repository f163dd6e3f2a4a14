//! Instruction fields: their kinds and the visitor that the binary encoding, the text form,
//! the layout table and the random generator all walk, so each op's fields are listed once.

use super::IsaError;
use qweave_ir::RoundingMode;

/// How a field is stored: its width in the binary form and the values it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Unsigned, `bytes` wide.
    Unsigned { bytes: u8 },
    /// Two's complement, `bytes` wide.
    Signed { bytes: u8 },
    /// 0 or 1 in one byte; `0`/`1` in text.
    Bool,
    /// An index into `names` in one byte; the name in text.
    Enum(&'static [&'static str]),
}

impl Kind {
    /// Bytes the field takes in the binary form.
    pub fn bytes(self) -> usize {
        match self {
            Kind::Unsigned { bytes } | Kind::Signed { bytes } => usize::from(bytes),
            Kind::Bool | Kind::Enum(_) => 1,
        }
    }

    /// The smallest and largest value the field holds.
    pub fn range(self) -> (i64, i64) {
        match self {
            Kind::Unsigned { bytes: 8 } | Kind::Signed { bytes: 8 } => (i64::MIN, i64::MAX),
            Kind::Unsigned { bytes } => (0, (1i64 << (8 * bytes)) - 1),
            Kind::Signed { bytes } => (-(1i64 << (8 * bytes - 1)), (1i64 << (8 * bytes - 1)) - 1),
            Kind::Bool => (0, 1),
            Kind::Enum(names) => (0, names.len() as i64 - 1),
        }
    }

    /// The name the documentation gives the kind.
    pub fn describe(self) -> String {
        match self {
            Kind::Unsigned { bytes } => format!("u{}", 8 * bytes),
            Kind::Signed { bytes } => format!("i{}", 8 * bytes),
            Kind::Bool => "bool".into(),
            Kind::Enum(names) => names.join(" \\| "),
        }
    }
}

/// Something that reads or writes every field of an instruction in order.
pub trait Visitor {
    /// Visits one field, given and taking back its value as an `i64`.
    fn field(&mut self, name: &'static str, kind: Kind, value: &mut i64) -> Result<(), IsaError>;
}

/// A Rust type an instruction field has.
pub trait Field: Copy {
    /// Its kind.
    const KIND: Kind;
    /// The value as an `i64`.
    fn get(self) -> i64;
    /// The value back from an `i64` within `KIND`'s range.
    fn set(v: i64) -> Option<Self>;
}

macro_rules! int_field {
    ($($t:ty => $kind:expr),* $(,)?) => {$(
        impl Field for $t {
            const KIND: Kind = $kind;
            fn get(self) -> i64 {
                self as i64
            }
            fn set(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )*};
}

int_field! {
    u8 => Kind::Unsigned { bytes: 1 },
    u16 => Kind::Unsigned { bytes: 2 },
    u32 => Kind::Unsigned { bytes: 4 },
    i32 => Kind::Signed { bytes: 4 },
    i64 => Kind::Signed { bytes: 8 },
}

impl Field for bool {
    const KIND: Kind = Kind::Bool;
    fn get(self) -> i64 {
        i64::from(self)
    }
    fn set(v: i64) -> Option<Self> {
        match v {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// Declares a field enum: its variants in encoding order and their text names.
macro_rules! field_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// Every variant, in encoding order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// Text names, in encoding order.
            pub const NAMES: &'static [&'static str] = &[$($text),*];
            /// The text name.
            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }

        impl Field for $name {
            const KIND: Kind = Kind::Enum(Self::NAMES);
            fn get(self) -> i64 {
                self as i64
            }
            fn set(v: i64) -> Option<Self> {
                usize::try_from(v).ok().and_then(|i| Self::ALL.get(i)).copied()
            }
        }
    };
}
pub(crate) use field_enum;

/// The rounding modes' text names, in `RoundingMode::ALL` order.
const ROUNDING_NAMES: &[&str] = &[
    "half_even",
    "half_away",
    "half_toward_zero",
    "half_up",
    "half_down",
    "floor",
    "ceil",
    "away",
    "toward_zero",
];

impl Field for RoundingMode {
    const KIND: Kind = Kind::Enum(ROUNDING_NAMES);
    fn get(self) -> i64 {
        RoundingMode::ALL
            .iter()
            .position(|&m| m == self)
            .unwrap_or(0) as i64
    }
    fn set(v: i64) -> Option<Self> {
        usize::try_from(v)
            .ok()
            .and_then(|i| RoundingMode::ALL.get(i))
            .copied()
    }
}

/// Declares an instruction's operand struct and its `visit`, which walks the fields in
/// declaration order (the order of the binary layout and of the text form).
macro_rules! operands {
    ($(#[$m:meta])* $name:ident { $($(#[doc = $fd:literal])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name { $($(#[doc = $fd])* pub $f: $t),* }

        impl $name {
            /// Each field's name and documentation, in layout order.
            pub const FIELD_DOCS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($f), concat!($($fd),*))),*];

            /// Every field 0 (enums at their first name).
            pub fn zeroed() -> Self {
                use $crate::isa::fields::Field;
                Self { $($f: <$t as Field>::set(0).expect("0 is in every field's range")),* }
            }

            /// Walks every field in layout order.
            pub(crate) fn visit(
                &mut self,
                v: &mut dyn $crate::isa::fields::Visitor,
            ) -> Result<(), $crate::isa::IsaError> {
                use $crate::isa::fields::Field;
                $(
                    let mut x = Field::get(self.$f);
                    v.field(stringify!($f), <$t as Field>::KIND, &mut x)?;
                    self.$f = <$t as Field>::set(x).ok_or($crate::isa::IsaError::Range {
                        field: stringify!($f),
                        value: x,
                    })?;
                )*
                Ok(())
            }
        }
    };
}
pub(crate) use operands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_know_their_ranges() {
        assert_eq!(u16::KIND.range(), (0, 65535));
        assert_eq!(i32::KIND.range(), (i32::MIN.into(), i32::MAX.into()));
        assert_eq!(i64::KIND.range(), (i64::MIN, i64::MAX));
        assert_eq!(u8::set(256), None);
        assert_eq!(bool::set(2), None);
        for (i, m) in RoundingMode::ALL.iter().enumerate() {
            assert_eq!(ROUNDING_NAMES[i], m.as_str());
            assert_eq!(RoundingMode::set(m.get()), Some(*m));
        }
        assert_eq!(RoundingMode::set(9), None);
    }
}
