//! A block's tokens with their histograms kept as they are added, as the klauspost lineage
//! does: the block writer decides stored/fixed/dynamic and whether to reuse the previous
//! block's codes from these counts, so they must be exactly the encoder's.

use crate::deflate::bits::{LENGTH_EXTRA_BITS, OFFSET_EXTRA_BITS};
use crate::deflate::codes::{length_code, offset_code};

pub const MATCH_TYPE: u32 = 1 << 30;
const LENGTH_SHIFT: u32 = 22;
const BASE_MATCH_LENGTH: i32 = 3;
pub const END_BLOCK_MARKER: u32 = 256;
const LITERAL_COUNT: usize = 286;
const OFFSET_CODE_COUNT: usize = 30;

/// A literal (< 256), the end-of-block marker (256), or a match: `MATCH_TYPE`, the length
/// minus 3 at bit 22, the offset code at bit 16 and the distance minus 1 in the low 16 bits.
#[derive(Clone, Copy)]
pub struct Token(pub u32);

impl Token {
    pub fn length(self) -> u32 {
        (self.0 >> LENGTH_SHIFT) & 0xff
    }
    pub fn offset_code(self) -> usize {
        ((self.0 >> 16) & 31) as usize
    }
    pub fn offset(self) -> u32 {
        self.0 & 0xffff
    }
}

pub struct Tokens {
    /// Length codes (index = code - 256; 0 is the end-of-block marker).
    pub extra_hist: [i32; 32],
    pub off_hist: [i32; 32],
    pub lit_hist: [i32; 256],
    pub toks: Vec<Token>,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            extra_hist: [0; 32],
            off_hist: [0; 32],
            lit_hist: [0; 256],
            toks: Vec::with_capacity(1 << 16),
        }
    }
}

impl Tokens {
    pub fn n(&self) -> usize {
        self.toks.len()
    }

    pub fn reset(&mut self) {
        if self.toks.is_empty() {
            return;
        }
        self.toks.clear();
        self.lit_hist = [0; 256];
        self.extra_hist = [0; 32];
        self.off_hist = [0; 32];
    }

    pub fn add_literal(&mut self, lit: u8) {
        self.toks.push(Token(u32::from(lit)));
        self.lit_hist[lit as usize] += 1;
    }

    /// Literals in bulk: one reservation for the run, not a capacity check per byte.
    pub fn add_literals(&mut self, lits: &[u8]) {
        self.toks.extend(lits.iter().map(|&v| Token(u32::from(v))));
        for &v in lits {
            self.lit_hist[v as usize] += 1;
        }
    }

    /// A match of `xlength` + 3 bytes at distance `xoffset` + 1.
    pub fn add_match(&mut self, xlength: u32, xoffset: u32) {
        let oc = offset_code(xoffset);
        self.extra_hist[length_code(xlength) as usize + 1] += 1;
        self.off_hist[oc as usize] += 1;
        self.toks.push(Token(
            MATCH_TYPE | xlength << LENGTH_SHIFT | oc << 16 | xoffset,
        ));
    }

    /// A match of any length, split into pieces of at most 258 the way the encoders do (never
    /// leaving a piece shorter than 3).
    pub fn add_match_long(&mut self, mut xlength: i32, xoffset: u32) {
        while xlength > 0 {
            let mut xl = xlength;
            if xl > 258 {
                xl = if xl > 258 + BASE_MATCH_LENGTH {
                    258
                } else {
                    258 - BASE_MATCH_LENGTH
                };
            }
            xlength -= xl;
            self.add_match((xl - BASE_MATCH_LENGTH) as u32, xoffset);
        }
    }

    pub fn add_eob(&mut self) {
        self.toks.push(Token(END_BLOCK_MARKER));
        self.extra_hist[0] += 1;
    }

    /// The block's size in bits estimated from its histograms: an order-0 entropy with
    /// each symbol's cost clamped to 1–15 bits, plus the extra bits. Computed in f32 with
    /// the encoder's own log2 approximation, since its rounding decides block boundaries.
    pub fn estimated_bits(&self) -> i64 {
        let mut shannon = 0f32;
        let mut bits = 0i64;
        let mut n_matches = 0i64;
        let total = self.toks.len();
        let cost = |n: f32, inv: f32| (-fast_log2(n * inv)).clamp(1.0, 15.0) * n;
        if total > 0 {
            let inv_total = 1.0 / total as f32;
            for &v in self.lit_hist.iter().filter(|&&v| v > 0) {
                shannon += cost(v as f32, inv_total);
            }
            shannon += 15.0;
            let lengths = &self.extra_hist[1..LITERAL_COUNT - 256];
            for (i, &v) in lengths.iter().enumerate().filter(|(_, &v)| v > 0) {
                shannon += cost(v as f32, inv_total);
                bits += i64::from(LENGTH_EXTRA_BITS[i]) * i64::from(v);
                n_matches += i64::from(v);
            }
        }
        if n_matches > 0 {
            let inv_total = 1.0 / n_matches as f32;
            let offsets = &self.off_hist[..OFFSET_CODE_COUNT];
            for (i, &v) in offsets.iter().enumerate().filter(|(_, &v)| v > 0) {
                shannon += cost(v as f32, inv_total);
                bits += i64::from(OFFSET_EXTRA_BITS[i]) * i64::from(v);
            }
        }
        shannon as i64 + bits
    }
}

/// log2 by the exponent and a quadratic on the mantissa (klauspost's mFastLog2).
fn fast_log2(val: f32) -> f32 {
    let mut ux = val.to_bits() as i32;
    let mut log2 = (((ux >> 23) & 255) - 128) as f32;
    ux &= -0x7f80_0001;
    ux += 127 << 23;
    let uval = f32::from_bits(ux as u32);
    // The constants as klauspost wrote them: rounded to f32 here as Go rounds them.
    #[allow(clippy::excessive_precision)]
    let (a, b, c) = (-0.34484843f32, 2.02466578f32, 0.67487759f32);
    log2 += (a * uval + b) * uval - c;
    log2
}
