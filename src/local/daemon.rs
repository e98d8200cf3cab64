//! `docker-daemon:REF`: an image of the Docker Engine, read through its API socket
//! (`DOCKER_HOST=unix://…`, else /var/run/docker.sock) as `docker save` reads it:
//! `GET /images/{name}/get` streams a docker archive, kept in a scratch file for `archive`.
//!
//! One blocking HTTP/1.0 request, not a client library: an HTTP/1.0 answer is the body
//! as it is until the engine closes the connection (no chunking, no keep-alive), and a
//! truncated one fails `archive`'s checks of every layer against the config's diff_ids.

use super::image::LocalError;
use crate::fsutil::ScratchDir;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The engine may take a while before the first byte (it assembles the archive as it goes).
const READ_TIMEOUT: Duration = Duration::from_secs(600);
const MAX_HEAD: u64 = 64 << 10;

/// The engine's socket: DOCKER_HOST's `unix://` path, else Docker's default.
pub fn socket() -> Result<PathBuf, String> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
            Some(p) => Ok(PathBuf::from(p)),
            None => Err(format!(
                "DOCKER_HOST={h}: docker-daemon: reads the engine through a unix socket only; set DOCKER_HOST=unix:///PATH or unset it"
            )),
        },
        _ => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// The image as a docker archive under `scratch`.
pub fn export(reference: &str, scratch: &ScratchDir) -> Result<PathBuf, LocalError> {
    let said = LocalError::Said;
    let path = socket().map_err(said)?;
    let mut conn = UnixStream::connect(&path).map_err(|e| {
        said(format!(
            "cannot reach the Docker Engine at {} ({e}); is it running, and may you use its socket? (DOCKER_HOST=unix:///PATH names another)",
            path.display()
        ))
    })?;
    conn.set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| said(e.to_string()))?;
    let request = format!(
        "GET /images/{}/get HTTP/1.0\r\nHost: docker\r\n\r\n",
        escape(reference)
    );
    conn.write_all(request.as_bytes())
        .map_err(|e| said(format!("asking the engine: {e}")))?;
    let mut body = BufReader::new(conn);
    let status = head(&mut body).map_err(|e| said(format!("the engine's answer: {e}")))?;
    if status != 200 {
        let mut text = String::new();
        let _ = body.take(4096).read_to_string(&mut text);
        return Err(said(format!(
            "the engine answered {status}: {}",
            crate::console::printable(&engine_message(&text))
        )));
    }
    let out = scratch.path().join("image.tar");
    let mut file = crate::fsutil::PartialFile::create(&out).map_err(|e| said(e.to_string()))?;
    std::io::copy(&mut body, &mut file).map_err(|e| said(format!("receiving the image: {e}")))?;
    file.commit(false).map_err(|e| said(e.to_string()))?;
    Ok(out)
}

/// Reads the status line and headers; returns the status code.
fn head(r: &mut impl BufRead) -> Result<u16, String> {
    let mut lines = Vec::new();
    let mut limited = r.take(MAX_HEAD);
    loop {
        let mut line = String::new();
        let n = limited.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("it ended before its headers did".into());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        lines.push(line);
    }
    let status = lines.first().map(String::as_str).unwrap_or("");
    let mut words = status.split_whitespace();
    match (words.next(), words.next().and_then(|c| c.parse().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("not HTTP: {:?}", status.trim())),
    }
}

/// `{"message": "..."}`, as the engine words its errors; else the text itself.
fn engine_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct M {
        message: String,
    }
    serde_json::from_str::<M>(body).map_or_else(|_| body.trim().to_string(), |m| m.message)
}

/// A reference in the request path: what could end the path or the line is percent-encoded.
fn escape(reference: &str) -> String {
    reference
        .bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b"/:@._-".contains(&b) {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answers_head_and_errors_are_read() {
        let mut r = &b"HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"message\":\"No such image: x:1\"}"[..];
        assert_eq!(head(&mut r), Ok(404));
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(engine_message(&rest), "No such image: x:1");
        assert!(head(&mut &b"SSH-2.0\r\n\r\n"[..]).is_err());
        assert!(head(&mut &b"HTTP/1.0 200 OK\r\n"[..]).is_err());
        assert_eq!(escape("a/b:1 x\r\n"), "a/b:1%20x%0D%0A");
    }
}
