//! An error and its causes as one line of text. Used wherever an error is shown to people: the
//! top-level report and the registry client (reqwest's Display shows only the outermost error,
//! while the cause, "connection refused" or a TLS failure, is what helps).

use std::error::Error;

/// `outer: cause: root`, leaving out a cause whose text the line already holds (our messages
/// often carry their cause's text already: `cannot read key K: No such file...`).
pub fn flatten<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut out = String::new();
    for cause in chain {
        let text = without_os_codes(&cause.to_string());
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// `text` without the ` (os error 2)` that std's I/O errors append: the words before it say
/// what happened, and the number means nothing to an operator.
pub fn without_os_codes(text: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            out.push_str(&rest[..at]);
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..at + MARK.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The chain of a plain error value, from itself to its root cause.
pub fn of(e: &(dyn Error + 'static)) -> String {
    flatten(std::iter::successors(
        Some(e),
        |e: &&(dyn Error + 'static)| (*e).source(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeats_are_left_out() {
        let e = anyhow::anyhow!("root cause")
            .context("reading x: root cause")
            .context("loading");
        assert_eq!(super::flatten(e.chain()), "loading: reading x: root cause");
        let io = std::io::Error::other("disk full");
        assert_eq!(super::of(&io), "disk full");
        let os = std::io::Error::from_raw_os_error(2);
        assert_eq!(super::of(&os), "No such file or directory");
        assert_eq!(
            super::without_os_codes("a: x (os error 28); b (os error z)"),
            "a: x; b (os error z)"
        );
    }
}
