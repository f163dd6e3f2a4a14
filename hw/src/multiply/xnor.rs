//! XNOR-popcount: dot products of ±1 vectors as bit operations. A bit 1 stands for +1 and 0
//! for -1; two values agree (product +1) where the XNOR of their bits is 1, so a dot product
//! of `n` values is `2 · popcount(XNOR) - n`.

/// ±1 values as bits, 64 per word, least significant first; `None` if a value is not ±1.
pub fn encode(v: &[i64]) -> Option<Vec<u64>> {
    let mut words = vec![0u64; v.len().div_ceil(64)];
    for (k, &x) in v.iter().enumerate() {
        match x {
            1 => words[k / 64] |= 1 << (k % 64),
            -1 => {}
            _ => return None,
        }
    }
    Some(words)
}

/// The dot product of two encoded vectors of `n` values.
pub fn dot(w: &[u64], a: &[u64], n: usize) -> i64 {
    let mut agree = 0u32;
    for (k, (x, y)) in w.iter().zip(a).enumerate() {
        let valid = n.saturating_sub(64 * k).min(64);
        let mask = if valid == 64 {
            u64::MAX
        } else {
            (1u64 << valid) - 1
        };
        agree += (!(x ^ y) & mask).count_ones();
    }
    2 * i64::from(agree) - n as i64
}
