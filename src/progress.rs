//! Progress for humans and for logs: on a terminal, an overall bytes bar plus one bar per blob in
//! flight; elsewhere, one line per step and a status line every few seconds; nothing with --quiet.

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Terminal,
    Log,
    Quiet,
}

impl Mode {
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Log
        }
    }
}

pub struct Progress {
    mode: Mode,
    /// Verb for the periodic log line ("downloaded", "written").
    verb: &'static str,
    multi: MultiProgress,
    total: ProgressBar,
    state: Arc<Shared>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Shared {
    done: AtomicU64,
    total: AtomicU64,
    stop: AtomicBool,
}

pub struct BlobBar {
    bar: Option<ProgressBar>,
}

/// See `Progress::counter`. The bar goes when the counter does (`BlobBar`); its readers only
/// share where the furthest read got.
pub struct Counter {
    reach: Reach,
    _bar: BlobBar,
}

/// What a counter's readers share: how far any read of the blob has got, and what to move.
#[derive(Clone)]
struct Reach {
    state: Arc<Shared>,
    total: ProgressBar,
    bar: Option<ProgressBar>,
    reached: Arc<AtomicU64>,
    size: u64,
}

impl Reach {
    /// The furthest any read of the blob has got is `pos`.
    fn to(&self, pos: u64) {
        let pos = pos.min(self.size);
        let before = self.reached.fetch_max(pos, Ordering::Relaxed);
        if pos > before {
            let n = pos - before;
            self.state.done.fetch_add(n, Ordering::Relaxed);
            self.total.inc(n);
            if let Some(b) = &self.bar {
                b.inc(n);
            }
        }
    }
}

impl Counter {
    /// `inner`, counting what is read from it.
    pub fn reader<R: std::io::Read>(&self, inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            pos: 0,
            reach: self.reach.clone(),
        }
    }

    /// The blob is where it should be, read or not (a target that had it already).
    pub fn done(&self) {
        self.reach.to(self.reach.size);
        if let Some(b) = &self.reach.bar {
            b.finish_and_clear();
        }
    }
}

pub struct CountingReader<R> {
    inner: R,
    pos: u64,
    reach: Reach,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        self.reach.to(self.pos);
        Ok(n)
    }
}

impl Progress {
    pub fn new(mode: Mode, verb: &'static str) -> Progress {
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Terminal => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            mode,
            verb,
            multi,
            total,
            state: Arc::new(Shared {
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                stop: AtomicBool::new(false),
            }),
            ticker: Mutex::new(None),
        }
    }

    /// A step worth one line in a log (an image resolved, a phase started).
    pub fn line(&self, msg: &str) {
        match self.mode {
            Mode::Terminal => self.multi.println(msg).unwrap_or(()),
            Mode::Log => crate::console::line(msg),
            Mode::Quiet => {}
        }
    }

    /// Count `total` bytes, of which `already` need no work (in the cache): the bar and the
    /// log line count only the rest, so "downloaded X" and its rate are bytes really moved.
    pub fn start_bytes(&self, total: u64, already: u64) {
        let total = total.saturating_sub(already);
        self.state.total.store(total, Ordering::Relaxed);
        self.state.done.store(0, Ordering::Relaxed);
        self.total.set_length(total);
        self.total.set_position(0);
        if self.mode == Mode::Log {
            let st = self.state.clone();
            let verb = self.verb;
            *self.ticker.lock().unwrap() = Some(std::thread::spawn(move || {
                let now = Instant::now();
                let mut status = Status::new(verb, now, now);
                while !st.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let (d, t) = (
                        st.done.load(Ordering::Relaxed),
                        st.total.load(Ordering::Relaxed),
                    );
                    if let Some(l) = status.tick(d, t, Instant::now()) {
                        crate::console::line(l);
                    }
                }
            }));
        }
    }

    pub fn add(&self, n: u64) {
        self.state.done.fetch_add(n, Ordering::Relaxed);
        self.total.inc(n);
    }

    pub fn blob(&self, name: &str, size: u64) -> BlobBar {
        if self.mode != Mode::Terminal {
            return BlobBar { bar: None };
        }
        let b = self.multi.add(ProgressBar::new(size));
        b.set_style(
            ProgressStyle::with_template("  {prefix:40!} {bar:30} {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_prefix(name.to_string());
        BlobBar { bar: Some(b) }
    }

    /// A counter for one blob's bytes as they are read (`Counter::reader`), with its own bar on
    /// a terminal named `label`. Only new bytes count: a retry that reads the blob again from the
    /// start moves nothing until it passes where the last attempt got to.
    pub fn counter(&self, label: &str, size: u64) -> Counter {
        let bar = self.blob(label, size);
        Counter {
            reach: Reach {
                state: self.state.clone(),
                total: self.total.clone(),
                bar: bar.bar.clone(),
                reached: Arc::new(AtomicU64::new(0)),
                size,
            },
            _bar: bar,
        }
    }

    pub fn finish(&self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.lock().unwrap().take() {
            let _ = t.join();
        }
        self.total.finish_and_clear();
    }
}

/// The log's status line, every few seconds while bytes move, and once when all have: after
/// that the work goes on (compacting, writing) and a rate over a growing time would be untrue.
struct Status {
    verb: &'static str,
    /// When bytes began to move: the rate is over the moving time, not resolving's too.
    began: Instant,
    last: Instant,
    said_all: bool,
}

impl Status {
    fn new(verb: &'static str, began: Instant, now: Instant) -> Status {
        Status {
            verb,
            began,
            last: now,
            said_all: false,
        }
    }

    /// The line to print now, if any, with `done` of `total` bytes moved.
    fn tick(&mut self, done: u64, total: u64, now: Instant) -> Option<String> {
        // Nothing to move (a warm cache): no line to say so every 5 s.
        if total == 0 || self.said_all {
            return None;
        }
        self.said_all = done >= total;
        if !self.said_all && now.duration_since(self.last) < Duration::from_secs(5) {
            return None;
        }
        self.last = now;
        let rate = done as f64 / now.duration_since(self.began).as_secs_f64().max(0.001);
        Some(format!(
            "{} {} of {} ({}/s)",
            self.verb,
            HumanBytes(done),
            HumanBytes(total),
            HumanBytes(rate as u64)
        ))
    }
}

impl BlobBar {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}

impl Drop for BlobBar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_the_rate_over_the_moving_time_and_stops_when_all_moved() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Resolving took 100 s before any byte moved; then 10 MiB moved in 10 s.
        let mut s = Status::new("downloaded", at(100), at(100));
        let mib = 1 << 20;
        assert_eq!(s.tick(5 * mib, 10 * mib, at(104)), None, "not 5 s yet");
        assert_eq!(
            s.tick(5 * mib, 10 * mib, at(105)).as_deref(),
            Some("downloaded 5.00 MiB of 10.00 MiB (1.00 MiB/s)")
        );
        assert_eq!(
            s.tick(10 * mib, 10 * mib, at(107)).as_deref(),
            Some("downloaded 10.00 MiB of 10.00 MiB (1.43 MiB/s)"),
            "said once when all moved, however soon after the last line"
        );
        // Compacting goes on for minutes after: nothing more to say, no rate falling.
        for later in [112, 200, 400] {
            assert_eq!(s.tick(10 * mib, 10 * mib, at(later)), None);
        }
    }

    #[test]
    fn a_warm_cache_moves_nothing_and_says_nothing() {
        let t0 = Instant::now();
        let mut s = Status::new("downloaded", t0, t0);
        assert_eq!(s.tick(0, 0, t0 + Duration::from_secs(30)), None);
    }
}
