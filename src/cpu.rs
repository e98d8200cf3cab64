//! CPU seconds per stage of a command (`--json`'s `cpuSeconds`). Each thread's CPU clock is
//! read where its work moves from one stage to another, so a stage run inside another (the
//! inflate a zstd compressor pulls from) is counted once, in the inner one; work outside every
//! stage (downloads, the bundle's own frames, waiting) is in none.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A stage a command's CPU time is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Inflating gzip layers, and hashing their tars (`create --compact`).
    Inflate,
    /// Finding the encoder that made a layer.
    Identify,
    /// preflate-rs describing a stream no encoder here makes.
    Preflate,
    /// zstd compressing layers' tars.
    Zstd,
    /// Rebuilding layers to prove their frames rebuild them (`create`).
    Prove,
    /// Encoding layers against reference layers.
    Deltas,
    /// Reading the bundle's frames and decompressing them (`load`).
    Decode,
    /// Rebuilding layers' gzip bytes (`load`).
    Rebuild,
    /// Hashing blobs on the way to a target.
    Hash,
    /// What a target does with the bytes: files written, requests sent.
    Write,
}

const STAGES: usize = 10;

impl Stage {
    /// Its key in `cpuSeconds`.
    fn key(self) -> &'static str {
        match self {
            Stage::Inflate => "inflate",
            Stage::Identify => "identify",
            Stage::Preflate => "preflate",
            Stage::Zstd => "zstd",
            Stage::Prove => "prove",
            Stage::Deltas => "deltas",
            Stage::Decode => "decode",
            Stage::Rebuild => "rebuild",
            Stage::Hash => "hash",
            Stage::Write => "write",
        }
    }
}

/// The stages `create` reports, and `load`'s.
pub const CREATE: &[Stage] = &[
    Stage::Inflate,
    Stage::Identify,
    Stage::Preflate,
    Stage::Zstd,
    Stage::Prove,
    Stage::Deltas,
];
pub const LOAD: &[Stage] = &[Stage::Decode, Stage::Rebuild, Stage::Hash, Stage::Write];

/// Nanoseconds of CPU per stage, this process so far.
static SPENT: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];

thread_local! {
    /// The stages this thread is in, innermost last, and its CPU clock when that last changed.
    static ON: RefCell<(Vec<Stage>, Duration)> = const { RefCell::new((Vec::new(), Duration::ZERO)) };
}

/// Counts this thread's CPU time in `stage` until it is dropped (on the same thread).
#[must_use]
pub struct Guard(PhantomData<*const ()>);

pub fn enter(stage: Stage) -> Guard {
    switch(|stack| stack.push(stage));
    Guard(PhantomData)
}

impl Drop for Guard {
    fn drop(&mut self) {
        switch(|stack| {
            stack.pop();
        });
    }
}

/// Charges the time since the last switch to the innermost stage, then changes the stack.
fn switch(change: impl FnOnce(&mut Vec<Stage>)) {
    let now = gzip_exact::cpu::thread_cpu_time();
    ON.with(|on| {
        let (stack, since) = &mut *on.borrow_mut();
        if let Some(top) = stack.last() {
            let spent = now.saturating_sub(*since).as_nanos();
            SPENT[*top as usize].fetch_add(spent as u64, Ordering::Relaxed);
        }
        *since = now;
        change(stack);
    });
}

/// A reader or writer whose every call is counted in `stage`.
pub struct In<T> {
    stage: Stage,
    inner: T,
}

impl<T> In<T> {
    pub fn new(stage: Stage, inner: T) -> In<T> {
        In { stage, inner }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<R: Read> Read for In<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _in = enter(self.stage);
        self.inner.read(buf)
    }
}

impl<W: Write> Write for In<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _in = enter(self.stage);
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let _in = enter(self.stage);
        self.inner.flush()
    }
}

/// CPU seconds per stage, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Seconds(Vec<(&'static str, f64)>);

impl Seconds {
    /// What `stages` have used so far, the rebuild pool's pieces counted in `pieces` (they
    /// run on threads no stage is entered on).
    pub fn of(stages: &[Stage], pieces: Stage) -> Seconds {
        let spent = |s: Stage| {
            let own = Duration::from_nanos(SPENT[s as usize].load(Ordering::Relaxed));
            match s == pieces {
                true => own + gzip_exact::cpu::in_pieces(),
                false => own,
            }
        };
        Seconds(
            stages
                .iter()
                .map(|&s| (s.key(), spent(s).as_secs_f64()))
                .collect(),
        )
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, secs) in &self.0 {
            // Milliseconds are as fine as the clocks behind them are worth reading.
            map.serialize_entry(key, &((secs * 1000.0).round() / 1000.0))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(d: Duration) {
        let start = gzip_exact::cpu::thread_cpu_time();
        while gzip_exact::cpu::thread_cpu_time() - start < d {
            std::hint::black_box(0u64.wrapping_add(1));
        }
    }

    #[test]
    fn a_stage_inside_another_is_counted_once_in_the_inner_one() {
        let spent = |s: Stage| SPENT[s as usize].load(Ordering::Relaxed);
        let (outer, inner) = (spent(Stage::Write), spent(Stage::Hash));
        {
            let _w = enter(Stage::Write);
            busy(Duration::from_millis(30));
            let mut r = In::new(Stage::Hash, BusyReader);
            r.read_exact(&mut [0; 1]).unwrap();
        }
        let outer = Duration::from_nanos(spent(Stage::Write) - outer);
        let inner = Duration::from_nanos(spent(Stage::Hash) - inner);
        assert!(inner >= Duration::from_millis(60), "{inner:?}");
        let ms = |d: Duration| d.as_millis();
        assert!(
            (30..60).contains(&ms(outer)),
            "write {outer:?}, hash {inner:?}"
        );
    }

    struct BusyReader;

    impl Read for BusyReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            busy(Duration::from_millis(60));
            buf[0] = 1;
            Ok(1)
        }
    }
}
