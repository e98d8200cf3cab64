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

/// A reader that fails once reading `expected` bytes takes longer than `grace` plus the time
/// they take at `FLOOR_BYTES_PER_SEC`.
pub struct Deadline<R> {
    inner: R,
    started: Instant,
    allowed: Duration,
    sent: u64,
}

impl<R> Deadline<R> {
    pub fn new(inner: R, expected: u64, grace: Duration) -> Deadline<R> {
        Deadline {
            inner,
            started: Instant::now(),
            allowed: grace + Duration::from_secs(expected / FLOOR_BYTES_PER_SEC),
            sent: 0,
        }
    }

    fn check(&self) -> io::Result<()> {
        let took = self.started.elapsed();
        if took <= self.allowed {
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
}
