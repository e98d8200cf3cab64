//! Lines for people on stderr: notes, warnings, progress in log mode. A write that fails (stderr
//! a closed pipe, `bundle serve 2>&1 | head -1` once head has gone) is dropped: losing a message
//! must never stop a command, or keep a server from stopping.

use std::fmt::Display;
use std::io::Write;

pub fn line(msg: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}
