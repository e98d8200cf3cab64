//! One layer's rebuild split into pieces that run at once, one per core: what lets a single
//! large layer use every core instead of one. The pieces run on a pool of their own, so a
//! caller that waits for them from another pool's thread (load's layers, verify's) cannot
//! starve them; their outputs come back in the order the pieces were given.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::OnceLock;

/// Pieces in flight per layer, at most: enough to keep every core busy while the caller
/// decodes the next piece's input, few enough that a layer holds tens of MiB, not its size.
const MAX_IN_FLIGHT: usize = 8;

/// The pool the pieces of every layer share: one thread per core.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("rebuild-{i}"))
            .build()
            .expect("a thread pool for rebuilding layers")
    })
}

/// ORs the byte the piece before ended in, held back, into the first of `bytes` (what a
/// recorder made next); false, keeping it held, when `bytes` is empty.
pub(crate) fn join_held(held: &mut Option<u8>, bytes: &mut [u8]) -> bool {
    let Some(h) = held.take() else {
        return true;
    };
    match bytes.first_mut() {
        Some(first) => {
            *first |= h;
            true
        }
        None => {
            *held = Some(h);
            false
        }
    }
}

/// The pieces of one stream, in flight, in order.
pub(crate) struct Pieces {
    in_flight: VecDeque<Receiver<Vec<u8>>>,
    max: usize,
    /// Pieces started so far.
    started: u64,
    /// Inputs of finished pieces, for the next pieces: a fresh buffer of a few MiB is mapped
    /// and faulted in page by page each time (a served Go level-6 layer of 870 MB of tar
    /// took 320k page faults).
    spare: (Sender<Vec<u8>>, Receiver<Vec<u8>>),
}

impl Default for Pieces {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Pieces {
            in_flight: VecDeque::new(),
            max: (cores + 1).min(MAX_IN_FLIGHT),
            started: 0,
            spare: mpsc::channel(),
        }
    }
}

impl Pieces {
    /// An empty buffer for a piece's input with room for `capacity` bytes: one a finished
    /// piece gave back, if there is one.
    pub(crate) fn buffer(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.spare.1.try_recv().unwrap_or_default();
        buf.clear();
        buf.reserve_exact(capacity);
        buf
    }

    /// Starts `job` on `input` (after waiting for the oldest piece if `max` are in flight);
    /// gives the outputs of the finished pieces that lead the queue, in order.
    pub(crate) fn submit(
        &mut self,
        input: Vec<u8>,
        job: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.in_flight.len() >= self.max {
            self.wait_one(&mut out);
        }
        self.started += 1;
        let (tx, rx) = mpsc::sync_channel(1);
        let spare = self.spare.0.clone();
        pool().spawn(move || {
            // A panic in an encoder must not take the process down: its piece comes back empty,
            // the stream is short, and the digest check refuses it like any wrong rebuild.
            let bytes =
                crate::cpu::counted_in_pieces(|| catch_unwind(AssertUnwindSafe(|| job(&input))))
                    .unwrap_or_default();
            let _ = spare.send(input);
            let _ = tx.send(bytes);
        });
        self.in_flight.push_back(rx);
        out.extend(self.ready());
        out
    }

    /// How many pieces were started so far.
    pub(crate) fn started(&self) -> u64 {
        self.started
    }

    /// The outputs of the finished pieces at the head of the queue, without waiting.
    pub(crate) fn ready(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(head) = self.in_flight.front() {
            match head.try_recv() {
                Ok(bytes) => out.push(bytes),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => out.push(Vec::new()),
            }
            self.in_flight.pop_front();
        }
        out
    }

    /// Waits for every piece; their outputs.
    pub(crate) fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !self.in_flight.is_empty() {
            self.wait_one(&mut out);
        }
        out
    }

    fn wait_one(&mut self, out: &mut Vec<Vec<u8>>) {
        if let Some(head) = self.in_flight.pop_front() {
            out.push(head.recv().unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_come_back_in_order_and_a_panicking_piece_comes_back_empty() {
        let mut p = Pieces::default();
        let mut out: Vec<Vec<u8>> = Vec::new();
        for i in 0..20u8 {
            out.extend(p.submit(vec![i; 1000], move |input| {
                assert_eq!(input, &[i; 1000][..], "each piece gets its own input");
                // Later pieces finish first, so order is the queue's doing.
                std::thread::sleep(std::time::Duration::from_millis(u64::from(20 - i)));
                assert!(i != 7, "piece 7 fails");
                vec![i; 2]
            }));
        }
        out.extend(p.drain());
        let want: Vec<Vec<u8>> = (0..20u8)
            .map(|i| if i == 7 { vec![] } else { vec![i; 2] })
            .collect();
        assert_eq!(out, want);
        // The inputs came back, the panicking piece's too, and are handed out empty.
        let mut given_back = 0;
        while p.spare.1.try_recv().is_ok_and(|b| b.capacity() >= 1000) {
            given_back += 1;
        }
        assert_eq!(given_back, 20);
        p.spare.0.send(vec![9; 1000]).unwrap();
        let buf = p.buffer(10);
        assert!(
            buf.is_empty() && buf.capacity() >= 1000,
            "a spare is reused, emptied"
        );
    }
}
