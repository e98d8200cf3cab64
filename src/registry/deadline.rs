//! A deadline for reading a response, set from how much there is to read. The read timeout only
//! catches silence: a registry that sends a byte a second is never silent and never done.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The slowest a transfer may be, on average, once its grace period is over.
pub const FLOOR_BYTES_PER_SEC: u64 = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[error(
    "{sent} bytes came in {secs} s, too slowly to finish (a registry must send at least 16 KiB/s)"
)]
pub struct TooSlow {
    pub sent: u64,
    pub secs: u64,
}

/// The `TooSlow` inside an error from a `Deadline` read, if that is what it is.
pub fn too_slow(e: &io::Error) -> Option<&TooSlow> {
    e.get_ref().and_then(|i| i.downcast_ref::<TooSlow>())
}

/// A reader that fails once reading takes longer than `grace` or, if longer, the time its bytes
/// take at `FLOOR_BYTES_PER_SEC`: the `expected` bytes, or as many as came if more did (a body of
/// unknown length is given time as it arrives, so a small guess cannot cut a large answer
/// that comes at a fair speed, and a drip cannot buy itself the time of a large one).
pub struct Deadline<R> {
    inner: R,
    started: Instant,
    grace: Duration,
    expected: u64,
    sent: u64,
}

impl<R> Deadline<R> {
    pub fn new(inner: R, expected: u64, grace: Duration) -> Deadline<R> {
        Deadline {
            inner,
            started: Instant::now(),
            grace,
            expected,
            sent: 0,
        }
    }

    fn check(&self) -> io::Result<()> {
        let took = self.started.elapsed();
        let bytes = self.expected.max(self.sent);
        if took
            <= self
                .grace
                .max(Duration::from_secs(bytes / FLOOR_BYTES_PER_SEC))
        {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            TooSlow {
                sent: self.sent,
                secs: took.as_secs(),
            },
        ))
    }
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if n > 0 {
            self.check()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that takes `pause` for every byte it gives.
    struct Drip(Duration);

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_drip_runs_out_of_time_and_a_fast_source_does_not() {
        let mut slow = Deadline::new(
            Drip(Duration::from_millis(20)),
            0,
            Duration::from_millis(100),
        );
        let e = io::copy(&mut slow, &mut io::sink()).unwrap_err();
        let why = too_slow(&e).expect("the error says it was too slow");
        assert!(why.sent >= 4, "{why}");
        let mut fast = Deadline::new(&[7u8; 1 << 20][..], 1 << 20, Duration::from_millis(100));
        assert_eq!(io::copy(&mut fast, &mut io::sink()).unwrap(), 1 << 20);
    }

    /// A source that gives `chunk` bytes every `pause`.
    struct Steady(usize, Duration, usize);

    impl Read for Steady {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.2 == 0 {
                return Ok(0);
            }
            std::thread::sleep(self.1);
            let n = self.0.min(buf.len()).min(self.2);
            self.2 -= n;
            Ok(n)
        }
    }

    /// A small body's deadline is the grace itself, not the grace and its bytes' time on top:
    /// a dripped manifest (counted as 64 KiB) is cut at the read timeout, 60 s, not 64.
    #[test]
    fn a_small_body_is_given_the_grace_not_the_grace_and_its_time() {
        let started = Instant::now();
        let mut drip = Deadline::new(
            Drip(Duration::from_millis(50)),
            FLOOR_BYTES_PER_SEC,
            Duration::from_millis(1500),
        );
        let e = io::copy(&mut drip, &mut io::sink()).unwrap_err();
        assert!(too_slow(&e).is_some(), "{e}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2200),
            "cut after {took:?}, not at the grace"
        );
    }

    #[test]
    fn a_body_longer_than_expected_gets_time_as_it_arrives() {
        // 48 KiB at 24 KiB per 0.5 s (48 KiB/s) against a guess of 0 bytes and 0.3 s of grace:
        // past the grace, but every byte came faster than the floor.
        let mut r = Deadline::new(
            Steady(24 << 10, Duration::from_millis(500), 48 << 10),
            0,
            Duration::from_millis(300),
        );
        let mut buf = [0u8; 24 << 10];
        let mut total = 0;
        loop {
            match r.read(&mut buf).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        assert_eq!(total, 48 << 10);
    }
}
