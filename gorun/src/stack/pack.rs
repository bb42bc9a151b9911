//! A small, fast encoding for the words of a parked stack (copy-on-park).
//!
//! Goroutines parked at the same place have nearly the same stack: the same return
//! addresses, the same pointers to shared objects (the channel, the runtime), the same
//! saved registers. Each worker keeps a few recently evicted stacks as *references*
//! ([`References`]); a stack is encoded word by word against one of them, aligned at the
//! top (outer frames coincide even when the depths differ). Each word gets a 2-bit tag:
//!
//! - `ZERO`: the word is 0;
//! - `SAME`: the word equals the reference's word at the same depth;
//! - `SHIFT`: the reference's word plus the distance between the two stack tops (a pointer
//!   into the goroutine's own stack);
//! - `OTHER`: described by a 4-bit tag of its own:
//!   * `DELTA + d` (d < 3): the reference's word plus the d-th of a few deltas stored once
//!     (pointers to this goroutine's own heap objects, which the reference's frames hold
//!     at the same depths);
//!   * `DICT + i` (i < 8): the i-th entry of a dictionary of repeated words;
//!   * `BASE + b` (b < 4): `bases[b] << 32 | low`, with `low` stored in 4 bytes;
//!   * `RAW`: the word stored in full.
//!
//! Layout: `[words u32][others u32][ndelta u8][ndict u8][nbases u8][delta i64; ndelta]`
//! `[tags; ceil(words / 4)][other tags; ceil(others / 2)][dict u64; ndict]`
//! `[bases u32; nbases]` then the payloads (4 or 8 bytes each) in word order. A typical
//! parked stack of ~800 bytes packs to ~70.
//! No unsafe here: pure functions on slices.

use std::sync::Arc;

const ZERO: u8 = 0;
const SAME: u8 = 1;
const SHIFT: u8 = 2;
const OTHER: u8 = 3;
// The 4-bit tags of `OTHER` words.
const DELTA: u8 = 0;
const DELTA_MAX: usize = 3;
const RAW: u8 = 3;
const BASE: u8 = 4;
const BASE_MAX: usize = 4;
const DICT: u8 = 8;
const DICT_MAX: usize = 8;
const HEADER: usize = 11;

/// A stack evicted earlier, kept verbatim so that similar stacks can be encoded against it.
pub(crate) struct Reference {
    words: Box<[u64]>,
    top: usize,
}

impl Reference {
    /// The reference word `depth` words below the top, if the reference is that deep.
    fn at(&self, depth: usize) -> Option<u64> {
        let m = self.words.len();
        (depth < m).then(|| self.words[m - 1 - depth])
    }
}

/// The `limit` most frequent values of `vals` that occur at least `min` times, most frequent
/// first, with their counts.
fn most_frequent(mut vals: Vec<u64>, min: usize, limit: usize) -> Vec<(usize, u64)> {
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
    runs.truncate(limit);
    runs
}

/// What the reference says about word `w` at `depth`: its tag if it needs no payload.
fn by_reference(w: u64, depth: usize, r: Option<&Reference>, shift: u64) -> Option<u8> {
    let rw = r?.at(depth)?;
    if w == rw {
        Some(SAME)
    } else if w == rw.wrapping_add(shift) {
        Some(SHIFT)
    } else {
        None
    }
}

/// Encodes the stack words `ws` (lowest address first) whose top is at address `top`,
/// against `reference` if given.
pub(crate) fn pack(ws: &[u64], top: usize, reference: Option<&Reference>) -> Box<[u8]> {
    let n = ws.len();
    let shift = reference.map_or(0, |r| (top as u64).wrapping_sub(r.top as u64));
    let depth = |i: usize| n - 1 - i;
    // Words the reference does not explain, with their indices.
    let rest: Vec<(usize, u64)> = ws
        .iter()
        .enumerate()
        .filter(|&(i, &w)| w != 0 && by_reference(w, depth(i), reference, shift).is_none())
        .map(|(i, &w)| (i, w))
        .collect();
    let delta: Vec<u64> = match reference {
        Some(r) => {
            let diffs = rest
                .iter()
                .filter_map(|&(i, w)| r.at(depth(i)).map(|rw| w.wrapping_sub(rw)))
                .collect();
            most_frequent(diffs, 2, DELTA_MAX)
                .into_iter()
                .map(|d| d.1)
                .collect()
        }
        None => Vec::new(),
    };
    let by_delta = |i: usize, w: u64| {
        let rw = reference.and_then(|r| r.at(depth(i)))?;
        delta.iter().position(|&d| rw.wrapping_add(d) == w)
    };
    let others = rest.len(); // words with a 4-bit tag
    let rest: Vec<u64> = rest
        .into_iter()
        .filter(|&(i, w)| by_delta(i, w).is_none())
        .map(|(_, w)| w)
        .collect();
    let bases: Vec<u32> = most_frequent(rest.iter().map(|w| w >> 32).collect(), 2, BASE_MAX)
        .into_iter()
        .map(|(_, b)| b as u32)
        .collect();
    // A dictionary entry costs 8 bytes and saves each use its payload.
    let payload = |w: u64| {
        if bases.contains(&((w >> 32) as u32)) {
            4
        } else {
            8
        }
    };
    let dict: Vec<u64> = most_frequent(rest.clone(), 2, usize::MAX)
        .into_iter()
        .filter(|&(count, w)| count * payload(w) > 8)
        .take(DICT_MAX)
        .map(|(_, w)| w)
        .collect();

    let tags_at = HEADER + delta.len() * 8;
    let others_at = tags_at + n.div_ceil(4);
    let mut out = Vec::with_capacity(others_at + others.div_ceil(2) + rest.len() * 8 + 64);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(others as u32).to_le_bytes());
    out.extend_from_slice(&[delta.len() as u8, dict.len() as u8, bases.len() as u8]);
    for d in &delta {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.resize(others_at + others.div_ceil(2), 0);
    for d in &dict {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for b in &bases {
        out.extend_from_slice(&b.to_le_bytes());
    }
    let mut k = 0;
    for (i, &w) in ws.iter().enumerate() {
        let tag = if w == 0 {
            ZERO
        } else if let Some(t) = by_reference(w, depth(i), reference, shift) {
            t
        } else {
            let other = if let Some(d) = by_delta(i, w) {
                DELTA + d as u8
            } else if let Some(d) = dict.iter().position(|&d| d == w) {
                DICT + d as u8
            } else if let Some(b) = bases.iter().position(|&b| b == (w >> 32) as u32) {
                out.extend_from_slice(&(w as u32).to_le_bytes());
                BASE + b as u8
            } else {
                out.extend_from_slice(&w.to_le_bytes());
                RAW
            };
            out[others_at + k / 2] |= other << (4 * (k % 2));
            k += 1;
            OTHER
        };
        out[tags_at + i / 4] |= tag << (2 * (i % 4));
    }
    debug_assert_eq!(k, others);
    out.into_boxed_slice()
}

/// The number of words encoded in `packed`.
pub(crate) fn unpacked_words(packed: &[u8]) -> usize {
    u32::from_le_bytes(packed[..4].try_into().unwrap()) as usize
}

/// Decodes `packed` (top at address `top`, packed against `reference`), handing each word to
/// `emit`, lowest address first. Allocates nothing and takes no lock, so a signal handler may
/// call it (restoring a stack on a fault, `evict`).
pub(crate) fn unpack_each(
    packed: &[u8],
    top: usize,
    reference: Option<&Reference>,
    mut emit: impl FnMut(u64),
) {
    let n = unpacked_words(packed);
    let u64_at = |i: usize| u64::from_le_bytes(packed[i..i + 8].try_into().unwrap());
    let u32_at = |i: usize| u32::from_le_bytes(packed[i..i + 4].try_into().unwrap()) as u64;
    let others = u32_at(4) as usize;
    let (ndelta, ndict, nbases) = (packed[8] as usize, packed[9] as usize, packed[10] as usize);
    let mut delta = [0u64; DELTA_MAX];
    for (d, slot) in delta.iter_mut().enumerate().take(ndelta) {
        *slot = u64_at(HEADER + d * 8);
    }
    let shift = reference.map_or(0, |r| (top as u64).wrapping_sub(r.top as u64));
    let tags_at = HEADER + ndelta * 8;
    let others_at = tags_at + n.div_ceil(4);
    let dict_at = others_at + others.div_ceil(2);
    let bases_at = dict_at + ndict * 8;
    let mut at = bases_at + nbases * 4;
    // Word `i` (from the bottom) lines up with the reference's word `i + offset`: the two
    // are aligned at the top. A stack packed against a reference is unpacked with it.
    let (rwords, offset) = match reference {
        Some(r) => (&r.words[..], r.words.len().wrapping_sub(n)),
        None => (&[][..], 0),
    };
    let refw = |i: usize| rwords[i.wrapping_add(offset)];
    let mut k = 0;
    for i in 0..n {
        emit(match packed[tags_at + i / 4] >> (2 * (i % 4)) & 3 {
            ZERO => 0,
            SAME => refw(i),
            SHIFT => refw(i).wrapping_add(shift),
            _ => {
                let other = packed[others_at + k / 2] >> (4 * (k % 2)) & 0xf;
                k += 1;
                match other {
                    t if t < RAW => refw(i).wrapping_add(delta[t as usize]),
                    RAW => {
                        at += 8;
                        u64_at(at - 8)
                    }
                    t if t < DICT => {
                        at += 4;
                        u32_at(bases_at + (t - BASE) as usize * 4) << 32 | u32_at(at - 4)
                    }
                    t => u64_at(dict_at + (t - DICT) as usize * 8),
                }
            }
        });
    }
}

/// How many references a worker keeps, and how many evictions must pass between two new
/// ones once it has that many (a reference that turns out poor costs its size once).
const KEEP: usize = 8;
const NEW_EVERY: u32 = 256;
/// The deepest stack (in words, 32 KiB) kept as a reference: a deep one (a goroutine with
/// a big stack parked mid-recursion) would hold its megabytes for as long as it is one.
const MAX_REFERENCE_WORDS: usize = 4096;

/// A worker's recent references, least recently chosen first. Each packed stack holds an
/// `Arc` to the reference it was packed against, so a reference lives as long as a stack
/// needs it.
#[derive(Default)]
pub(crate) struct References {
    recent: Vec<Arc<Reference>>,
    since_new: u32,
}

impl References {
    /// Packs the stack words `ws` (top at `top`) against whichever reference of the same
    /// depth packs it smallest. Now and then, when none does well, this stack becomes a new
    /// reference (the least recently chosen one is forgotten).
    pub(crate) fn pack(&mut self, ws: &[u64], top: usize) -> (Box<[u8]>, Option<Arc<Reference>>) {
        self.since_new = self.since_new.saturating_add(1);
        // Score the candidates cheaply (words they explain), then pack once.
        let explained = |r: &Reference| {
            let shift = (top as u64).wrapping_sub(r.top as u64);
            (ws.iter().rev().zip(r.words.iter().rev()))
                .filter(|&(&w, &rw)| w == rw || w == rw.wrapping_add(shift))
                .count()
        };
        // The last one chosen first: when it explains half the words or more (a storm of
        // goroutines parked at the same place) and packs the stack well (below), the
        // others are not scored.
        let last = self.recent.len().saturating_sub(1);
        let fast = (self.recent.last())
            .filter(|r| r.words.len() == ws.len() && explained(r) * 2 >= ws.len())
            .map(|r| pack(ws, top, Some(r)))
            .filter(|packed| packed.len() <= ws.len())
            .map(|packed| (packed, last));
        let best = fast.or_else(|| {
            (self.recent.iter().enumerate())
                .filter(|(_, r)| r.words.len() == ws.len())
                .max_by_key(|(_, r)| explained(r))
                .map(|(k, r)| (pack(ws, top, Some(r)), k))
        });
        let may_add = ws.len() <= MAX_REFERENCE_WORDS
            && (self.since_new >= NEW_EVERY || self.recent.len() < KEEP && best.is_none());
        match best {
            // Good is an eighth of the raw bytes or less.
            Some((packed, k)) if packed.len() <= ws.len() || !may_add => {
                let r = self.recent.remove(k);
                self.recent.push(r.clone());
                (packed, Some(r))
            }
            None if !may_add => {
                // A depth none of the references has: their outer frames may still match.
                let r = self.recent.last().cloned();
                (pack(ws, top, r.as_deref()), r)
            }
            _ => {
                let r = Arc::new(Reference {
                    words: ws.into(),
                    top,
                });
                if self.recent.len() == KEEP {
                    self.recent.remove(0);
                }
                self.recent.push(r.clone());
                self.since_new = 0;
                (pack(ws, top, Some(&r)), Some(r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `packed` into `out` (exactly `unpacked_words` long, top at address `top`), with
    /// the reference it was packed against.
    fn unpack(packed: &[u8], out: &mut [u64], top: usize, reference: Option<&Reference>) {
        let mut i = 0;
        unpack_each(packed, top, reference, |w| {
            out[i] = w;
            i += 1;
        });
    }

    fn round_trip(ws: &[u64], top: usize, r: Option<&Reference>) -> usize {
        let packed = pack(ws, top, r);
        let mut out = vec![0xAAAA; unpacked_words(&packed)];
        unpack(&packed, &mut out, top, r);
        assert_eq!(out, ws);
        packed.len()
    }

    /// A made-up parked stack of `n` words at `top`: zeros, code addresses, a shared heap
    /// object, this goroutine's heap objects at `heap`, pointers into itself.
    fn stack(n: usize, top: usize, heap: u64, salt: u64) -> Vec<u64> {
        (0..n as u64)
            .map(|i| match i % 6 {
                0 => 0,
                1 => 0x5649_251e_2000 + i * 16,
                2 => top as u64 - (n as u64 - i) * 8 + 32,
                3 => heap + (i % 3) * 0x60,
                4 => 0x7f1c_0000_0000 | (i * 16),
                _ => (i ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            })
            .collect()
    }

    #[test]
    fn round_trips_without_reference() {
        round_trip(&[], 0x1000, None);
        round_trip(&[0, 0, 0], 0x1000, None);
        round_trip(
            &[u64::MAX, 1, 0, u64::MAX, 7 << 32 | 5, 7 << 32 | 9],
            0x1000,
            None,
        );
        let s = stack(100, 0x7f00_0001_0000, 0x5600_0000_1000, 1);
        let len = round_trip(&s, 0x7f00_0001_0000, None);
        assert!(len < 100 * 8 * 3 / 4, "{len}");
    }

    #[test]
    fn similar_stacks_pack_small_against_a_reference() {
        let (top1, top2) = (0x7f00_0001_0000, 0x7f00_0012_0000);
        let r = Reference {
            words: stack(100, top1, 0x5600_0000_1000, 1).into(),
            top: top1,
        };
        // Same shape, another stack and other heap objects, a few different words.
        let s = stack(100, top2, 0x5600_0bad_3000, 2);
        let len = round_trip(&s, top2, Some(&r));
        assert!(len < 100 * 8 / 4, "{len}");
        // Deeper and shallower stacks still share their outer frames with the reference.
        round_trip(&stack(130, top2, 0x5600_0bad_3000, 1), top2, Some(&r));
        round_trip(&stack(40, top2, 0x5600_0bad_3000, 1), top2, Some(&r));
    }

    #[test]
    fn zero_words_that_a_delta_would_also_explain() {
        let r = Reference {
            words: [u64::MAX, 20, 30, 40].into(),
            top: 0x1000,
        };
        round_trip(&[0, 21, 31, 41], 0x1000, Some(&r));
    }

    #[test]
    fn many_distinct_repeats_overflow_the_dictionary() {
        let ws: Vec<u64> = (0..100u64).flat_map(|i| [i + 1, i + 1]).collect();
        round_trip(&ws, 0x1000, None);
    }

    #[test]
    fn references_are_reused_and_bounded() {
        let mut refs = References::default();
        for k in 0..1000u64 {
            let n = 50 + (k % 7) as usize * 10;
            let top = 0x7f00_0000_0000 + (k as usize) * 0x11000;
            let s = stack(n, top, 0x5600_0000_0000 + k * 0x1000, k % 3);
            let (packed, r) = refs.pack(&s, top);
            let mut out = vec![0; unpacked_words(&packed)];
            unpack(&packed, &mut out, top, r.as_deref());
            assert_eq!(out, s);
            assert!(refs.recent.len() <= KEEP);
        }
    }
}
