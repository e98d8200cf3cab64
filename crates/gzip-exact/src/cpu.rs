//! CPU time, per thread: what bounds preflate's work, and what the rebuild pool spent, for a
//! caller that reports CPU per stage (its pieces run on threads the caller cannot see).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The CPU time the calling thread has used; `Duration::MAX` if the clock cannot be read, so
/// a bound on it trips rather than never does (a difference of two such readings is zero).
pub fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; CLOCK_THREAD_CPUTIME_ID
    // exists on every Linux this builds for.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    match ok {
        true => Duration::new(t.tv_sec as u64, t.tv_nsec as u32),
        false => Duration::MAX,
    }
}

/// Nanoseconds of CPU the pieces of every rebuild have used so far.
static IN_PIECES: AtomicU64 = AtomicU64::new(0);

/// The CPU time the pieces of every rebuild have used in this process so far (the work done
/// on the rebuild pool, not on the threads that read or write the rebuilt stream).
pub fn in_pieces() -> Duration {
    Duration::from_nanos(IN_PIECES.load(Ordering::Relaxed))
}

/// `f`, its CPU time counted in `in_pieces`.
pub(crate) fn counted_in_pieces<T>(f: impl FnOnce() -> T) -> T {
    let started = thread_cpu_time();
    let out = f();
    let spent = thread_cpu_time().saturating_sub(started);
    IN_PIECES.fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
    out
}
