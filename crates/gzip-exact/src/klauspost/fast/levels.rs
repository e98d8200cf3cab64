//! One function per level; each returns where the literals still to emit begin.

use super::*;

impl Fast {
    fn e(&self, pos: i32) -> i32 {
        pos + self.cur
    }

    pub(super) fn l1(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const HB: u32 = 5;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        loop {
            let mut next_s;
            let mut t;
            loop {
                let mut next_hash = hash_len(cv, TABLE_BITS, HB);
                let candidate = self.table[next_hash].cur;
                next_s = s + 2 + ((s - next_emit) >> 5);
                if next_s > s_limit {
                    return next_emit;
                }
                let mut now = ld64(src, next_s);
                self.table[next_hash].cur = self.e(s);
                next_hash = hash_len(now, TABLE_BITS, HB);
                t = candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    self.table[next_hash].cur = self.e(next_s);
                    break;
                }
                cv = now;
                s = next_s;
                next_s += 1;
                let candidate = self.table[next_hash].cur;
                now >>= 8;
                self.table[next_hash].cur = self.e(s);
                t = candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    self.table[next_hash].cur = self.e(next_s);
                    break;
                }
                cv = now;
                s = next_s;
            }
            loop {
                let mut l = match_len_long(src, s + 4, t + 4) + 4;
                Self::emit_match(dst, src, next_emit, &mut s, &mut t, &mut l);
                s += l;
                next_emit = s;
                if next_s >= s {
                    s = next_s + 1;
                }
                if s >= s_limit {
                    if ((s + l + 8) as usize) < src.len() {
                        let cv = ld64(src, s);
                        self.table[hash_len(cv, TABLE_BITS, HB)].cur = self.e(s);
                    }
                    return next_emit;
                }
                let mut x = ld64(src, s - 2);
                let o = self.e(s - 2);
                self.table[hash_len(x, TABLE_BITS, HB)].cur = o;
                x >>= 16;
                let curr_hash = hash_len(x, TABLE_BITS, HB);
                let candidate = self.table[curr_hash].cur;
                self.table[curr_hash].cur = o + 2;
                t = candidate - self.cur;
                if s - t > MAX_MATCH_OFFSET || x as u32 != ld32(src, t) {
                    cv = x >> 8;
                    s += 1;
                    break;
                }
            }
        }
    }

    pub(super) fn l2(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const HB: u32 = 5;
        const TB: u32 = L2_TABLE_BITS;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        loop {
            let mut next_s = s;
            let mut candidate;
            loop {
                let mut next_hash = hash_len(cv, TB, HB);
                s = next_s;
                next_s = s + 2 + ((s - next_emit) >> 5);
                if next_s > s_limit {
                    return next_emit;
                }
                candidate = self.table[next_hash].cur;
                let mut now = ld64(src, next_s);
                self.table[next_hash].cur = self.e(s);
                next_hash = hash_len(now, TB, HB);
                let t = candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    self.table[next_hash].cur = self.e(next_s);
                    break;
                }
                cv = now;
                s = next_s;
                next_s += 1;
                candidate = self.table[next_hash].cur;
                now >>= 8;
                self.table[next_hash].cur = self.e(s);
                let t = candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    break;
                }
                cv = now;
            }
            loop {
                let mut t = candidate - self.cur;
                let mut l = match_len_long(src, s + 4, t + 4) + 4;
                Self::emit_match(dst, src, next_emit, &mut s, &mut t, &mut l);
                s += l;
                next_emit = s;
                if next_s >= s {
                    s = next_s + 1;
                }
                if s >= s_limit {
                    if ((s + l + 8) as usize) < src.len() {
                        let cv = ld64(src, s);
                        self.table[hash_len(cv, TB, HB)].cur = self.e(s);
                    }
                    return next_emit;
                }
                let mut i = s - l + 2;
                while i < s - 5 {
                    let mut x = ld64(src, i);
                    self.table[hash_len(x, TB, HB)].cur = self.e(i);
                    x >>= 16;
                    self.table[hash_len(x, TB, HB)].cur = self.e(i + 2);
                    x >>= 16;
                    self.table[hash_len(x, TB, HB)].cur = self.e(i + 4);
                    i += 7;
                }
                let x = ld64(src, s - 2);
                let o = self.e(s - 2);
                let prev_hash = hash_len(x, TB, HB);
                let prev_hash2 = hash_len(x >> 8, TB, HB);
                self.table[prev_hash].cur = o;
                self.table[prev_hash2].cur = o + 1;
                let curr_hash = hash_len(x >> 16, TB, HB);
                candidate = self.table[curr_hash].cur;
                self.table[curr_hash].cur = o + 2;
                let t = candidate - self.cur;
                if s - t > MAX_MATCH_OFFSET || (x >> 16) as u32 != ld32(src, t) {
                    cv = x >> 24;
                    s += 1;
                    break;
                }
            }
        }
    }

    /// Pushes a position into a two-way entry.
    fn push(e: &mut Entry, pos: i32) {
        *e = Entry {
            cur: pos,
            prev: e.cur,
        };
    }

    pub(super) fn l3(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const HB: u32 = 5;
        const TB: u32 = L3_TABLE_BITS;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        loop {
            let mut next_s = s;
            let mut candidate;
            loop {
                let next_hash = hash_len(cv, TB, HB);
                s = next_s;
                next_s = s + 1 + ((s - next_emit) >> 7);
                if next_s > s_limit {
                    return next_emit;
                }
                let candidates = self.table[next_hash];
                let now = ld64(src, next_s);
                let min_offset = self.e(s) - (MAX_MATCH_OFFSET - 4);
                let here = self.e(s);
                Self::push(&mut self.table[next_hash], here);
                candidate = candidates.cur;
                if candidate < min_offset {
                    cv = now;
                    continue;
                }
                if cv as u32 == ld32(src, candidate - self.cur) {
                    if candidates.prev < min_offset
                        || cv as u32 != ld32(src, candidates.prev - self.cur)
                    {
                        break;
                    }
                    let offset = s - (candidate - self.cur);
                    let o2 = s - (candidates.prev - self.cur);
                    let l1 = match_len_long(src, s + 4, s - offset + 4);
                    let l2 = match_len_long(src, s + 4, s - o2 + 4);
                    if l2 > l1 {
                        candidate = candidates.prev;
                    }
                    break;
                } else {
                    candidate = candidates.prev;
                    if candidate > min_offset && cv as u32 == ld32(src, candidate - self.cur) {
                        break;
                    }
                }
                cv = now;
            }
            loop {
                let mut t = candidate - self.cur;
                let mut l = match_len_long(src, s + 4, t + 4) + 4;
                Self::emit_match(dst, src, next_emit, &mut s, &mut t, &mut l);
                s += l;
                next_emit = s;
                if next_s >= s {
                    s = next_s + 1;
                }
                if s >= s_limit {
                    t += l;
                    if ((t + 8) as usize) < src.len() && t > 0 {
                        cv = ld64(src, t);
                        let h = hash_len(cv, TB, HB);
                        let pos = self.e(t);
                        Self::push(&mut self.table[h], pos);
                    }
                    return next_emit;
                }
                let mut i = s - l + 2;
                while i < s - 5 {
                    let h = hash_len(ld64(src, i), TB, HB);
                    let pos = self.e(i);
                    Self::push(&mut self.table[h], pos);
                    i += 6;
                }
                let mut x = ld64(src, s - 2);
                for k in [2, 1] {
                    let h = hash_len(x, TB, HB);
                    let pos = self.e(s - k);
                    Self::push(&mut self.table[h], pos);
                    x >>= 8;
                }
                let curr_hash = hash_len(x, TB, HB);
                let candidates = self.table[curr_hash];
                cv = x;
                let pos = self.e(s);
                Self::push(&mut self.table[curr_hash], pos);
                candidate = candidates.cur;
                let min_offset = self.e(s) - (MAX_MATCH_OFFSET - 4);
                if candidate > min_offset {
                    if cv as u32 == ld32(src, candidate - self.cur) {
                        continue;
                    }
                    candidate = candidates.prev;
                    if candidate > min_offset && cv as u32 == ld32(src, candidate - self.cur) {
                        continue;
                    }
                }
                cv = x >> 8;
                s += 1;
                break;
            }
        }
    }

    pub(super) fn l4(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const SB: u32 = 4;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        loop {
            let mut next_s = s;
            let mut t;
            loop {
                let next_hash_s = hash_len(cv, TABLE_BITS, SB);
                let next_hash_l = hash_len(cv, TABLE_BITS, HASH_LONG_BYTES);
                s = next_s;
                next_s = s + 1 + ((s - next_emit) >> 6);
                if next_s > s_limit {
                    return next_emit;
                }
                let s_candidate = self.table[next_hash_s].cur;
                let l_candidate = self.b_table[next_hash_l].cur;
                let next = ld64(src, next_s);
                let entry = self.e(s);
                self.table[next_hash_s].cur = entry;
                self.b_table[next_hash_l].cur = entry;
                t = l_candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    break;
                }
                t = s_candidate - self.cur;
                if s - t < MAX_MATCH_OFFSET && cv as u32 == ld32(src, t) {
                    let l_off =
                        self.b_table[hash_len(next, TABLE_BITS, HASH_LONG_BYTES)].cur - self.cur;
                    if next_s - l_off < MAX_MATCH_OFFSET && ld32(src, l_off) == next as u32 {
                        let l1 = match_len_long(src, s + 4, t + 4);
                        // klauspost/compress 1.18.0 on (and Go 1.27) compares from the
                        // distance, not the position: a quirk its output depends on.
                        let from = if self.from_position {
                            l_off
                        } else {
                            next_s - l_off
                        };
                        let l2 = match_len_long(src, next_s + 4, from + 4);
                        if l2 > l1 {
                            s = next_s;
                            t = l_off;
                        }
                    }
                    break;
                }
                cv = next;
            }
            let mut l = match_len_long(src, s + 4, t + 4) + 4;
            Self::emit_match(dst, src, next_emit, &mut s, &mut t, &mut l);
            s += l;
            next_emit = s;
            if next_s >= s {
                s = next_s + 1;
            }
            if s >= s_limit {
                if ((s + 8) as usize) < src.len() {
                    let cv = ld64(src, s);
                    self.table[hash_len(cv, TABLE_BITS, SB)].cur = self.e(s);
                    self.b_table[hash_len(cv, TABLE_BITS, HASH_LONG_BYTES)].cur = self.e(s);
                }
                return next_emit;
            }
            let mut i = next_s;
            while i < s - 1 {
                let cv = ld64(src, i);
                let t = self.e(i);
                self.b_table[hash_len(cv, TABLE_BITS, HASH_LONG_BYTES)].cur = t;
                self.b_table[hash_len(cv >> 8, TABLE_BITS, HASH_LONG_BYTES)].cur = t + 1;
                self.table[hash_len(cv >> 8, TABLE_BITS, SB)].cur = t + 1;
                i += 3;
            }
            let x = ld64(src, s - 1);
            let o = self.e(s - 1);
            self.table[hash_len(x, TABLE_BITS, SB)].cur = o;
            self.b_table[hash_len(x, TABLE_BITS, HASH_LONG_BYTES)].cur = o;
            cv = x >> 8;
        }
    }
}

/// What levels 5 and 6 found at one position: a match start, its source and length (0: not
/// yet measured).
struct Found {
    s: i32,
    t: i32,
    l: i32,
}

impl Fast {
    /// Levels 5 and 6's probe loop: the long table's two candidates, then the short table's
    /// (level 6 also trying the last distance one byte on), then the long table at the next
    /// position. None when the block's end is reached.
    fn probe56(
        &mut self,
        src: &[u8],
        s: &mut i32,
        cv: &mut u64,
        next_emit: i32,
        repeat: Option<i32>,
    ) -> Option<(Found, i32)> {
        const SB: u32 = 4;
        const LB: u32 = HASH_LONG_BYTES;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let skip_log = if repeat.is_some() { 7 } else { 6 };
        let mut next_s = *s;
        let cur = self.cur;
        let (table, b_table) = self.tables();
        loop {
            let mut next_hash_s = hash_len(*cv, TABLE_BITS, SB);
            let mut next_hash_l = hash_len(*cv, TABLE_BITS, LB);
            *s = next_s;
            let s = *s;
            next_s = s + 1 + ((s - next_emit) >> skip_log);
            if next_s > s_limit {
                return None;
            }
            let s_candidate = table[next_hash_s].cur;
            let l_candidate = b_table[next_hash_l];
            let next = ld64(src, next_s);
            let entry = s + cur;
            table[next_hash_s].cur = entry;
            Self::push(&mut b_table[next_hash_l], entry);
            next_hash_s = hash_len(next, TABLE_BITS, SB);
            next_hash_l = hash_len(next, TABLE_BITS, LB);
            let at_next = next_s + cur;
            let cv32 = *cv as u32;
            let t = l_candidate.cur - cur;
            if s - t < MAX_MATCH_OFFSET {
                if cv32 == ld32(src, t) {
                    table[next_hash_s].cur = at_next;
                    Self::push(&mut b_table[next_hash_l], at_next);
                    let t2 = l_candidate.prev - cur;
                    if s - t2 < MAX_MATCH_OFFSET && cv32 == ld32(src, t2) {
                        let l = match_len_limited(src, s + 4, t + 4) + 4;
                        let ml1 = match_len_limited(src, s + 4, t2 + 4) + 4;
                        if ml1 > l {
                            return Some((Found { s, t: t2, l: ml1 }, next_s));
                        }
                        return Some((Found { s, t, l }, next_s));
                    }
                    return Some((Found { s, t, l: 0 }, next_s));
                }
                let t = l_candidate.prev - cur;
                if s - t < MAX_MATCH_OFFSET && cv32 == ld32(src, t) {
                    table[next_hash_s].cur = at_next;
                    Self::push(&mut b_table[next_hash_l], at_next);
                    return Some((Found { s, t, l: 0 }, next_s));
                }
            }
            let t = s_candidate - cur;
            if s - t < MAX_MATCH_OFFSET && cv32 == ld32(src, t) {
                let mut f = Found {
                    s,
                    t,
                    l: match_len_limited(src, s + 4, t + 4) + 4,
                };
                let l_candidate = b_table[next_hash_l];
                table[next_hash_s].cur = at_next;
                Self::push(&mut b_table[next_hash_l], at_next);
                if let Some(repeat) = repeat {
                    let t2 = s - repeat + 1;
                    if ld32(src, t2) == (*cv >> 8) as u32 {
                        let ml = match_len_limited(src, s + 5, t2 + 4) + 4;
                        if ml > f.l {
                            return Some((
                                Found {
                                    s: s + 1,
                                    t: t2,
                                    l: ml,
                                },
                                next_s,
                            ));
                        }
                    }
                }
                let t2 = l_candidate.cur - cur;
                if next_s - t2 < MAX_MATCH_OFFSET {
                    if ld32(src, t2) == next as u32 {
                        let ml = match_len_limited(src, next_s + 4, t2 + 4) + 4;
                        if ml > f.l {
                            f = Found {
                                s: next_s,
                                t: t2,
                                l: ml,
                            };
                            if repeat.is_none() {
                                return Some((f, next_s));
                            }
                        }
                    }
                    let t2 = l_candidate.prev - cur;
                    if next_s - t2 < MAX_MATCH_OFFSET && ld32(src, t2) == next as u32 {
                        let ml = match_len_limited(src, next_s + 4, t2 + 4) + 4;
                        if ml > f.l {
                            f = Found {
                                s: next_s,
                                t: t2,
                                l: ml,
                            };
                        }
                    }
                }
                return Some((f, next_s));
            }
            *cv = next;
        }
    }

    /// Whether a match starting two bytes in and reaching further exists, by the long table
    /// entry of the position where the current match ends (level 5: its newest entry only,
    /// and only for short matches; level 6: both).
    fn extend56(&self, src: &[u8], f: &mut Found, both: bool) {
        const SKIP_BEGINNING: i32 = 2;
        let cur = self.cur;
        let s_at = f.s + f.l;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        if s_at >= s_limit || (!both && f.l >= 30) {
            return;
        }
        let e_long = self.b_table[hash_len(ld64(src, s_at), TABLE_BITS, HASH_LONG_BYTES)];
        let s2 = f.s + SKIP_BEGINNING;
        let try_at = |f: &mut Found, entry: i32| {
            let t2 = entry - cur - f.l + SKIP_BEGINNING;
            let off = s2 - t2;
            if t2 >= 0 && off > 0 && off < MAX_MATCH_OFFSET {
                let l2 = match_len_long(src, s2, t2);
                if l2 > f.l {
                    *f = Found {
                        s: s2,
                        t: t2,
                        l: l2,
                    };
                }
            }
        };
        if !both {
            return try_at(f, e_long.cur);
        }
        let t2 = e_long.cur - cur - f.l + SKIP_BEGINNING;
        if s2 - t2 < MAX_MATCH_OFFSET {
            try_at(f, e_long.cur);
            try_at(f, e_long.prev);
        }
    }

    /// The match found, measured in full, extended, and emitted; where the input continues.
    fn finish56(
        &mut self,
        dst: &mut Tokens,
        src: &[u8],
        mut f: Found,
        next_emit: i32,
        both: bool,
    ) -> Found {
        if f.l == 0 {
            f.l = match_len_long(src, f.s + 4, f.t + 4) + 4;
        } else if f.l == MAX_MATCH_LENGTH {
            f.l += match_len_long(src, f.s + f.l, f.t + f.l);
        }
        self.extend56(src, &mut f, both);
        Self::emit_match(dst, src, next_emit, &mut f.s, &mut f.t, &mut f.l);
        f
    }

    pub(super) fn l5(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const SB: u32 = 4;
        const LB: u32 = HASH_LONG_BYTES;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        loop {
            let Some((f, next_s)) = self.probe56(src, &mut s, &mut cv, next_emit, None) else {
                return next_emit;
            };
            let f = self.finish56(dst, src, f, next_emit, false);
            let cur = self.cur;
            let (table, b_table) = self.tables();
            let l = f.l;
            s = f.s + l;
            next_emit = s;
            if next_s >= s {
                s = next_s + 1;
            }
            if s >= s_limit {
                return next_emit;
            }
            let mut i = s - l + 1;
            if i < s - 1 {
                let mut cv = ld64(src, i);
                let t = i + cur;
                table[hash_len(cv, TABLE_BITS, SB)].cur = t;
                Self::push(&mut b_table[hash_len(cv, TABLE_BITS, LB)], t);
                cv >>= 8;
                Self::push(&mut b_table[hash_len(cv, TABLE_BITS, LB)], t + 1);
                cv >>= 8;
                table[hash_len(cv, TABLE_BITS, SB)].cur = t + 2;
                i += 4;
                while i < s - 1 {
                    let cv = ld64(src, i);
                    let t = i + cur;
                    Self::push(&mut b_table[hash_len(cv, TABLE_BITS, LB)], t);
                    table[hash_len(cv >> 8, TABLE_BITS, SB)].cur = t + 1;
                    i += 3;
                }
            }
            let x = ld64(src, s - 1);
            let o = s - 1 + cur;
            table[hash_len(x, TABLE_BITS, SB)].cur = o;
            Self::push(&mut b_table[hash_len(x, TABLE_BITS, LB)], o);
            cv = x >> 8;
        }
    }

    pub(super) fn l6(&mut self, dst: &mut Tokens, src: &[u8], mut s: i32) -> i32 {
        const SB: u32 = 4;
        const LB: u32 = HASH_LONG_BYTES;
        let mut next_emit = s;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut cv = ld64(src, s);
        let mut repeat = 1;
        loop {
            let Some((f, next_s)) = self.probe56(src, &mut s, &mut cv, next_emit, Some(repeat))
            else {
                return next_emit;
            };
            let f = self.finish56(dst, src, f, next_emit, true);
            let cur = self.cur;
            let (table, b_table) = self.tables();
            repeat = f.s - f.t;
            s = f.s + f.l;
            next_emit = s;
            if next_s >= s {
                s = next_s + 1;
            }
            let end = if s >= s_limit {
                src.len() as i32 - 8
            } else {
                s - 1
            };
            let mut i = next_s + 1;
            while i < end {
                let cv = ld64(src, i);
                let t = i + cur;
                table[hash_len(cv, TABLE_BITS, SB)].cur = t;
                Self::push(&mut b_table[hash_len(cv, TABLE_BITS, LB)], t);
                if s < s_limit {
                    Self::push(&mut b_table[hash_len(cv >> 8, TABLE_BITS, LB)], t + 1);
                }
                i += 2;
            }
            if s >= s_limit {
                return next_emit;
            }
            cv = ld64(src, s);
        }
    }
}
