//! A small, fast encoding for the words of a parked stack (copy-on-park).
//!
//! Parked stacks are full of zeros (padding, cleared locals), repeated pointers (the same
//! control block or channel referenced by several frames) and pointers into a few regions
//! (the binary, the heap, the stack itself) that share their upper 32 bits. So each word
//! gets a one-byte tag:
//!
//! - `ZERO`: the word is 0;
//! - `DICT + i` (i < 15): the word is the i-th entry of a dictionary of repeated words;
//! - `BASE + b` (b < 4): the word is `bases[b] << 32 | low`, with `low` stored in 4 bytes;
//! - `RAW`: the word is stored in full.
//!
//! Layout: `[words u32][ndict u8][nbases u8][tags; words][dict u64; ndict][bases u32; nbases]`
//! then the payloads (4 or 8 bytes each) in word order. Typical parked stacks shrink by
//! about half. Pure functions on byte slices; no unsafe.

const ZERO: u8 = 0;
const DICT: u8 = 1;
const DICT_MAX: usize = 15;
const BASE: u8 = 16;
const BASE_MAX: usize = 4;
const RAW: u8 = 20;

fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
}

/// The `limit` most frequent values of `vals` that occur at least `min` times.
fn most_frequent(mut vals: Vec<u64>, min: usize, limit: usize) -> Vec<u64> {
    vals.sort_unstable();
    let mut runs: Vec<(usize, u64)> = Vec::new();
    let mut i = 0;
    while i < vals.len() {
        let j = i + vals[i..].iter().take_while(|&&v| v == vals[i]).count();
        if j - i >= min {
            runs.push((j - i, vals[i]));
        }
        i = j;
    }
    runs.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    runs.into_iter().take(limit).map(|r| r.1).collect()
}

/// Encodes `bytes` (a multiple of 8 long).
pub(crate) fn pack(bytes: &[u8]) -> Box<[u8]> {
    debug_assert_eq!(bytes.len() % 8, 0);
    let n = bytes.len() / 8;
    let nonzero: Vec<u64> = words(bytes).filter(|&w| w != 0).collect();
    let dict = most_frequent(nonzero.clone(), 2, DICT_MAX);
    let rest: Vec<u64> = nonzero
        .into_iter()
        .filter(|w| !dict.contains(w))
        .map(|w| w >> 32)
        .collect();
    let bases: Vec<u32> = most_frequent(rest, 2, BASE_MAX)
        .into_iter()
        .map(|b| b as u32)
        .collect();

    let mut out = Vec::with_capacity(6 + n * 5);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.push(dict.len() as u8);
    out.push(bases.len() as u8);
    let tags_at = out.len();
    out.resize(tags_at + n, ZERO);
    for d in &dict {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for b in &bases {
        out.extend_from_slice(&b.to_le_bytes());
    }
    for (i, w) in words(bytes).enumerate() {
        let tag = if w == 0 {
            ZERO
        } else if let Some(d) = dict.iter().position(|&d| d == w) {
            DICT + d as u8
        } else if let Some(b) = bases.iter().position(|&b| b == (w >> 32) as u32) {
            out.extend_from_slice(&(w as u32).to_le_bytes());
            BASE + b as u8
        } else {
            out.extend_from_slice(&w.to_le_bytes());
            RAW
        };
        out[tags_at + i] = tag;
    }
    out.into_boxed_slice()
}

/// The decoded length in bytes of `packed`.
pub(crate) fn unpacked_len(packed: &[u8]) -> usize {
    u32::from_le_bytes(packed[..4].try_into().unwrap()) as usize * 8
}

/// Decodes `packed` into `out` (exactly `unpacked_len` bytes long).
pub(crate) fn unpack(packed: &[u8], out: &mut [u8]) {
    let n = unpacked_len(packed) / 8;
    let (ndict, nbases) = (packed[4] as usize, packed[5] as usize);
    let tags = &packed[6..6 + n];
    let dict_at = 6 + n;
    let bases_at = dict_at + ndict * 8;
    let mut at = bases_at + nbases * 4;
    let u64_at = |i: usize| u64::from_le_bytes(packed[i..i + 8].try_into().unwrap());
    let u32_at = |i: usize| u32::from_le_bytes(packed[i..i + 4].try_into().unwrap()) as u64;
    for (i, &tag) in tags.iter().enumerate() {
        let w = match tag {
            ZERO => 0,
            t if t < BASE => u64_at(dict_at + (t - DICT) as usize * 8),
            t if t < RAW => {
                let w = u32_at(bases_at + (t - BASE) as usize * 4) << 32 | u32_at(at);
                at += 4;
                w
            }
            _ => {
                let w = u64_at(at);
                at += 8;
                w
            }
        };
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ws: &[u64]) -> usize {
        let bytes: Vec<u8> = ws.iter().flat_map(|w| w.to_le_bytes()).collect();
        let packed = pack(&bytes);
        let mut out = vec![0xAAu8; unpacked_len(&packed)];
        unpack(&packed, &mut out);
        assert_eq!(out, bytes);
        packed.len()
    }

    #[test]
    fn round_trips() {
        round_trip(&[]);
        round_trip(&[0, 0, 0]);
        round_trip(&[
            u64::MAX,
            1,
            0,
            u64::MAX,
            7 << 32 | 5,
            7 << 32 | 9,
            7 << 32 | 1,
        ]);
        let mixed: Vec<u64> = (0..500u64)
            .map(|i| match i % 5 {
                0 => 0,
                1 => 0x5649_251e_24c0,
                2 => 0x7f1c_0000_0000 | (i * 16),
                3 => i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                _ => 0x5649_3d75_0000 | i,
            })
            .collect();
        let len = round_trip(&mixed);
        assert!(len < mixed.len() * 8 * 3 / 4, "{len}");
    }

    #[test]
    fn many_distinct_repeats_overflow_the_dictionary() {
        let ws: Vec<u64> = (0..100u64).flat_map(|i| [i + 1, i + 1]).collect();
        round_trip(&ws);
    }
}
