//! The one interface every encoder here has.

/// A deflate or gzip encoder fed its input a piece at a time. Its output is the same however
/// the input is cut into pieces.
pub trait Encoder: Send {
    /// Compresses `raw`, appending to `out` whatever output is complete so far.
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>);
    /// Ends the stream, appending the rest of the output to `out`.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// How many pieces of the stream it has handed out so far to be made on every core (none
    /// for an encoder that makes all of it on the caller's thread).
    fn pieces(&self) -> u64 {
        0
    }
}
