//! Byte searches the parsers run on every line, eight bytes at a time
//! (SWAR): the offset of the first byte of a small set, exactly as a
//! byte-by-byte loop would find it. (logfmt keys and values are too short
//! for this to beat its table loop; JSON strings are not.)

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is below `n` (`n` <= 128). Bits
/// above the lowest one may be false positives; the lowest one is exact.
#[inline]
fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// High bit set in each byte of `w` equal to `c` (lowest one exact).
#[inline]
fn equal(w: u64, c: u8) -> u64 {
    below(w ^ (ONES * u64::from(c)), 1)
}

/// Offset of the first byte of `b` for which `hit` (on a word) or `slow` (on
/// a byte) says yes; `b.len()` when there is none.
#[inline]
fn first(b: &[u8], hit: impl Fn(u64) -> u64, slow: impl Fn(u8) -> bool) -> usize {
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let m = hit(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..].iter().position(|&c| slow(c)).unwrap_or(b.len() - i)
}

/// The first `"` or `\`.
pub(crate) fn quote_or_backslash(b: &[u8]) -> usize {
    first(b, |w| equal(w, b'"') | equal(w, b'\\'), |c| c == b'"' || c == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn word_searches_find_what_a_byte_loop_finds() {
        let alphabet: &[u8] = b"ab=\" \\\t\x00\x1f\x20\x21\x7f\x80\xff\xc3\xa9";
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.random_range(0..40);
            // Mostly plain bytes, so that hits land at every offset.
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.9) {
                        b'a' + rng.random_range(0..26)
                    } else {
                        alphabet[rng.random_range(0..alphabet.len())]
                    }
                })
                .collect();
            let naive = |f: &dyn Fn(u8) -> bool| b.iter().position(|&c| f(c)).unwrap_or(b.len());
            assert_eq!(quote_or_backslash(&b), naive(&|c| c == b'"' || c == b'\\'), "{b:?}");
        }
    }
}
