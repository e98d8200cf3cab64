//! zlib's own deflate (1.2.x–1.3.x, built from libz-sys's bundled source) as gzip writers run
//! it: a 32 KiB window, memLevel 8, the default strategy, raw deflate (the gzip member is
//! framed around it).
//!
//! At its lazy levels (4–9, `deflate_slow`) zlib hashes every position, so at a block boundary
//! its search state is a function of the 32 KiB before it, as a stream primed with those bytes
//! (`deflateSetDictionary`) has it; what else it carries there (a literal pending lazy
//! matching, with the match found after it) is the primed stream's state too whenever the
//! next block comes out the same (`recorder`). So a stream is made again in pieces, restart
//! point to restart point, on every core (`piece`).

mod deflate;
mod recorder;
pub(crate) mod stream;

pub use deflate::*;
pub use recorder::Recorder;
