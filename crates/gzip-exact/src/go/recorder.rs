//! A Go stream made the way a reader with its restart points makes it, while the points are
//! found: from the start to the first point, then from each point resumed (`Deflater::resume`)
//! as a piece is, to the next, the pieces' bytes joined as `piece`'s callers join them. So a
//! proof of its output (its digest) is a proof of the pieces too, in one pass: what a reader
//! runs on every core is what was proven, not a second encoder's output that should agree.

use super::{Deflater, Restart};
use crate::encoder::Encoder;

/// Raw bytes per feed, as `piece` and io.Copy feed an encoder.
const FEED: usize = 32 * 1024;

/// The encoder of one Go stream at a restartable level, recording restart points at least
/// `spacing` raw bytes apart and going on from each one resumed.
pub struct Recorder {
    level: i32,
    spacing: u64,
    /// The current piece's encoder, which stops at the first restart point it records.
    d: Deflater,
    restarts: Vec<Restart>,
    /// The raw bytes from `recent_start` on: from the current encoder's window on, so the next
    /// piece can be resumed from its window.
    recent: Vec<u8>,
    recent_start: u64,
    /// The raw bytes handed to the current encoder so far (an absolute position), in feeds of
    /// `FEED` from where it began, as `piece` hands them over.
    fed: u64,
    /// The last byte of the piece before, when it ends inside that byte: joined with the next
    /// piece's first.
    held: Option<u8>,
}

impl Recorder {
    /// None for a level without restart points.
    pub fn new(level: i32, spacing: u64) -> Option<Recorder> {
        if !Deflater::restartable(level) {
            return None;
        }
        let mut d = Deflater::new(level)?;
        d.record_restarts(spacing);
        d.stop_at_restart = true;
        Some(Recorder {
            level,
            spacing,
            d,
            restarts: Vec::new(),
            recent: Vec::new(),
            recent_start: 0,
            fed: 0,
            held: None,
        })
    }

    /// The restart points so far: where each piece after the first was resumed from.
    pub fn restarts(&self) -> &[Restart] {
        &self.restarts
    }

    fn total(&self) -> u64 {
        self.recent_start + self.recent.len() as u64
    }

    /// Feeds the current encoder every whole feed (and, with `last`, the rest), going on from
    /// each restart point it stops at.
    fn run(&mut self, last: bool, out: &mut Vec<u8>) {
        loop {
            while !self.d.stopped && self.total() > self.fed {
                let at = (self.fed - self.recent_start) as usize;
                let n = (self.total() - self.fed).min(FEED as u64) as usize;
                if n < FEED && !last {
                    break;
                }
                self.d.push(&self.recent[at..at + n]);
                self.fed += n as u64;
            }
            // `push` compresses what it was given before, not what it was just given.
            if last && !self.d.stopped {
                self.d.step();
            }
            let bytes = self.d.take_output();
            self.join(bytes, out);
            if !self.d.stopped {
                break;
            }
            if !self.resume() {
                return;
            }
        }
        let keep = (self.d.base as u64).saturating_sub(self.recent_start) as usize;
        let keep = keep.min(self.recent.len());
        self.recent.drain(..keep);
        self.recent_start += keep as u64;
    }

    /// The next piece's encoder, from the restart point the current one stopped at.
    fn resume(&mut self) -> bool {
        let Some(&r) = self.d.restarts().last() else {
            return false;
        };
        let from = r.base.saturating_sub(self.recent_start) as usize;
        let Some((mut d, took)) = Deflater::resume(self.level, &r, &self.recent[from..]) else {
            return false;
        };
        d.recording = Some((self.spacing, vec![r]));
        d.stop_at_restart = true;
        self.d = d;
        self.fed = r.base + took as u64;
        self.restarts.push(r);
        true
    }

    /// Appends a piece's bytes, joining the byte the piece before ended in with its first.
    fn join(&mut self, mut bytes: Vec<u8>, out: &mut Vec<u8>) {
        if let Some(h) = self.held.take() {
            match bytes.first_mut() {
                Some(first) => *first |= h,
                None => {
                    self.held = Some(h);
                    return;
                }
            }
        }
        let ends_inside =
            self.d.stopped && self.d.restarts().last().is_some_and(|r| r.bit % 8 != 0);
        if ends_inside {
            self.held = bytes.pop();
        }
        out.extend_from_slice(&bytes);
    }
}

impl Encoder for Recorder {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.recent.extend_from_slice(raw);
        self.run(false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(true, out);
        self.d.end();
        let bytes = self.d.take_output();
        self.join(bytes, out);
        out.extend(self.held.take());
    }
}
