//! Lines for people on stderr: notes, warnings, progress in log mode. A write that fails (stderr
//! a closed pipe, `bundle serve 2>&1 | head -1` once head has gone) is dropped: losing a message
//! must never stop a command, or keep a server from stopping.

use std::fmt::Display;
use std::io::Write;

pub fn line(msg: impl Display) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        terminal_safe(&msg.to_string())
    );
}

/// `chars` with those `escaped` says shown as escapes (`\u{1b}`, `\n`).
fn escape(chars: impl Iterator<Item = char>, escaped: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    for c in chars {
        match escaped(c) {
            true => out.extend(c.escape_default()),
            false => out.push(c),
        }
    }
    out
}

/// Everything printed for people passes through here: control characters other than line
/// breaks and tabs are shown escaped, so no text from a registry or a bundle that slipped past
/// `printable` can move the cursor, clear the screen or rewrite a line.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    escape(text.chars(), unsafe_char).into()
}

/// Text from the network or a file, safe to print: control characters (escape sequences, forged
/// line breaks) are shown escaped, and it is cut at 200 characters.
pub fn printable(text: &str) -> String {
    let mut out = escape(text.chars().take(200), char::is_control);
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("a\x1b[31mb\nc"), "a\\u{1b}[31mb\\nc");
        assert_eq!(super::printable(&"x".repeat(300)).chars().count(), 201);
        assert_eq!(
            super::terminal_safe("a\x1b[2J\rb\nc\td"),
            "a\\u{1b}[2J\\rb\nc\td"
        );
    }
}
