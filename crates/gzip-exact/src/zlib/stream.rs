//! A raw zlib deflate stream driven through zlib's own API (pigz's blocks and zlib's pieces
//! both run it), and an inflating walker that finds where a stream's blocks end.

use libz_sys as z;
use std::os::raw::{c_int, c_uint, c_void};

extern "C" {
    // In zlib since 1.2.5.1; libz-sys does not declare it.
    fn deflatePending(strm: z::z_streamp, pending: *mut c_uint, bits: *mut c_int) -> c_int;
}

unsafe extern "C" fn zalloc(_: z::voidpf, items: z::uInt, size: z::uInt) -> z::voidpf {
    libc::calloc(items as usize, size as usize) as z::voidpf
}

unsafe extern "C" fn zfree(_: z::voidpf, p: z::voidpf) {
    libc::free(p as *mut c_void)
}

/// A raw zlib deflate stream, set up as pigz sets up each thread's.
pub(crate) struct Stream(Box<z::z_stream>);

// The stream's state is owned by it alone.
unsafe impl Send for Stream {}

impl Stream {
    pub(crate) fn new(level: i32) -> Option<Stream> {
        let mut s = blank();
        // pigz starts each thread's stream at level 6, then sets its level for each block.
        let ok = unsafe {
            z::deflateInit2_(
                s.as_mut(),
                6,
                z::Z_DEFLATED,
                -15,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        } == z::Z_OK;
        let mut s = ok.then_some(Stream(s))?;
        s.reset(level).then_some(s)
    }

    /// Ready for a block: a fresh stream at `level` (pigz's deflateReset, deflateParams).
    pub(crate) fn reset(&mut self, level: i32) -> bool {
        unsafe {
            z::deflateReset(self.0.as_mut()) == z::Z_OK
                && z::deflateParams(self.0.as_mut(), level, z::Z_DEFAULT_STRATEGY) == z::Z_OK
        }
    }

    pub(crate) fn set_dictionary(&mut self, dict: &[u8]) {
        unsafe {
            z::deflateSetDictionary(self.0.as_mut(), dict.as_ptr(), dict.len() as z::uInt);
        }
    }

    /// Bits pending short of a byte.
    pub(crate) fn pending_bits(&mut self) -> c_int {
        let mut bits = 0;
        unsafe { deflatePending(self.0.as_mut(), std::ptr::null_mut(), &mut bits) };
        bits
    }

    /// `bits` bits of `value` ahead of the output, so that it goes on from a stream that
    /// ended `bits` into a byte (zero bits, to be OR-ed with that byte).
    pub(crate) fn prime(&mut self, bits: u32, value: i32) -> bool {
        bits == 0 || unsafe { z::deflatePrime(self.0.as_mut(), bits as c_int, value) == z::Z_OK }
    }

    /// An empty static block: ten bits, 2 (not last, fixed codes, end of block).
    pub(crate) fn prime_empty_static_block(&mut self) -> bool {
        unsafe { z::deflatePrime(self.0.as_mut(), 10, 2) == z::Z_OK }
    }

    /// Runs deflate over all of `input` with `flush`, as pigz does: until it leaves room in
    /// the output.
    pub(crate) fn deflate(&mut self, input: &[u8], flush: c_int, out: &mut Vec<u8>) {
        let s = self.0.as_mut();
        s.next_in = input.as_ptr() as *mut u8;
        s.avail_in = input.len() as c_uint;
        loop {
            out.reserve(input.len() / 2 + 64 * 1024);
            let room = out.capacity() - out.len();
            s.next_out = unsafe { out.as_mut_ptr().add(out.len()) };
            s.avail_out = room as c_uint;
            let ret = unsafe { z::deflate(s, flush) };
            let wrote = room - s.avail_out as usize;
            unsafe { out.set_len(out.len() + wrote) };
            if s.avail_out != 0 || !(ret == z::Z_OK || ret == z::Z_BUF_ERROR) {
                break;
            }
        }
        s.next_in = std::ptr::null_mut();
        s.avail_in = 0;
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        unsafe { z::deflateEnd(self.0.as_mut()) };
    }
}

/// A zeroed stream, with the allocator zlib is given.
fn blank() -> Box<z::z_stream> {
    Box::new(z::z_stream {
        next_in: std::ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: std::ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: std::ptr::null_mut(),
        state: std::ptr::null_mut(),
        zalloc,
        zfree,
        opaque: std::ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    })
}

/// Where a block of a deflate stream ended: the raw bytes before it and the stream's bits
/// before it, both counted from where the walker began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockEnd {
    pub raw: u64,
    pub bit: u64,
}

/// zlib's inflate run over a deflate stream as it is made, stopping at every block boundary
/// (`Z_BLOCK`) to note where it is: the stream's own blocks, which is where zlib's deflate can
/// be taken up again.
pub(crate) struct Walker {
    strm: Box<z::z_stream>,
    /// Bits of the stream's first byte before the walk begins (a piece that starts inside a
    /// byte: zlib is given the rest of that byte on its own), and whether it was given.
    skip: u32,
    started: bool,
    scratch: Vec<u8>,
    ends: Vec<BlockEnd>,
    /// The stream was not deflate, or ended: nothing more is noted.
    done: bool,
}

// The stream's state is owned by it alone.
unsafe impl Send for Walker {}

impl Walker {
    /// A walker over a stream whose first `skip` bits are not its own, that refers back into
    /// `dict` (the raw bytes before it).
    pub(crate) fn new(dict: &[u8], skip: u32) -> Option<Walker> {
        let mut strm = blank();
        let ok = unsafe {
            z::inflateInit2_(
                strm.as_mut(),
                -15,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        } == z::Z_OK;
        let mut w = ok.then_some(Walker {
            strm,
            skip,
            started: false,
            scratch: vec![0; 64 << 10],
            ends: Vec::new(),
            done: false,
        })?;
        let set = dict.is_empty()
            || unsafe {
                z::inflateSetDictionary(w.strm.as_mut(), dict.as_ptr(), dict.len() as z::uInt)
            } == z::Z_OK;
        set.then_some(w)
    }

    /// Walks the stream's next bytes; the blocks that ended in them.
    pub(crate) fn walk(&mut self, mut bytes: &[u8]) -> Vec<BlockEnd> {
        if let (false, Some((&first, rest))) = (self.started, bytes.split_first()) {
            self.started = true;
            if self.skip > 0 {
                let (bits, value) = (8 - self.skip as c_int, i32::from(first >> self.skip));
                let primed = unsafe { z::inflatePrime(self.strm.as_mut(), bits, value) };
                self.done |= primed != z::Z_OK;
                bytes = rest;
            }
        }
        while !self.done {
            let s = self.strm.as_mut();
            s.next_in = bytes.as_ptr() as *mut u8;
            s.avail_in = bytes.len().min(1 << 30) as c_uint;
            s.next_out = self.scratch.as_mut_ptr();
            s.avail_out = self.scratch.len() as c_uint;
            let ret = unsafe { z::inflate(s, z::Z_BLOCK) };
            let took = bytes.len().min(1 << 30) - s.avail_in as usize;
            bytes = &bytes[took..];
            (s.next_in, s.avail_in) = (std::ptr::null_mut(), 0);
            self.done |= !(ret == z::Z_OK || ret == z::Z_BUF_ERROR);
            let full = s.avail_out == 0;
            if ret == z::Z_OK && s.data_type & 128 != 0 {
                self.note();
            }
            if bytes.is_empty() && !full {
                break;
            }
        }
        std::mem::take(&mut self.ends)
    }

    /// The boundary inflate stopped at, unless it is the one noted last.
    fn note(&mut self) {
        let s = self.strm.as_ref();
        let primed = u64::from(self.skip > 0);
        let bits = (s.total_in + primed) * 8 - (s.data_type & 7) as u64;
        let end = BlockEnd {
            raw: s.total_out,
            bit: bits,
        };
        if self.ends.last() != Some(&end) {
            self.ends.push(end);
        }
    }
}

impl Drop for Walker {
    fn drop(&mut self) {
        unsafe { z::inflateEnd(self.strm.as_mut()) };
    }
}
