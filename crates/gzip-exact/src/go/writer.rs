//! Deflate blocks as Go's huffmanBitWriter writes them: the choice between stored, fixed and
//! dynamic blocks by their exact sizes, the code-length run encoding, and the header layout.

use super::token::{Token, MATCH_TYPE};
use crate::deflate::bits::*;
use crate::deflate::codes::{length_code, offset_code};
use crate::deflate::huffman::{Code, Encoder};
use crate::deflate::{MAX_NUM_LIT, MAX_STORE_BLOCK_SIZE};

/// The size in bits of `input` as one stored block, if it fits in one.
fn stored_bits(input: &[u8]) -> Option<i64> {
    (input.len() <= MAX_STORE_BLOCK_SIZE).then(|| ((input.len() + 5) * 8) as i64)
}

/// Go's huffmanBitWriter, Go 1.8–1.26.
pub struct BlockWriter {
    pub(crate) bits: Bits,
    literal_freq: Vec<i32>,
    offset_freq: Vec<i32>,
    codegen: Vec<u8>,
    codegen_freq: [i32; CODEGEN_CODE_COUNT],
    literals: Encoder,
    offsets: Encoder,
    codegen_enc: Encoder,
    fixed_literals: Encoder,
    fixed_offsets: Encoder,
    huff_offset: Encoder,
}

impl Default for BlockWriter {
    fn default() -> Self {
        let mut huff_offset = Encoder::new(OFFSET_CODE_COUNT);
        let mut one = vec![0; OFFSET_CODE_COUNT];
        one[0] = 1;
        huff_offset.generate(&one, 15);
        BlockWriter {
            bits: Bits::default(),
            literal_freq: vec![0; MAX_NUM_LIT],
            offset_freq: vec![0; OFFSET_CODE_COUNT],
            codegen: vec![0; MAX_NUM_LIT + OFFSET_CODE_COUNT + 1],
            codegen_freq: [0; CODEGEN_CODE_COUNT],
            literals: Encoder::new(MAX_NUM_LIT),
            offsets: Encoder::new(OFFSET_CODE_COUNT),
            codegen_enc: Encoder::new(CODEGEN_CODE_COUNT),
            fixed_literals: Encoder::fixed_literals(),
            fixed_offsets: Encoder::fixed_offsets(),
            huff_offset,
        }
    }
}

/// Which codes a block is written with.
#[derive(Clone, Copy, PartialEq)]
enum Codes {
    Fixed,
    Dynamic,
}

impl BlockWriter {
    fn write_bits(&mut self, b: u32, nb: u32) {
        self.bits.put(b, nb);
    }

    fn write_code(&mut self, c: Code) {
        self.bits.code(c);
    }

    /// Out to a byte boundary, padding with zeros.
    pub fn flush(&mut self) {
        self.bits.pad();
    }

    pub fn write_stored_header(&mut self, length: usize, eof: bool) {
        self.write_bits(u32::from(eof), 3);
        self.flush();
        self.write_bits(length as u32, 16);
        self.write_bits(!(length as u16) as u32, 16);
    }

    pub fn write_stored(&mut self, input: &[u8], eof: bool) {
        self.write_stored_header(input.len(), eof);
        self.bits.bytes(input);
    }

    /// Code lengths of both alphabets, run-length encoded with codes 16, 17 and 18 as Go does.
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
    }

    fn dynamic_size(&self, huff_only: bool, extra_bits: i64) -> (i64, usize) {
        let (header, num_codegens) = dynamic_header_bits(&self.codegen_freq, &self.codegen_enc);
        let offsets = if huff_only {
            &self.huff_offset
        } else {
            &self.offsets
        };
        let size = header
            + self.literals.bit_length(&self.literal_freq)
            + offsets.bit_length(&self.offset_freq)
            + extra_bits;
        (size, num_codegens)
    }

    fn fixed_size(&self, extra_bits: i64) -> i64 {
        3 + self.fixed_literals.bit_length(&self.literal_freq)
            + self.fixed_offsets.bit_length(&self.offset_freq)
            + extra_bits
    }

    fn write_dynamic_header(
        &mut self,
        num_literals: usize,
        num_offsets: usize,
        num_codegens: usize,
        eof: bool,
    ) {
        let counts = (num_literals, num_offsets, num_codegens);
        write_dynamic_header(
            &mut self.bits,
            &self.codegen,
            &self.codegen_enc,
            counts,
            eof,
        );
    }

    /// Frequencies and codes of a block's tokens (the end-of-block marker included); the
    /// number of literal/length and distance codes to send.
    fn index_tokens(&mut self, tokens: &[Token]) -> (usize, usize) {
        self.literal_freq.iter_mut().for_each(|f| *f = 0);
        self.offset_freq.iter_mut().for_each(|f| *f = 0);
        for &t in tokens {
            if t.0 < MATCH_TYPE {
                self.literal_freq[t.literal() as usize] += 1;
                continue;
            }
            self.literal_freq[LENGTH_CODES_START + length_code(t.length()) as usize] += 1;
            self.offset_freq[offset_code(t.offset()) as usize] += 1;
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
        self.literals.generate(&self.literal_freq, 15);
        self.offsets.generate(&self.offset_freq, 15);
        (num_literals, num_offsets)
    }

    fn write_tokens(&mut self, tokens: &[Token], codes: Codes) {
        for &t in tokens {
            let (lit, off) = match codes {
                Codes::Fixed => (&self.fixed_literals, &self.fixed_offsets),
                Codes::Dynamic => (&self.literals, &self.offsets),
            };
            if t.0 < MATCH_TYPE {
                let c = lit.codes[t.literal() as usize];
                self.write_code(c);
                continue;
            }
            let length = t.length();
            let lc = length_code(length) as usize;
            let (c, oc) = (
                lit.codes[lc + LENGTH_CODES_START],
                offset_code(t.offset()) as usize,
            );
            let ocode = off.codes[oc];
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

    /// A block of tokens, as the smallest of stored (when `input` is given and fits), fixed and
    /// dynamic (Go's writeBlock, levels 2–9).
    pub fn write_block(&mut self, tokens: &mut Vec<Token>, eof: bool, input: Option<&[u8]>) {
        tokens.push(Token::literal_token(END_BLOCK_MARKER as u32));
        let (num_literals, num_offsets) = self.index_tokens(tokens);
        let stored = input.and_then(|i| Some((i, stored_bits(i)?)));
        let mut extra_bits = 0i64;
        if stored.is_some() {
            for lc in LENGTH_CODES_START + 8..num_literals {
                extra_bits += i64::from(self.literal_freq[lc])
                    * i64::from(LENGTH_EXTRA_BITS[lc - LENGTH_CODES_START]);
            }
            let offsets = self.offset_freq[..num_offsets]
                .iter()
                .zip(OFFSET_EXTRA_BITS);
            for (&f, extra) in offsets.skip(4) {
                extra_bits += i64::from(f) * i64::from(extra);
            }
        }
        let mut codes = Codes::Fixed;
        let mut size = self.fixed_size(extra_bits);
        self.generate_codegen(num_literals, num_offsets, false);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (dynamic, num_codegens) = self.dynamic_size(false, extra_bits);
        if dynamic < size {
            size = dynamic;
            codes = Codes::Dynamic;
        }
        if let Some((input, _)) = stored.filter(|&(_, bits)| bits < size) {
            self.write_stored(input, eof);
            tokens.pop();
            return;
        }
        match codes {
            Codes::Fixed => self.write_bits(if eof { 3 } else { 2 }, 3),
            Codes::Dynamic => {
                self.write_dynamic_header(num_literals, num_offsets, num_codegens, eof)
            }
        }
        self.write_tokens(tokens, codes);
        tokens.pop();
    }

    /// Only literals, Huffman-coded from their histogram (HuffmanOnly, and BestSpeed's
    /// incompressible blocks), or stored when that is smaller by Go's margin.
    pub fn write_block_huff(&mut self, eof: bool, input: &[u8]) {
        self.literal_freq.iter_mut().for_each(|f| *f = 0);
        for &b in input {
            self.literal_freq[b as usize] += 1;
        }
        self.literal_freq[END_BLOCK_MARKER] = 1;
        let num_literals = END_BLOCK_MARKER + 1;
        self.offset_freq[0] = 1;
        self.literals.generate(&self.literal_freq, 15);
        self.generate_codegen(num_literals, 1, true);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (size, num_codegens) = self.dynamic_size(true, 0);
        if stored_bits(input).is_some_and(|s| s < size + (size >> 4)) {
            self.write_stored(input, eof);
            return;
        }
        self.write_dynamic_header(num_literals, 1, num_codegens, eof);
        for &b in input {
            let c = self.literals.codes[b as usize];
            self.write_code(c);
        }
        let c = self.literals.codes[END_BLOCK_MARKER];
        self.write_code(c);
    }

    /// A block always written with dynamic codes unless stored is smaller by Go's margin
    /// (BestSpeed).
    pub fn write_block_dynamic(&mut self, tokens: &mut Vec<Token>, eof: bool, input: &[u8]) {
        tokens.push(Token::literal_token(END_BLOCK_MARKER as u32));
        let (num_literals, num_offsets) = self.index_tokens(tokens);
        self.generate_codegen(num_literals, num_offsets, false);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (size, num_codegens) = self.dynamic_size(false, 0);
        if stored_bits(input).is_some_and(|s| s < size + (size >> 4)) {
            self.write_stored(input, eof);
            tokens.pop();
            return;
        }
        self.write_dynamic_header(num_literals, num_offsets, num_codegens, eof);
        self.write_tokens(tokens, Codes::Dynamic);
        tokens.pop();
    }
}
