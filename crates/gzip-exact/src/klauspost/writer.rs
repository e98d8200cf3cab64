//! Deflate blocks as the klauspost lineage writes them (Go 1.27's huffmanBitWriter): a block
//! may stay open and continue with the previous block's codes when an estimate says a new
//! table would not pay, and stored, fixed and dynamic blocks are chosen by sizes that mix
//! exact counts and that estimate. Each decision changes the bytes, so each is the encoder's.

use super::tokens::{Token, Tokens, END_BLOCK_MARKER, MATCH_TYPE};
use crate::deflate::bits::{
    code_lengths, dynamic_header_bits, write_dynamic_header, Bits, CODEGEN_CODE_COUNT, LENGTH_BASE,
    LENGTH_EXTRA_BITS, OFFSET_BASE, OFFSET_EXTRA_BITS,
};
use crate::deflate::huffman::{Code, Encoder};
use crate::deflate::{MAX_NUM_LIT, MAX_STORE_BLOCK_SIZE};

const OFFSET_CODE_COUNT: usize = 30;
const LENGTH_CODES_START: usize = 257;
/// Blocks of fewer tokens may be written with the fixed codes.
const MAX_PREDEFINED_TOKENS: usize = 250;
/// What a Huffman-only block's header is guessed to cost before it is built.
const GUESS_HEADER_SIZE_BITS: i64 = 70 * 8;

pub struct BitWriter {
    pub(crate) bits: Bits,
    /// klauspost/compress before 1.18.1: a block left open counts no end-of-block marker
    /// and declares every literal/length and distance code.
    fills_open_blocks: bool,
    /// The header size in bits of the dynamic block still open (0: none open).
    prev_header: i64,
    wrote_huffman: bool,
    /// A new table must beat reusing the open one by 1/2^penalty of its size.
    pub log_new_table_penalty: u32,
    literal_freq: [i32; LENGTH_CODES_START + 32],
    offset_freq: [i32; 32],
    codegen_freq: [i32; CODEGEN_CODE_COUNT],
    codegen: Vec<u8>,
    literals: Encoder,
    tmp_literals: Encoder,
    offsets: Encoder,
    codegen_enc: Encoder,
    fixed_literals: Encoder,
    fixed_offsets: Encoder,
    huff_offset: Encoder,
}

/// The size in bits of `input` as one stored block, if it is given and fits in one.
fn stored_size(input: Option<&[u8]>) -> Option<i64> {
    input
        .filter(|i| i.len() <= MAX_STORE_BLOCK_SIZE)
        .map(|i| ((i.len() + 5) * 8) as i64)
}

/// Bits for these frequencies, or None when a symbol that occurs has no code.
fn can_encode_len(enc: &Encoder, freq: &[i32]) -> Option<i64> {
    let mut total = 0i64;
    for (f, c) in freq.iter().zip(&enc.codes).filter(|(f, _)| **f != 0) {
        if c.len == 0 {
            return None;
        }
        total += i64::from(*f) * i64::from(c.len);
    }
    Some(total)
}

impl BitWriter {
    pub fn new(log_new_table_penalty: u32, fills_open_blocks: bool) -> BitWriter {
        let mut huff_offset = Encoder::new(OFFSET_CODE_COUNT);
        let mut one = [0; OFFSET_CODE_COUNT];
        one[0] = 1;
        huff_offset.generate(&one, 15);
        BitWriter {
            bits: Bits::default(),
            fills_open_blocks,
            prev_header: 0,
            wrote_huffman: false,
            log_new_table_penalty,
            literal_freq: [0; LENGTH_CODES_START + 32],
            offset_freq: [0; 32],
            codegen_freq: [0; CODEGEN_CODE_COUNT],
            codegen: vec![0; MAX_NUM_LIT + OFFSET_CODE_COUNT + 1],
            literals: Encoder::new(MAX_NUM_LIT),
            tmp_literals: Encoder::new(MAX_NUM_LIT),
            offsets: Encoder::new(OFFSET_CODE_COUNT),
            codegen_enc: Encoder::new(CODEGEN_CODE_COUNT),
            fixed_literals: Encoder::fixed_literals(),
            fixed_offsets: Encoder::fixed_offsets(),
            huff_offset,
        }
    }

    fn write_bits(&mut self, b: u32, nb: u32) {
        self.bits.put(b, nb);
    }

    fn write_code(&mut self, c: Code) {
        self.bits.code(c);
    }

    /// Ends the open block, if any, with the codes it was opened with.
    fn close_open_block(&mut self) {
        if self.prev_header > 0 {
            let eob = self.literals.codes[END_BLOCK_MARKER as usize];
            self.write_code(eob);
            self.prev_header = 0;
        }
    }

    /// Out to a byte boundary, padding with zeros (an open block is ended first).
    pub fn flush(&mut self) {
        self.close_open_block();
        self.bits.pad();
    }

    /// A stored block's header; an empty final block is written as an empty fixed block.
    pub fn write_stored_header(&mut self, length: usize, eof: bool) {
        self.close_open_block();
        if length == 0 && eof {
            self.write_fixed_header(eof);
            self.write_bits(0, 7);
            self.flush();
            return;
        }
        self.write_bits(u32::from(eof), 3);
        self.flush();
        self.write_bits(length as u32, 16);
        self.write_bits(u32::from(!(length as u16)), 16);
    }

    pub fn write_stored(&mut self, input: &[u8], eof: bool) {
        self.write_stored_header(input.len(), eof);
        self.bits.bytes(input);
    }

    fn write_fixed_header(&mut self, eof: bool) {
        self.close_open_block();
        self.write_bits(if eof { 3 } else { 2 }, 3);
    }

    fn generate_codegen(&mut self, num_literals: usize, num_offsets: usize, huff_only: bool) {
        let offsets = if huff_only {
            &self.huff_offset
        } else {
            &self.offsets
        };
        let counts = (num_literals, num_offsets);
        code_lengths(
            &self.literals,
            offsets,
            counts,
            &mut self.codegen,
            &mut self.codegen_freq,
        );
        self.codegen_enc.generate(&self.codegen_freq, 7);
    }

    fn header_size(&self) -> i64 {
        dynamic_header_bits(&self.codegen_freq, &self.codegen_enc).0
    }

    fn reuse_size(&self) -> i64 {
        self.literals.bit_length(&self.literal_freq) + self.offsets.bit_length(&self.offset_freq)
    }

    fn dynamic_size(&self, extra_bits: i64) -> i64 {
        self.header_size() + self.reuse_size() + extra_bits
    }

    fn fixed_size(&self, extra_bits: i64) -> i64 {
        3 + self.fixed_literals.bit_length(&self.literal_freq)
            + self.fixed_offsets.bit_length(&self.offset_freq)
            + extra_bits
    }

    fn extra_bit_size(&self) -> i64 {
        let lengths = self.literal_freq[LENGTH_CODES_START..MAX_NUM_LIT].iter();
        let offsets = self.offset_freq[..OFFSET_CODE_COUNT].iter();
        lengths
            .zip(LENGTH_EXTRA_BITS)
            .map(|(&n, e)| i64::from(n) * i64::from(e))
            .sum::<i64>()
            + offsets
                .zip(OFFSET_EXTRA_BITS)
                .map(|(&n, e)| i64::from(n) * i64::from(e))
                .sum::<i64>()
    }

    fn write_dynamic_header(&mut self, num_literals: usize, num_offsets: usize, eof: bool) {
        let num_codegens = dynamic_header_bits(&self.codegen_freq, &self.codegen_enc).1;
        let counts = (num_literals, num_offsets, num_codegens);
        write_dynamic_header(
            &mut self.bits,
            &self.codegen,
            &self.codegen_enc,
            counts,
            eof,
        );
    }

    /// Whether every symbol of `t` has a code in the open block's tables.
    fn can_reuse(&self, t: &Tokens) -> bool {
        let has = |freq: &[i32], codes: &[Code]| {
            freq.iter().zip(codes).all(|(&v, c)| v == 0 || c.len != 0)
        };
        has(&t.off_hist[..OFFSET_CODE_COUNT], &self.offsets.codes)
            && has(
                &t.extra_hist[..MAX_NUM_LIT - 256],
                &self.literals.codes[256..],
            )
            && has(&t.lit_hist, &self.literals.codes[..256])
    }

    /// The block's frequencies from its histograms; the number of literal/length and distance
    /// codes it needs.
    fn index_tokens(&mut self, t: &Tokens, all_codes: bool) -> (usize, usize) {
        self.literal_freq[..256].copy_from_slice(&t.lit_hist);
        self.literal_freq[256..256 + 32].copy_from_slice(&t.extra_hist);
        self.offset_freq = t.off_hist;
        if t.n() == 0 {
            return (0, 0);
        }
        if all_codes {
            return (MAX_NUM_LIT, OFFSET_CODE_COUNT);
        }
        let mut num_literals = self.literal_freq.len();
        while self.literal_freq[num_literals - 1] == 0 {
            num_literals -= 1;
        }
        let mut num_offsets = self.offset_freq.len();
        while num_offsets > 0 && self.offset_freq[num_offsets - 1] == 0 {
            num_offsets -= 1;
        }
        if num_offsets == 0 {
            self.offset_freq[0] = 1;
            num_offsets = 1;
        }
        (num_literals, num_offsets)
    }

    fn generate(&mut self) {
        self.literals
            .generate(&self.literal_freq[..MAX_NUM_LIT], 15);
        self.offsets
            .generate(&self.offset_freq[..OFFSET_CODE_COUNT], 15);
    }

    /// A block of tokens: continue the open block, start a fixed or dynamic one, or store
    /// (only when its `input` is at hand). Without `sync` a dynamic block is left open for
    /// the next one to continue.
    pub fn write_block_dynamic(
        &mut self,
        tokens: &mut Tokens,
        eof: bool,
        input: Option<&[u8]>,
        sync: bool,
    ) {
        let sync = sync || eof;
        if sync {
            tokens.add_eob();
        } else if !self.fills_open_blocks {
            tokens.extra_hist[0] = 1;
        }
        if (self.wrote_huffman || eof) && self.prev_header > 0 {
            self.close_open_block();
            self.wrote_huffman = false;
        }
        if self.prev_header > 0 && !self.can_reuse(tokens) {
            self.close_open_block();
        }
        let (num_literals, num_offsets) =
            self.index_tokens(tokens, self.fills_open_blocks && !sync);
        let stored = stored_size(input);
        let input = input.unwrap_or_default();
        let extra_bits = if stored.is_some() || self.prev_header > 0 {
            self.extra_bit_size()
        } else {
            0
        };
        let mut size;
        if self.prev_header > 0 {
            let mut new_size = self.prev_header + tokens.estimated_bits();
            new_size += i64::from(self.literals.codes[END_BLOCK_MARKER as usize].len)
                + (new_size >> self.log_new_table_penalty);
            let reuse = self.reuse_size() + extra_bits;
            if new_size < reuse {
                self.close_open_block();
                size = new_size;
            } else {
                size = reuse;
            }
            if tokens.n() < MAX_PREDEFINED_TOKENS && self.fixed_size(extra_bits) + 7 < size {
                if stored.is_some_and(|s| s <= size) {
                    return self.write_stored(input, eof);
                }
                return self.write_fixed(tokens, eof, sync);
            }
            if stored.is_some_and(|s| s <= size) {
                return self.write_stored(input, eof);
            }
        }
        if self.prev_header == 0 {
            self.literal_freq[END_BLOCK_MARKER as usize] = 1;
            self.generate();
            self.generate_codegen(num_literals, num_offsets, false);
            size = self.dynamic_size(extra_bits);
            if tokens.n() < MAX_PREDEFINED_TOKENS {
                let pre = self.fixed_size(extra_bits);
                if pre <= size {
                    if stored.is_some_and(|s| s <= pre) {
                        return self.write_stored(input, eof);
                    }
                    return self.write_fixed(tokens, eof, sync);
                }
            }
            if stored.is_some_and(|s| s <= size) {
                return self.write_stored(input, eof);
            }
            self.write_dynamic_header(num_literals, num_offsets, eof);
            if !sync {
                self.prev_header = self.header_size();
            }
            self.wrote_huffman = false;
        }
        if sync {
            self.prev_header = 0;
        }
        self.write_tokens(&tokens.toks, false);
    }

    fn write_fixed(&mut self, tokens: &mut Tokens, eof: bool, sync: bool) {
        self.write_fixed_header(eof);
        if !sync {
            tokens.add_eob();
        }
        self.write_tokens(&tokens.toks, true);
    }

    fn write_tokens(&mut self, tokens: &[Token], fixed: bool) {
        for &t in tokens {
            let (lit, off) = match fixed {
                true => (&self.fixed_literals, &self.fixed_offsets),
                false => (&self.literals, &self.offsets),
            };
            if t.0 < MATCH_TYPE {
                // A literal or the end-of-block marker.
                let c = lit.codes[t.0 as usize];
                self.write_code(c);
                continue;
            }
            let length = t.length();
            let lc = crate::deflate::codes::length_code(length) as usize;
            let oc = t.offset_code();
            let (c, ocode) = (lit.codes[lc + LENGTH_CODES_START], off.codes[oc]);
            self.write_code(c);
            let extra = u32::from(LENGTH_EXTRA_BITS[lc]);
            if extra > 0 {
                self.write_bits(length - LENGTH_BASE[lc], extra);
            }
            self.write_code(ocode);
            let extra = u32::from(OFFSET_EXTRA_BITS[oc]);
            if extra > 0 {
                self.write_bits(t.offset() - OFFSET_BASE[oc], extra);
            }
        }
    }

    /// Literals only, Huffman-coded from their histogram, continuing the open Huffman-only
    /// block when its codes still do; or stored when the bytes look random or are smaller so.
    pub fn write_block_huff(&mut self, eof: bool, input: &[u8], sync: bool) {
        self.literal_freq = [0; LENGTH_CODES_START + 32];
        if !self.wrote_huffman {
            self.offset_freq = [0; 32];
        }
        const NUM_LITERALS: usize = END_BLOCK_MARKER as usize + 1;
        for &b in input {
            self.literal_freq[b as usize] += 1;
        }
        let stored = stored_size(Some(input));
        if stored.is_some()
            && input.len() > 1024
            && looks_random(&self.literal_freq[..256], input.len())
        {
            return self.write_stored(input, eof);
        }
        self.literal_freq[END_BLOCK_MARKER as usize] = 1;
        self.tmp_literals
            .generate(&self.literal_freq[..NUM_LITERALS], 15);
        let mut est = can_encode_len(&self.tmp_literals, &self.literal_freq[..NUM_LITERALS]);
        if let Some(e) = est.as_mut() {
            *e += self.prev_header;
            if self.prev_header == 0 {
                *e += GUESS_HEADER_SIZE_BITS;
            }
            *e += *e >> self.log_new_table_penalty;
        }
        let est = est.unwrap_or(i64::from(i32::MAX));
        if stored.is_some_and(|s| s <= est) {
            return self.write_stored(input, eof);
        }
        if self.prev_header > 0 {
            let reuse = can_encode_len(&self.literals, &self.literal_freq[..256]);
            if est < reuse.unwrap_or(i64::from(i32::MAX)) {
                self.close_open_block();
            }
        }
        if self.prev_header == 0 {
            std::mem::swap(&mut self.literals, &mut self.tmp_literals);
            self.generate_codegen(NUM_LITERALS, 1, true);
            self.write_dynamic_header(NUM_LITERALS, 1, eof);
            self.wrote_huffman = true;
            self.prev_header = self.header_size();
        }
        for &b in input {
            let c = self.literals.codes[b as usize];
            self.write_code(c);
        }
        if eof || sync {
            let eob = self.literals.codes[END_BLOCK_MARKER as usize];
            self.write_code(eob);
            self.prev_header = 0;
            self.wrote_huffman = false;
        }
    }
}

/// Whether a histogram is flat enough that Huffman coding cannot win: the squared deviation
/// from a uniform distribution stays under twice the length.
fn looks_random(freq: &[i32], len: usize) -> bool {
    let avg = len as f64 / 256.0;
    let max = (len * 2) as f64;
    let mut abs = 0f64;
    for &v in freq {
        let diff = f64::from(v) - avg;
        abs += diff * diff;
        if abs >= max {
            return false;
        }
    }
    true
}
