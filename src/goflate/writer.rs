//! Deflate blocks as Go's huffmanBitWriter writes them: the choice between stored, fixed and
//! dynamic blocks by their exact sizes, the code-length run encoding, and the header layout.

use super::huffman::{Code, Encoder};
use super::token::{length_code, offset_code, Token, MATCH_TYPE};
use super::{MAX_NUM_LIT, MAX_STORE_BLOCK_SIZE};

pub(crate) const OFFSET_CODE_COUNT: usize = 30;
pub(crate) const END_BLOCK_MARKER: usize = 256;
pub(crate) const LENGTH_CODES_START: usize = 257;
pub(crate) const CODEGEN_CODE_COUNT: usize = 19;
pub(crate) const BAD_CODE: u8 = 255;

pub(crate) const LENGTH_EXTRA_BITS: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
pub(crate) const LENGTH_BASE: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
    160, 192, 224, 255,
];
pub(crate) const OFFSET_EXTRA_BITS: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
pub(crate) const OFFSET_BASE: [u32; 30] = [
    0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c, 0x000010,
    0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080, 0x0000c0, 0x000100, 0x000180,
    0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00, 0x001000, 0x001800, 0x002000,
    0x003000, 0x004000, 0x006000,
];
pub(crate) const CODEGEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// The size in bits of `input` as one stored block, if it fits in one.
fn stored_bits(input: &[u8]) -> Option<i64> {
    (input.len() <= MAX_STORE_BLOCK_SIZE).then(|| ((input.len() + 5) * 8) as i64)
}

/// The one bit writer of the deflate encoders here (goflate, kpflate, gnuflate): bits go out
/// least significant first, and bytes are appended to `out` six at a time.
#[derive(Default)]
pub(crate) struct Bits {
    pub out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    /// The low `nb` (at most 16) bits of `b`.
    pub fn put(&mut self, b: u32, nb: u32) {
        self.acc |= u64::from(b) << self.n;
        self.n += nb;
        if self.n >= 48 {
            self.out.extend_from_slice(&self.acc.to_le_bytes()[..6]);
            self.acc >>= 48;
            self.n -= 48;
        }
    }

    pub fn code(&mut self, c: Code) {
        self.put(u32::from(c.code), u32::from(c.len));
    }

    /// Bits written so far, handed over or not.
    pub fn pending_bits(&self) -> u64 {
        self.out.len() as u64 * 8 + u64::from(self.n)
    }

    /// Goes on from a stream whose bits so far end `bits` (0–7) into a byte: that many zero
    /// bits come first, for the byte to be joined with the one the stream before ends in.
    pub fn resume_at(&mut self, bits: u32) {
        self.acc = 0;
        self.n = bits % 8;
    }

    /// Out to a byte boundary, padding with zeros.
    pub fn pad(&mut self) {
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
        self.acc = 0;
    }

    /// Bytes as they are (a stored block's), after what is pending, padded.
    pub fn bytes(&mut self, b: &[u8]) {
        self.pad();
        self.out.extend_from_slice(b);
    }
}

/// The number of code-length codes a dynamic header sends (at least 4), and the header's size
/// in bits for these code-length frequencies and codes.
pub(crate) fn dynamic_header_bits(
    freq: &[i32; CODEGEN_CODE_COUNT],
    codegen_enc: &Encoder,
) -> (i64, usize) {
    let mut num_codegens = CODEGEN_CODE_COUNT;
    while num_codegens > 4 && freq[CODEGEN_ORDER[num_codegens - 1]] == 0 {
        num_codegens -= 1;
    }
    let bits = 3
        + 5
        + 5
        + 4
        + 3 * num_codegens as i64
        + codegen_enc.bit_length(freq)
        + i64::from(freq[16]) * 2
        + i64::from(freq[17]) * 3
        + i64::from(freq[18]) * 7;
    (bits, num_codegens)
}

/// A dynamic block's header: its counts, the code-length code's lengths, then the run-length
/// encoded code lengths (`codegen`, ending in `BAD_CODE`).
pub(crate) fn write_dynamic_header(
    bits: &mut Bits,
    codegen: &[u8],
    codegen_enc: &Encoder,
    counts: (usize, usize, usize),
    eof: bool,
) {
    let (num_literals, num_offsets, num_codegens) = counts;
    bits.put(if eof { 5 } else { 4 }, 3);
    bits.put((num_literals - 257) as u32, 5);
    bits.put((num_offsets - 1) as u32, 5);
    bits.put((num_codegens - 4) as u32, 4);
    for &order in CODEGEN_ORDER.iter().take(num_codegens) {
        bits.put(u32::from(codegen_enc.codes[order].len), 3);
    }
    let mut i = 0;
    loop {
        let word = codegen[i];
        i += 1;
        if word == BAD_CODE {
            break;
        }
        bits.code(codegen_enc.codes[word as usize]);
        let extra = match word {
            16 => 2,
            17 => 3,
            18 => 7,
            _ => continue,
        };
        bits.put(u32::from(codegen[i]), extra);
        i += 1;
    }
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
        self.codegen_freq = [0; CODEGEN_CODE_COUNT];
        let offsets = if huff_only {
            &self.huff_offset
        } else {
            &self.offsets
        };
        for i in 0..num_literals {
            self.codegen[i] = self.literals.codes[i].len as u8;
        }
        for i in 0..num_offsets {
            self.codegen[num_literals + i] = offsets.codes[i].len as u8;
        }
        self.codegen[num_literals + num_offsets] = BAD_CODE;
        run_lengths(&mut self.codegen, &mut self.codegen_freq);
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

/// Code lengths (ending in `BAD_CODE`) run-length encoded in place with codes 16, 17 and 18
/// as Go does, counting each code-length code in `freq`.
pub(crate) fn run_lengths(cg: &mut [u8], freq: &mut [i32; CODEGEN_CODE_COUNT]) {
    let mut size = cg[0];
    let mut count: i32 = 1;
    let mut out = 0usize;
    let mut input = 1usize;
    let mut emit = |cg: &mut [u8], v: u8| {
        cg[out] = v;
        out += 1;
    };
    while size != BAD_CODE {
        let next = cg[input];
        input += 1;
        if next == size {
            count += 1;
            continue;
        }
        if size != 0 {
            emit(cg, size);
            freq[size as usize] += 1;
            count -= 1;
            while count >= 3 {
                let n = count.min(6);
                emit(cg, 16);
                emit(cg, (n - 3) as u8);
                freq[16] += 1;
                count -= n;
            }
        } else {
            while count >= 11 {
                let n = count.min(138);
                emit(cg, 18);
                emit(cg, (n - 11) as u8);
                freq[18] += 1;
                count -= n;
            }
            if count >= 3 {
                emit(cg, 17);
                emit(cg, (count - 3) as u8);
                freq[17] += 1;
                count = 0;
            }
        }
        count -= 1;
        while count >= 0 {
            emit(cg, size);
            freq[size as usize] += 1;
            count -= 1;
        }
        size = next;
        count = 1;
    }
    emit(cg, BAD_CODE);
}
