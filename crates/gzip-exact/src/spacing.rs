//! How far apart restart points are, as create takes them and as readers accept them: the
//! encoders that have them (`go`, `zlib`, `gnu`) and `recipe`, which checks a bundle's, share
//! these.

/// How far apart create records restart points: pieces of a few MiB keep every core busy
/// and little in memory.
pub const RESTART_SPACING: u64 = 4 << 20;

/// The most raw bytes between restart points a reader accepts, so that what one piece holds
/// is bounded whatever a bundle says: create takes a point at the first block boundary past
/// `RESTART_SPACING`, and a Go block covers at most 16384 × 258 bytes (4.03 MiB); GNU gzip's
/// cover up to 8.06 MiB, so its points are taken closer (`gnu::MAX_SPACING`).
pub const MAX_RESTART_GAP: u64 = 3 * RESTART_SPACING;

/// The fewest raw bytes between restart points (and before the first) a bundle may list: a
/// point costs a piece's setup, and create never takes them closer than `RESTART_SPACING`
/// (GNU gzip's than `gnu::MAX_SPACING`, 3.88 MiB).
/// (Checked where bundle.json is accepted; the encoders themselves rebuild any spacing.)
pub const MIN_RESTART_GAP: u64 = RESTART_SPACING / 4;

/// Whether every restart point is at least `MIN_RESTART_GAP` after the one before (or the
/// start).
pub fn spaced(raws: impl Iterator<Item = u64>) -> bool {
    let mut last = 0u64;
    raws.into_iter().all(|raw| {
        let ok = raw.checked_sub(last).is_some_and(|g| g >= MIN_RESTART_GAP);
        last = raw;
        ok
    })
}
