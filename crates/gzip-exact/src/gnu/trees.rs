//! GNU gzip's trees.c: symbols buffered per block, Huffman trees built with a heap whose ties
//! go to the shallower subtree, lengths over the limit fixed up as gzip does, and the block
//! written stored, with the static trees or with its own, whichever gzip's size counts pick.

use crate::deflate::bits::Bits;
use crate::deflate::codes::{length_code, offset_code};

const L_CODES: usize = 286;
const D_CODES: usize = 30;
const BL_CODES: usize = 19;
const HEAP_SIZE: usize = 2 * L_CODES + 1;
const END_BLOCK: usize = 256;
const MAX_BITS: usize = 15;
const MAX_BL_BITS: usize = 7;
const REP_3_6: usize = 16;
const REPZ_3_10: usize = 17;
const REPZ_11_138: usize = 18;
pub const LIT_BUFSIZE: usize = 0x8000;
const DIST_BUFSIZE: usize = 0x8000;

const EXTRA_LBITS: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const EXTRA_DBITS: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const EXTRA_BLBITS: [u32; 19] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
const BL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
const BASE_LENGTH: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
    160, 192, 224, 0,
];
const BASE_DIST: [u32; 30] = [
    0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
    2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576,
];

/// A tree node: frequency (or code), and dad (or length), as gzip's ct_data unions them.
#[derive(Clone, Copy, Default)]
struct Node {
    freq: u32,
    code: u32,
    dad: usize,
    len: u32,
}

struct Desc {
    tree: Vec<Node>,
    stree: Option<Vec<Node>>,
    extra: &'static [u32],
    base: usize,
    elems: usize,
    max_length: usize,
    max_code: i64,
}

fn bi_reverse(code: u32, len: u32) -> u32 {
    (code << (32 - len)).reverse_bits()
}

/// Canonical codes from the lengths (gen_codes).
fn gen_codes(tree: &mut [Node], max_code: i64, bl_count: &[u32; MAX_BITS + 1]) {
    let mut next_code = [0u32; MAX_BITS + 1];
    let mut code = 0u32;
    for bits in 1..=MAX_BITS {
        code = (code + bl_count[bits - 1]) << 1;
        next_code[bits] = code;
    }
    let codes = usize::try_from(max_code + 1).unwrap_or(0);
    for node in tree[..codes].iter_mut().filter(|n| n.len != 0) {
        let len = node.len as usize;
        node.code = bi_reverse(next_code[len] & 0xffff, node.len);
        next_code[len] += 1;
    }
}

/// The block state: buffered symbols, the three trees and the output bits.
pub struct Trees {
    pub(crate) out: Bits,
    l_buf: Vec<u8>,
    d_buf: Vec<u16>,
    /// Per symbol: a match (true) or a literal.
    is_match: Vec<bool>,
    l_desc: Desc,
    d_desc: Desc,
    bl_desc: Desc,
    heap: [usize; HEAP_SIZE],
    heap_len: usize,
    heap_max: usize,
    depth: [u8; HEAP_SIZE],
    bl_count: [u32; MAX_BITS + 1],
    opt_len: i64,
    static_len: i64,
    level: i32,
}

fn static_trees() -> (Vec<Node>, Vec<Node>) {
    let mut bl_count = [0u32; MAX_BITS + 1];
    let mut lt = vec![Node::default(); L_CODES + 2];
    for (n, node) in lt.iter_mut().enumerate() {
        node.len = match n {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
        bl_count[node.len as usize] += 1;
    }
    gen_codes(&mut lt, L_CODES as i64 + 1, &bl_count);
    let dt = (0..D_CODES)
        .map(|n| Node {
            len: 5,
            code: bi_reverse(n as u32, 5),
            ..Node::default()
        })
        .collect();
    (lt, dt)
}

impl Trees {
    pub fn new(level: i32) -> Trees {
        let (lt, dt) = static_trees();
        let desc = |elems: usize, stree, extra, base, max_length| Desc {
            tree: vec![Node::default(); HEAP_SIZE],
            stree,
            extra,
            base,
            elems,
            max_length,
            max_code: 0,
        };
        let mut t = Trees {
            out: Bits::default(),
            l_buf: Vec::with_capacity(LIT_BUFSIZE),
            d_buf: Vec::with_capacity(DIST_BUFSIZE),
            is_match: Vec::with_capacity(LIT_BUFSIZE),
            l_desc: desc(L_CODES, Some(lt), &EXTRA_LBITS, 257, MAX_BITS),
            d_desc: desc(D_CODES, Some(dt), &EXTRA_DBITS, 0, MAX_BITS),
            bl_desc: desc(BL_CODES, None, &EXTRA_BLBITS, 0, MAX_BL_BITS),
            heap: [0; HEAP_SIZE],
            heap_len: 0,
            heap_max: 0,
            depth: [0; HEAP_SIZE],
            bl_count: [0; MAX_BITS + 1],
            opt_len: 0,
            static_len: 0,
            level,
        };
        t.init_block();
        t
    }

    fn init_block(&mut self) {
        for d in [&mut self.l_desc, &mut self.d_desc, &mut self.bl_desc] {
            for n in d.tree[..d.elems].iter_mut() {
                n.freq = 0;
            }
        }
        self.l_desc.tree[END_BLOCK].freq = 1;
        self.opt_len = 0;
        self.static_len = 0;
        self.l_buf.clear();
        self.d_buf.clear();
        self.is_match.clear();
    }

    fn send_bits(&mut self, value: u32, length: u32) {
        self.out.put(value, length);
    }

    /// To a byte boundary (bi_windup).
    pub fn windup(&mut self) {
        self.out.pad();
    }

    /// Records a literal (`dist` 0) or a match (`lc` = length - 3); whether gzip would end
    /// the block here. `in_length` is the input the block covers so far.
    pub fn tally(&mut self, dist: u32, lc: u32, in_length: u64) -> bool {
        self.l_buf.push(lc as u8);
        if dist == 0 {
            self.l_desc.tree[lc as usize].freq += 1;
            self.is_match.push(false);
        } else {
            let dist = dist - 1;
            self.l_desc.tree[length_code(lc) as usize + 257].freq += 1;
            self.d_desc.tree[offset_code(dist) as usize].freq += 1;
            self.d_buf.push(dist as u16);
            self.is_match.push(true);
        }
        let last_lit = self.l_buf.len();
        let last_dist = self.d_buf.len();
        if self.level > 2 && last_lit & 0xfff == 0 {
            let mut out_length = last_lit as u64 * 8;
            for (d, extra) in self.d_desc.tree[..D_CODES].iter().zip(EXTRA_DBITS) {
                out_length += u64::from(d.freq) * (5 + u64::from(extra));
            }
            out_length >>= 3;
            if last_dist < last_lit / 2 && out_length < in_length / 2 {
                return true;
            }
        }
        last_lit == LIT_BUFSIZE - 1 || last_dist == DIST_BUFSIZE
    }

    fn smaller(&self, tree: &[Node], n: usize, m: usize) -> bool {
        tree[n].freq < tree[m].freq
            || (tree[n].freq == tree[m].freq && self.depth[n] <= self.depth[m])
    }

    fn pqdownheap(&mut self, tree: &[Node], mut k: usize) {
        let v = self.heap[k];
        let mut j = k << 1;
        while j <= self.heap_len {
            if j < self.heap_len && self.smaller(tree, self.heap[j + 1], self.heap[j]) {
                j += 1;
            }
            if self.smaller(tree, v, self.heap[j]) {
                break;
            }
            self.heap[k] = self.heap[j];
            k = j;
            j <<= 1;
        }
        self.heap[k] = v;
    }

    fn gen_bitlen(&mut self, desc: &mut Desc) {
        let tree = &mut desc.tree;
        let max_code = desc.max_code as usize;
        let max_length = desc.max_length;
        self.bl_count = [0; MAX_BITS + 1];
        let mut overflow = 0i32;
        tree[self.heap[self.heap_max]].len = 0;
        let mut h = self.heap_max + 1;
        while h < HEAP_SIZE {
            let n = self.heap[h];
            let mut bits = tree[tree[n].dad].len as usize + 1;
            if bits > max_length {
                bits = max_length;
                overflow += 1;
            }
            tree[n].len = bits as u32;
            h += 1;
            if n > max_code {
                continue;
            }
            self.bl_count[bits] += 1;
            let xbits = if n >= desc.base {
                desc.extra[n - desc.base]
            } else {
                0
            };
            let f = i64::from(tree[n].freq);
            self.opt_len += f * (bits as i64 + i64::from(xbits));
            if let Some(st) = &desc.stree {
                self.static_len += f * (i64::from(st[n].len) + i64::from(xbits));
            }
        }
        if overflow == 0 {
            return;
        }
        loop {
            let mut bits = max_length - 1;
            while self.bl_count[bits] == 0 {
                bits -= 1;
            }
            self.bl_count[bits] -= 1;
            self.bl_count[bits + 1] += 2;
            self.bl_count[max_length] -= 1;
            overflow -= 2;
            if overflow <= 0 {
                break;
            }
        }
        let mut h = HEAP_SIZE;
        for bits in (1..=max_length).rev() {
            let mut n = self.bl_count[bits];
            while n != 0 {
                h -= 1;
                let m = self.heap[h];
                if m > max_code {
                    continue;
                }
                if tree[m].len != bits as u32 {
                    self.opt_len +=
                        (bits as i64 - i64::from(tree[m].len)) * i64::from(tree[m].freq);
                    tree[m].len = bits as u32;
                }
                n -= 1;
            }
        }
    }

    fn build_tree(&mut self, desc: &mut Desc) {
        let elems = desc.elems;
        let mut max_code: i64 = -1;
        let mut node = elems;
        self.heap_len = 0;
        self.heap_max = HEAP_SIZE;
        for n in 0..elems {
            if desc.tree[n].freq != 0 {
                self.heap_len += 1;
                self.heap[self.heap_len] = n;
                max_code = n as i64;
                self.depth[n] = 0;
            } else {
                desc.tree[n].len = 0;
            }
        }
        while self.heap_len < 2 {
            let new = if max_code < 2 {
                max_code += 1;
                max_code as usize
            } else {
                0
            };
            self.heap_len += 1;
            self.heap[self.heap_len] = new;
            desc.tree[new].freq = 1;
            self.depth[new] = 0;
            self.opt_len -= 1;
            if let Some(st) = &desc.stree {
                self.static_len -= i64::from(st[new].len);
            }
        }
        desc.max_code = max_code;
        for n in (1..=self.heap_len / 2).rev() {
            self.pqdownheap(&desc.tree, n);
        }
        loop {
            let n = self.heap[1];
            self.heap[1] = self.heap[self.heap_len];
            self.heap_len -= 1;
            self.pqdownheap(&desc.tree, 1);
            let m = self.heap[1];
            self.heap_max -= 1;
            self.heap[self.heap_max] = n;
            self.heap_max -= 1;
            self.heap[self.heap_max] = m;
            desc.tree[node].freq = desc.tree[n].freq + desc.tree[m].freq;
            self.depth[node] = self.depth[n].max(self.depth[m]) + 1;
            desc.tree[n].dad = node;
            desc.tree[m].dad = node;
            self.heap[1] = node;
            node += 1;
            self.pqdownheap(&desc.tree, 1);
            if self.heap_len < 2 {
                break;
            }
        }
        self.heap_max -= 1;
        self.heap[self.heap_max] = self.heap[1];
        self.gen_bitlen(desc);
        gen_codes(&mut desc.tree, max_code, &self.bl_count);
    }

    /// Counts the code-length codes a tree's lengths need (scan_tree), or sends them
    /// (send_tree) with the bit-length tree.
    fn walk_tree(&mut self, which: usize, max_code: i64, send: bool) {
        let tree = match which {
            0 => &mut self.l_desc.tree,
            _ => &mut self.d_desc.tree,
        };
        if !send {
            tree[(max_code + 1) as usize].len = 0xffff;
        }
        let lens: Vec<u32> = tree[..=(max_code + 1) as usize]
            .iter()
            .map(|n| n.len)
            .collect();
        let mut prevlen: i64 = -1;
        let mut nextlen = lens[0];
        let mut count = 0u32;
        let (mut max_count, mut min_count) = if nextlen == 0 { (138, 3) } else { (7, 4) };
        for n in 0..=max_code as usize {
            let curlen = nextlen;
            nextlen = lens[n + 1];
            count += 1;
            if count < max_count && curlen == nextlen {
                continue;
            } else if count < min_count {
                if send {
                    for _ in 0..count {
                        self.send_bl(curlen as usize);
                    }
                } else {
                    self.bl_desc.tree[curlen as usize].freq += count;
                }
            } else if curlen != 0 {
                if send {
                    if i64::from(curlen) != prevlen {
                        self.send_bl(curlen as usize);
                        count -= 1;
                    }
                    self.send_bl(REP_3_6);
                    self.send_bits(count - 3, 2);
                } else {
                    if i64::from(curlen) != prevlen {
                        self.bl_desc.tree[curlen as usize].freq += 1;
                    }
                    self.bl_desc.tree[REP_3_6].freq += 1;
                }
            } else if count <= 10 {
                if send {
                    self.send_bl(REPZ_3_10);
                    self.send_bits(count - 3, 3);
                } else {
                    self.bl_desc.tree[REPZ_3_10].freq += 1;
                }
            } else if send {
                self.send_bl(REPZ_11_138);
                self.send_bits(count - 11, 7);
            } else {
                self.bl_desc.tree[REPZ_11_138].freq += 1;
            }
            count = 0;
            prevlen = i64::from(curlen);
            (max_count, min_count) = if nextlen == 0 {
                (138, 3)
            } else if curlen == nextlen {
                (6, 3)
            } else {
                (7, 4)
            };
        }
    }

    fn send_bl(&mut self, c: usize) {
        let n = self.bl_desc.tree[c];
        self.send_bits(n.code, n.len);
    }

    fn build_bl_tree(&mut self) -> usize {
        self.walk_tree(0, self.l_desc.max_code, false);
        self.walk_tree(1, self.d_desc.max_code, false);
        let mut desc = self.take_desc(2);
        self.build_tree(&mut desc);
        self.bl_desc = desc;
        let mut max_blindex = BL_CODES - 1;
        while max_blindex >= 3 && self.bl_desc.tree[BL_ORDER[max_blindex]].len == 0 {
            max_blindex -= 1;
        }
        self.opt_len += 3 * (max_blindex as i64 + 1) + 5 + 5 + 4;
        max_blindex
    }

    fn take_desc(&mut self, which: usize) -> Desc {
        let d = match which {
            0 => &mut self.l_desc,
            1 => &mut self.d_desc,
            _ => &mut self.bl_desc,
        };
        Desc {
            tree: std::mem::take(&mut d.tree),
            stree: d.stree.take(),
            extra: d.extra,
            base: d.base,
            elems: d.elems,
            max_length: d.max_length,
            max_code: d.max_code,
        }
    }

    fn compress_block(&mut self, fixed: bool) {
        let (lt, dt) = match fixed {
            true => (
                self.l_desc.stree.clone().unwrap_or_default(),
                self.d_desc.stree.clone().unwrap_or_default(),
            ),
            false => (self.l_desc.tree.clone(), self.d_desc.tree.clone()),
        };
        let mut dx = 0;
        for i in 0..self.l_buf.len() {
            let lc = u32::from(self.l_buf[i]);
            if !self.is_match[i] {
                self.send_bits(lt[lc as usize].code, lt[lc as usize].len);
                continue;
            }
            let code = length_code(lc) as usize;
            self.send_bits(lt[code + 257].code, lt[code + 257].len);
            let extra = EXTRA_LBITS[code];
            if extra != 0 {
                self.send_bits(lc - BASE_LENGTH[code], extra);
            }
            let dist = u32::from(self.d_buf[dx]);
            dx += 1;
            let code = offset_code(dist) as usize;
            self.send_bits(dt[code].code, dt[code].len);
            let extra = EXTRA_DBITS[code];
            if extra != 0 {
                self.send_bits(dist - BASE_DIST[code], extra);
            }
        }
        self.send_bits(lt[END_BLOCK].code, lt[END_BLOCK].len);
    }

    /// Ends the block: `buf` is its input when still in the window (so it may be stored).
    pub fn flush_block(&mut self, buf: Option<&[u8]>, stored_len: u64, eof: bool) {
        let mut l = self.take_desc(0);
        self.build_tree(&mut l);
        self.l_desc = l;
        let mut d = self.take_desc(1);
        self.build_tree(&mut d);
        self.d_desc = d;
        let max_blindex = self.build_bl_tree();
        let mut opt_lenb = (self.opt_len + 3 + 7) >> 3;
        let static_lenb = (self.static_len + 3 + 7) >> 3;
        if static_lenb <= opt_lenb {
            opt_lenb = static_lenb;
        }
        let eof_bit = u32::from(eof);
        match buf {
            Some(buf) if stored_len as i64 + 4 <= opt_lenb => {
                self.send_bits(eof_bit, 3);
                self.windup();
                let len = stored_len as u16;
                self.send_bits(u32::from(len), 16);
                self.send_bits(u32::from(!len), 16);
                self.out.bytes(&buf[..stored_len as usize]);
            }
            _ if static_lenb == opt_lenb => {
                self.send_bits(2 + eof_bit, 3);
                self.compress_block(true);
            }
            _ => {
                self.send_bits(4 + eof_bit, 3);
                let (lcodes, dcodes) = (self.l_desc.max_code + 1, self.d_desc.max_code + 1);
                self.send_bits((lcodes - 257) as u32, 5);
                self.send_bits((dcodes - 1) as u32, 5);
                self.send_bits((max_blindex + 1 - 4) as u32, 4);
                for &o in &BL_ORDER[..=max_blindex] {
                    let len = self.bl_desc.tree[o].len;
                    self.send_bits(len, 3);
                }
                self.walk_tree(0, lcodes - 1, true);
                self.walk_tree(1, dcodes - 1, true);
                self.compress_block(false);
            }
        }
        self.init_block();
        if eof {
            self.windup();
        }
    }
}
