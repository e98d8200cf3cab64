//! The one retry policy: every request to a registry goes through `RetryPolicy::run` exactly
//! once (never a retrying call inside another's attempt), with exponential backoff and full
//! jitter, and `Retry-After` when the registry sends it.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt (a challenge learned still gets its second try).
    pub const NEVER: RetryPolicy = RetryPolicy {
        retries: 0,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };

    /// Delay before retry number `attempt` (0-based). Full jitter spreads parallel workers
    /// apart so they do not hammer a recovering registry in lockstep.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(Duration::from_secs(120));
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let ms = exp.as_millis() as u64;
        Duration::from_millis(ms / 2 + fastrand::u64(0..=ms / 2))
    }
}

/// What one attempt came to.
pub enum Step<T, E> {
    /// The final answer, good or bad.
    Done(Result<T, E>),
    /// A transient failure: try again after a delay (the registry's `after` if it sent one),
    /// unless the retries are used up, in which case `last` stands.
    Retry {
        last: Result<T, E>,
        after: Option<Duration>,
    },
    /// Try again at once without counting a failure: the attempt got somewhere (new bytes of a
    /// download, a challenge learned). The caller makes sure this cannot repeat forever.
    Again,
}

impl RetryPolicy {
    /// Run `attempt` until it is done or has failed transiently more than `retries` times.
    pub fn run<T, E>(&self, mut attempt: impl FnMut() -> Step<T, E>) -> Result<T, E> {
        let mut failures = 0u32;
        loop {
            match attempt() {
                Step::Done(r) => return r,
                Step::Again => {}
                Step::Retry { last, after } => {
                    if failures >= self.retries {
                        return last;
                    }
                    std::thread::sleep(self.delay(failures, after));
                    failures += 1;
                }
            }
        }
    }
}

/// `Retry-After` is either seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_to_system(v)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn httpdate_to_system(v: &str) -> Option<std::time::SystemTime> {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"; humantime parses RFC 3339, so rewrite.
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() != 6 {
        return None;
    }
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|m| *m == parts[2])? + 1;
    let s = format!("{}-{:02}-{:0>2}T{}Z", parts[3], m, parts[1], parts[4]);
    humantime::parse_rfc3339(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for a in 0..20 {
            let d = p.delay(a, None);
            assert!(d <= p.cap, "{d:?}");
        }
        assert!(p.delay(3, None) >= Duration::from_millis(1000));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn runs_until_done_or_out_of_retries() {
        let p = RetryPolicy {
            retries: 2,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r: Result<(), u32> = p.run(|| {
            calls += 1;
            Step::Retry {
                last: Err(calls),
                after: None,
            }
        });
        assert_eq!((r, calls), (Err(3), 3));
        let mut calls = 0;
        let r: Result<u32, ()> = p.run(|| {
            calls += 1;
            match calls {
                1..=4 => Step::Again,
                5 => Step::Retry {
                    last: Err(()),
                    after: None,
                },
                _ => Step::Done(Ok(calls)),
            }
        });
        assert_eq!(r, Ok(6));
    }
}
