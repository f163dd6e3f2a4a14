//! The binary form of a program (`program.bin`): a 16-byte header, then one 64-byte
//! little-endian word per instruction.

use super::fields::{Kind, Visitor};
use super::{Deps, Instr, IsaError, Op};

/// Bytes per instruction.
pub const INSTR_BYTES: usize = 64;
/// Bytes of an instruction's header: opcode, dependency flags, layer (`u16`).
pub const HEADER_BYTES: usize = 4;
/// The file's first eight bytes: the name and the format version (1).
pub const MAGIC: [u8; 8] = *b"QWISA\0\x01\0";
/// Bytes before the first instruction: the magic, the instruction count (`u32`) and four
/// reserved zero bytes.
pub const FILE_HEADER_BYTES: usize = 16;

/// One instruction's 64 bytes. Fields must be within their kinds' ranges (instructions built
/// by the assembler, the decoder or the emitter always are).
pub fn encode_one(i: &Instr) -> Result<[u8; INSTR_BYTES], IsaError> {
    struct Writer([u8; INSTR_BYTES], usize);
    impl Visitor for Writer {
        fn field(&mut self, name: &'static str, kind: Kind, v: &mut i64) -> Result<(), IsaError> {
            let (lo, hi) = kind.range();
            if *v < lo || *v > hi {
                return Err(IsaError::Range {
                    field: name,
                    value: *v,
                });
            }
            let n = kind.bytes();
            self.0[self.1..self.1 + n].copy_from_slice(&v.to_le_bytes()[..n]);
            self.1 += n;
            Ok(())
        }
    }
    let mut w = Writer([0; INSTR_BYTES], HEADER_BYTES);
    w.0[0] = i.op.opcode();
    w.0[1] = i.deps.bits();
    w.0[2..4].copy_from_slice(&i.layer.to_le_bytes());
    let mut op = i.op;
    op.visit(&mut w)?;
    Ok(w.0)
}

/// Decodes one instruction; `index` is for the error message.
pub fn decode_one(b: &[u8; INSTR_BYTES], index: usize) -> Result<Instr, IsaError> {
    struct Reader<'a>(&'a [u8; INSTR_BYTES], usize);
    impl Visitor for Reader<'_> {
        fn field(&mut self, _: &'static str, kind: Kind, v: &mut i64) -> Result<(), IsaError> {
            let n = kind.bytes();
            let mut raw = [0u8; 8];
            raw[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            let wide = u64::from_le_bytes(raw);
            *v = match kind {
                // sign-extend from the field's width
                Kind::Signed { .. } => ((wide << (64 - 8 * n)) as i64) >> (64 - 8 * n),
                _ => wide as i64,
            };
            self.1 += n;
            Ok(())
        }
    }
    let bad = |message: String| IsaError::Binary { index, message };
    let mut op = Op::zeroed(b[0]).ok_or_else(|| bad(format!("unknown opcode {}", b[0])))?;
    let deps =
        Deps::from_bits(b[1]).ok_or_else(|| bad(format!("reserved flag bits in {:#04x}", b[1])))?;
    let layer = u16::from_le_bytes([b[2], b[3]]);
    let mut r = Reader(b, HEADER_BYTES);
    op.visit(&mut r).map_err(|e| bad(e.to_string()))?;
    if b[r.1..].iter().any(|&x| x != 0) {
        return Err(bad(format!(
            "{}: the reserved bytes from {} on must be zero",
            op.mnemonic(),
            r.1
        )));
    }
    let i = Instr { deps, layer, op };
    i.check_deps().map_err(|e| bad(e.to_string()))?;
    Ok(i)
}

/// A whole program file.
pub fn encode(program: &[Instr]) -> Result<Vec<u8>, IsaError> {
    let count = u32::try_from(program.len())
        .map_err(|_| IsaError::Container("more than 2^32 instructions".into()))?;
    let mut out = Vec::with_capacity(FILE_HEADER_BYTES + INSTR_BYTES * program.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for (index, i) in program.iter().enumerate() {
        let word = encode_one(i).map_err(|e| IsaError::Binary {
            index,
            message: e.to_string(),
        })?;
        out.extend_from_slice(&word);
    }
    Ok(out)
}

/// Reads a program file.
pub fn decode(bytes: &[u8]) -> Result<Vec<Instr>, IsaError> {
    let header = bytes
        .get(..FILE_HEADER_BYTES)
        .ok_or_else(|| IsaError::Container(format!("{} bytes is too short", bytes.len())))?;
    if header[..8] != MAGIC {
        return Err(IsaError::Container(
            "the magic is not QWISA version 1".into(),
        ));
    }
    let count = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
    let body = &bytes[FILE_HEADER_BYTES..];
    if header[12..].iter().any(|&b| b != 0) || body.len() != count.saturating_mul(INSTR_BYTES) {
        return Err(IsaError::Container(format!(
            "the header announces {count} instructions, the file holds {} bytes of them",
            body.len()
        )));
    }
    body.chunks_exact(INSTR_BYTES)
        .enumerate()
        .map(|(index, w)| {
            let word: &[u8; INSTR_BYTES] = w.try_into().map_err(|_| IsaError::Binary {
                index,
                message: "truncated".into(),
            })?;
            decode_one(word, index)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{Buf, Load};

    fn load() -> Instr {
        Instr {
            deps: Deps {
                push_next: true,
                ..Deps::default()
            },
            layer: 3,
            op: Op::Load(Load {
                buf: Buf::Wgt,
                offset: -128,
                dram: 0x1234,
                x: 9,
                ..Load::zeroed()
            }),
        }
    }

    #[test]
    fn words_have_the_documented_header_and_fields() {
        let w = encode_one(&load()).unwrap();
        assert_eq!(&w[..4], &[2, 8, 3, 0]);
        assert_eq!(w[4], 1, "buf = wgt");
        let at = |name| {
            crate::isa::layout(2)
                .into_iter()
                .find(|f| f.0 == name)
                .unwrap()
                .1
        };
        assert_eq!(&w[at("dram")..at("dram") + 4], &0x1234u32.to_le_bytes());
        assert_eq!(&w[at("offset")..at("offset") + 8], &(-128i64).to_le_bytes());
        assert_eq!(decode_one(&w, 0), Ok(load()));
    }

    #[test]
    fn malformed_words_and_files_are_errors() {
        let mut w = encode_one(&load()).unwrap();
        w[63] = 1;
        assert!(
            decode_one(&w, 5)
                .unwrap_err()
                .to_string()
                .contains("instruction 5")
        );
        let mut w = encode_one(&load()).unwrap();
        w[0] = 0;
        assert!(
            decode_one(&w, 0)
                .unwrap_err()
                .to_string()
                .contains("opcode 0")
        );
        let mut w = encode_one(&load()).unwrap();
        w[4] = 7;
        assert!(decode_one(&w, 0).unwrap_err().to_string().contains("'buf'"));
        let mut w = encode_one(&load()).unwrap();
        w[1] = 1; // pop prev on the load queue
        assert!(
            decode_one(&w, 0)
                .unwrap_err()
                .to_string()
                .contains("no prev")
        );
        let file = encode(&[load(), load()]).unwrap();
        assert_eq!(decode(&file).unwrap().len(), 2);
        assert!(decode(&file[..file.len() - 1]).is_err());
        assert!(decode(&file[..10]).is_err());
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(decode(&bad).unwrap_err().to_string().contains("magic"));
        let mut i = load();
        if let Op::Load(l) = &mut i.op {
            l.dram = u32::MAX;
        }
        assert!(encode(&[i]).is_ok());
    }
}
