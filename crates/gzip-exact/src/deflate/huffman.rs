//! Huffman codes exactly as Go's compress/flate (Go 1.8–1.26) builds them: the same code
//! lengths (a package-merge variant limited to `max_bits`), the same tie-breaking, the same
//! canonical assignment. A different but equally optimal code would change the bytes.

/// A code, bit-reversed so it can be written LSB first, and its length in bits.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Code {
    pub code: u16,
    pub len: u16,
}

#[derive(Clone, Copy)]
struct Node {
    literal: u16,
    freq: i32,
}

/// The codes of one alphabet.
pub struct Encoder {
    pub codes: Vec<Code>,
}

fn reverse(code: u16, len: u16) -> u16 {
    (code << (16 - len)).reverse_bits()
}

impl Encoder {
    pub fn new(size: usize) -> Encoder {
        Encoder {
            codes: vec![Code::default(); size],
        }
    }

    /// RFC 1951's fixed literal/length code.
    pub fn fixed_literals() -> Encoder {
        let mut e = Encoder::new(super::MAX_NUM_LIT);
        for (ch, c) in e.codes.iter_mut().enumerate() {
            let ch = ch as u16;
            let (bits, len) = match ch {
                0..=143 => (ch + 48, 8),
                144..=255 => (ch + 400 - 144, 9),
                256..=279 => (ch - 256, 7),
                _ => (ch + 192 - 280, 8),
            };
            *c = Code {
                code: reverse(bits, len),
                len,
            };
        }
        e
    }

    /// RFC 1951's fixed distance code.
    pub fn fixed_offsets() -> Encoder {
        let mut e = Encoder::new(30);
        for (ch, c) in e.codes.iter_mut().enumerate() {
            *c = Code {
                code: reverse(ch as u16, 5),
                len: 5,
            };
        }
        e
    }

    /// Bits to encode symbols with these frequencies.
    pub fn bit_length(&self, freq: &[i32]) -> i64 {
        freq.iter()
            .zip(&self.codes)
            .filter(|(f, _)| **f != 0)
            .map(|(f, c)| i64::from(*f) * i64::from(c.len))
            .sum()
    }

    /// Codes for `freq`, no longer than `max_bits`. Symbols with frequency 0 get length 0
    /// (their other code bits are left as they were, as Go leaves them).
    pub fn generate(&mut self, freq: &[i32], max_bits: i32) {
        let mut list: Vec<Node> = Vec::with_capacity(freq.len() + 1);
        for (i, &f) in freq.iter().enumerate() {
            if f != 0 {
                list.push(Node {
                    literal: i as u16,
                    freq: f,
                });
            } else {
                self.codes[i].len = 0;
            }
        }
        if list.len() <= 2 {
            for (i, n) in list.iter().enumerate() {
                self.codes[n.literal as usize] = Code {
                    code: i as u16,
                    len: 1,
                };
            }
            return;
        }
        list.sort_by_key(|n| (n.freq, n.literal));
        let counts = bit_counts(&list, max_bits);
        self.assign(&counts, &mut list);
    }

    /// Canonical codes from the count of symbols per length: the least frequent symbols get the
    /// longest codes, and within one length codes go in literal order.
    fn assign(&mut self, bit_count: &[i32], list: &mut [Node]) {
        let mut code: u16 = 0;
        let mut end = list.len();
        for (n, &bits) in bit_count.iter().enumerate() {
            code <<= 1;
            if n == 0 || bits == 0 {
                continue;
            }
            let chunk = &mut list[end - bits as usize..end];
            chunk.sort_by_key(|node| node.literal);
            for node in chunk.iter() {
                self.codes[node.literal as usize] = Code {
                    code: reverse(code, n as u16),
                    len: n as u16,
                };
                code += 1;
            }
            end -= bits as usize;
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Level {
    last_freq: i32,
    next_char_freq: i32,
    next_pair_freq: i32,
    needed: i32,
}

const MAX_BITS_LIMIT: usize = 16;

/// How many symbols get each code length (index = length), `list` sorted by frequency.
fn bit_counts(list: &[Node], max_bits: i32) -> Vec<i32> {
    let n = list.len() as i32;
    // A sentinel past the end, as Go appends one.
    let freq_at = |i: i32| -> i32 {
        if i < n {
            list[i as usize].freq
        } else {
            i32::MAX
        }
    };
    let max_bits = max_bits.min(n - 1) as usize;
    let mut levels = [Level::default(); MAX_BITS_LIMIT];
    let mut leaf_counts = [[0i32; MAX_BITS_LIMIT]; MAX_BITS_LIMIT];
    for level in 1..=max_bits {
        levels[level] = Level {
            last_freq: freq_at(1),
            next_char_freq: freq_at(2),
            next_pair_freq: freq_at(0) + freq_at(1),
            needed: 0,
        };
        leaf_counts[level][level] = 2;
        if level == 1 {
            levels[level].next_pair_freq = i32::MAX;
        }
    }
    levels[max_bits].needed = 2 * n - 4;
    let mut level = max_bits;
    loop {
        let l = levels[level];
        if l.next_pair_freq == i32::MAX && l.next_char_freq == i32::MAX {
            levels[level].needed = 0;
            levels[level + 1].next_pair_freq = i32::MAX;
            level += 1;
            continue;
        }
        let prev_freq = l.last_freq;
        if l.next_char_freq < l.next_pair_freq {
            let count = leaf_counts[level][level] + 1;
            levels[level].last_freq = l.next_char_freq;
            leaf_counts[level][level] = count;
            levels[level].next_char_freq = freq_at(count);
        } else {
            levels[level].last_freq = l.next_pair_freq;
            let (lower, upper) = leaf_counts.split_at_mut(level);
            upper[0][..level].copy_from_slice(&lower[level - 1][..level]);
            levels[level - 1].needed = 2;
        }
        levels[level].needed -= 1;
        if levels[level].needed == 0 {
            if level == max_bits {
                break;
            }
            levels[level + 1].next_pair_freq = prev_freq + levels[level].last_freq;
            level += 1;
        } else {
            while levels[level - 1].needed > 0 {
                level -= 1;
            }
        }
    }
    debug_assert_eq!(leaf_counts[max_bits][max_bits], n);
    let mut bit_count = vec![0i32; max_bits + 1];
    let counts = &leaf_counts[max_bits];
    for (bits, level) in (1..=max_bits).rev().enumerate() {
        bit_count[bits + 1] = counts[level] - counts[level - 1];
    }
    bit_count
}
