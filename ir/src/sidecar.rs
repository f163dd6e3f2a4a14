//! The `.qwb` sidecar: the large constants of a `.qir` file, addressed by content hash.
//!
//! Layout (all integers little-endian): the magic `QWB1`, a `u64` entry count, then per
//! entry a 16-byte hash, a `u64` byte length and the bytes. Entries are sorted by hash.
//! A blob's bytes are its tensor's elements, row-major, each at the width of its storage:
//! `f32` as 4 bytes; integers as 1, 2 or 4 bytes (for widths up to 8, 16 and 32 bits),
//! two's complement when signed; bipolar as one signed byte. The hash is the first 16 bytes
//! of the BLAKE3 hash of the bytes, and reading a sidecar checks every hash.

use crate::data::Data;
use crate::types::{ElemType, TensorType};
use std::collections::BTreeMap;
use std::fmt;

const MAGIC: &[u8; 4] = b"QWB1";

/// A blob's content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobHash(pub [u8; 16]);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let full = blake3::hash(bytes);
        let mut h = [0u8; 16];
        h.copy_from_slice(&full.as_bytes()[..16]);
        BlobHash(h)
    }

    /// Reads 32 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 32
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let mut h = [0u8; 16];
        for (i, byte) in h.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(BlobHash(h))
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Bytes per element of `elem` in a blob.
pub fn elem_bytes(elem: ElemType) -> usize {
    match elem.storage() {
        None => 4,
        Some(s) => match s.bits() {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        },
    }
}

/// The blob bytes of `data` as elements of `elem`.
pub fn encode(data: &Data, elem: ElemType) -> Vec<u8> {
    match data {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::Int(v) => {
            let width = elem_bytes(elem);
            let mut out = Vec::with_capacity(v.len() * width);
            for &x in v.iter() {
                out.extend_from_slice(&x.to_le_bytes()[..width]);
            }
            out
        }
    }
}

/// Reads blob `bytes` as the contents of a tensor of type `ty`.
pub fn decode(bytes: &[u8], ty: &TensorType) -> Result<Data, String> {
    let width = elem_bytes(ty.elem);
    let expected = ty.numel().checked_mul(width);
    if expected != Some(bytes.len()) {
        return Err(format!(
            "the blob has {} bytes but {ty} needs {}",
            bytes.len(),
            ty.numel().saturating_mul(width)
        ));
    }
    let data = match ty.elem.storage() {
        None => Data::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Some(s) => {
            let signed = s.min() < 0;
            Data::Int(
                bytes
                    .chunks_exact(width)
                    .map(|c| {
                        let mut raw = [0u8; 8];
                        raw[..width].copy_from_slice(c);
                        let unsigned = u64::from_le_bytes(raw);
                        let shift = 64 - 8 * width as u32;
                        if signed {
                            ((unsigned << shift) as i64) >> shift
                        } else {
                            unsigned as i64
                        }
                    })
                    .collect(),
            )
        }
    };
    data.check(ty)?;
    Ok(data)
}

/// A set of blobs by hash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sidecar {
    blobs: BTreeMap<BlobHash, Vec<u8>>,
}

impl Sidecar {
    /// An empty sidecar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blob (once per content) and returns its hash.
    pub fn insert(&mut self, bytes: Vec<u8>) -> BlobHash {
        let h = BlobHash::of(&bytes);
        self.blobs.entry(h).or_insert(bytes);
        h
    }

    /// The blob with hash `h`.
    pub fn get(&self, h: &BlobHash) -> Option<&[u8]> {
        self.blobs.get(h).map(Vec::as_slice)
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when there are no blobs.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// The file contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(self.blobs.len() as u64).to_le_bytes());
        for (h, bytes) in &self.blobs {
            out.extend_from_slice(&h.0);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Reads a sidecar file's contents, checking its structure and every hash.
    pub fn from_bytes(mut input: &[u8]) -> Result<Self, String> {
        fn take<'a>(input: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
            if input.len() < n {
                return Err(format!(
                    "truncated: {what} needs {n} bytes, {} remain",
                    input.len()
                ));
            }
            let (head, rest) = input.split_at(n);
            *input = rest;
            Ok(head)
        }
        let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        if take(&mut input, 4, "the magic")? != MAGIC {
            return Err("not a qweave sidecar (the file does not start with QWB1)".into());
        }
        let count = u64_at(take(&mut input, 8, "the entry count")?);
        let mut blobs = BTreeMap::new();
        for i in 0..count {
            let mut h = [0u8; 16];
            h.copy_from_slice(take(&mut input, 16, "a hash")?);
            let len = u64_at(take(&mut input, 8, "a length")?);
            let len = usize::try_from(len).map_err(|_| format!("blob {i} is too large"))?;
            let bytes = take(&mut input, len, "a blob")?;
            let declared = BlobHash(h);
            if BlobHash::of(bytes) != declared {
                return Err(format!(
                    "blob {declared} is corrupt: its bytes do not match its hash"
                ));
            }
            blobs.insert(declared, bytes.to_vec());
        }
        if !input.is_empty() {
            return Err(format!(
                "{} unexpected bytes after the last blob",
                input.len()
            ));
        }
        Ok(Sidecar { blobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IntType;

    #[test]
    fn encodes_at_storage_width() {
        let i4 = TensorType::new(vec![3], ElemType::Int(IntType::signed(4)));
        let data = Data::Int(vec![-8, 7, -1].into());
        let bytes = encode(&data, i4.elem);
        assert_eq!(bytes, [0xf8, 0x07, 0xff]);
        assert_eq!(decode(&bytes, &i4).unwrap(), data);
        let u16t = TensorType::new(vec![2], ElemType::Int(IntType::unsigned(16)));
        let data = Data::Int(vec![65535, 1].into());
        assert_eq!(decode(&encode(&data, u16t.elem), &u16t).unwrap(), data);
        let i32t = TensorType::new(vec![1], ElemType::Int(IntType::I32));
        let data = Data::Int(vec![i32::MIN as i64].into());
        assert_eq!(decode(&encode(&data, i32t.elem), &i32t).unwrap(), data);
        let u4 = TensorType::new(vec![1], ElemType::Int(IntType::unsigned(4)));
        assert!(decode(&[0x10], &u4).unwrap_err().contains("outside"));
        assert!(decode(&[0, 0], &u4).unwrap_err().contains("needs 1"));
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let mut s = Sidecar::new();
        let h = s.insert(vec![1, 2, 3]);
        s.insert(vec![1, 2, 3]);
        assert_eq!(s.len(), 1);
        let bytes = s.to_bytes();
        assert_eq!(Sidecar::from_bytes(&bytes).unwrap(), s);
        assert_eq!(BlobHash::parse(&h.to_string()), Some(h));
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(Sidecar::from_bytes(&bad).unwrap_err().contains("corrupt"));
        for cut in 0..bytes.len() {
            assert!(Sidecar::from_bytes(&bytes[..cut]).is_err());
        }
        assert!(Sidecar::from_bytes(b"XXXX").is_err());
    }
}
