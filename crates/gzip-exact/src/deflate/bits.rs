//! Deflate's own tables and the writing of its blocks' pieces, shared by every encoder here:
//! RFC 1951's length and distance codes, the bit writer, and the dynamic block header (code
//! lengths run-length encoded with codes 16–18). What makes one producer's bytes differ from
//! another's is its tokens, block boundaries and Huffman codes, never these.

use super::huffman::{Code, Encoder};

pub const OFFSET_CODE_COUNT: usize = 30;
pub const END_BLOCK_MARKER: usize = 256;
pub const LENGTH_CODES_START: usize = 257;
pub const CODEGEN_CODE_COUNT: usize = 19;
pub const BAD_CODE: u8 = 255;

pub const LENGTH_EXTRA_BITS: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
pub const LENGTH_BASE: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
    160, 192, 224, 255,
];
pub const OFFSET_EXTRA_BITS: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
pub const OFFSET_BASE: [u32; 30] = [
    0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c, 0x000010,
    0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080, 0x0000c0, 0x000100, 0x000180,
    0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00, 0x001000, 0x001800, 0x002000,
    0x003000, 0x004000, 0x006000,
];
pub const CODEGEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// The one bit writer of the deflate encoders here (`go`, `klauspost`, `gnu`): bits go out
/// least significant first, and bytes are appended to `out` six at a time.
#[derive(Default)]
pub struct Bits {
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
pub fn dynamic_header_bits(
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
pub fn write_dynamic_header(
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

/// Both alphabets' code lengths (the first `counts.0` literal/length codes, then `counts.1`
/// distance codes) into `codegen`, run-length encoded and ending in `BAD_CODE`, each
/// code-length code counted afresh in `freq`.
pub fn code_lengths(
    literals: &Encoder,
    offsets: &Encoder,
    counts: (usize, usize),
    codegen: &mut [u8],
    freq: &mut [i32; CODEGEN_CODE_COUNT],
) {
    let (num_literals, num_offsets) = counts;
    *freq = [0; CODEGEN_CODE_COUNT];
    let lengths = literals.codes[..num_literals]
        .iter()
        .chain(&offsets.codes[..num_offsets]);
    for (slot, code) in codegen.iter_mut().zip(lengths) {
        *slot = code.len as u8;
    }
    codegen[num_literals + num_offsets] = BAD_CODE;
    run_lengths(codegen, freq);
}

/// Code lengths (ending in `BAD_CODE`) run-length encoded in place with codes 16, 17 and 18
/// as Go does, counting each code-length code in `freq`.
pub fn run_lengths(cg: &mut [u8], freq: &mut [i32; CODEGEN_CODE_COUNT]) {
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
