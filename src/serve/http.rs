//! The read-only OCI distribution API over a `Catalog`: `/v2/`, manifests by tag and digest,
//! blobs (with `Range`), tag lists and the catalog. Anything that would write is refused with the
//! spec's `UNSUPPORTED` error.

use super::catalog::Catalog;
use super::conns::{Client, Conn, StreamPermit};
use super::rebuilds::{Lease, RebuildError, Rebuilds, Source};
use crate::digest::{Digest, HashingReader};
use bytes::Bytes;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a request gets, before it becomes HTTP.
#[derive(Debug)]
pub enum Reply {
    Json {
        status: u16,
        body: String,
        link: Option<String>,
    },
    Manifest {
        bytes: Vec<u8>,
        media_type: String,
        digest: Digest,
    },
    Blob {
        digest: Digest,
        size: u64,
        /// Inclusive byte range, for `206 Partial Content`.
        range: Option<(u64, u64)>,
    },
    RangeNotSatisfiable {
        size: u64,
    },
    /// The referrers API's index, and whether an `artifactType` filter was applied.
    Referrers {
        body: Vec<u8>,
        filtered: bool,
    },
    Error {
        status: u16,
        code: &'static str,
        message: String,
    },
}

fn error(status: u16, code: &'static str, message: impl Into<String>) -> Reply {
    Reply::Error {
        status,
        code,
        message: message.into(),
    }
}

/// Route one request; HEAD routes as GET (the caller leaves the body out).
pub fn route(c: &Catalog, method: &str, url: &str, range: Option<&str>) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if method != "GET" && method != "HEAD" {
        return error(
            405,
            "UNSUPPORTED",
            "this registry is a read-only view of a bundle: push to a real registry with `bundle load --to registry://...`",
        );
    }
    let Some(rest) = path.strip_prefix("/v2") else {
        return error(404, "UNSUPPORTED", "only the /v2/ API is served");
    };
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return json(serde_json::json!({}).to_string(), None);
    }
    if rest == "_catalog" {
        let names: Vec<&String> = c.repositories.keys().collect();
        let (page, link) = paginate(&names, query, "/v2/_catalog");
        return json(
            serde_json::json!({ "repositories": page }).to_string(),
            link,
        );
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return tags(c, name, query);
    }
    if let Some((name, digest)) = rest.rsplit_once("/referrers/") {
        return referrers(c, name, digest, query);
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return manifest(c, name, reference);
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        return blob(c, name, digest, range);
    }
    error(404, "UNSUPPORTED", format!("no such endpoint: {path}"))
}

fn json(body: String, link: Option<String>) -> Reply {
    Reply::Json {
        status: 200,
        body,
        link,
    }
}

fn tags(c: &Catalog, name: &str, query: &str) -> Reply {
    let Some(repo) = c.repositories.get(name) else {
        return name_unknown(name);
    };
    let tags: Vec<&String> = repo.tags.keys().collect();
    let (page, link) = paginate(&tags, query, &format!("/v2/{name}/tags/list"));
    json(
        serde_json::json!({ "name": name, "tags": page }).to_string(),
        link,
    )
}

/// A digest in a request path, or the spec's `DIGEST_INVALID` answer.
fn path_digest(digest: &str) -> Result<Digest, Reply> {
    digest.parse::<Digest>().map_err(|_| {
        error(
            400,
            "DIGEST_INVALID",
            format!("{digest} is not a sha256 digest"),
        )
    })
}

/// The referrers API: an index of what refers to `digest` (empty when nothing does), filtered
/// by `artifactType` if the query asks, saying so in `OCI-Filters-Applied`.
fn referrers(c: &Catalog, name: &str, digest: &str, query: &str) -> Reply {
    let Some(repo) = c.repositories.get(name) else {
        return name_unknown(name);
    };
    let digest = match path_digest(digest) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    // A `+` is kept as itself: media types have no spaces (`application/spdx+json`), and
    // clients that do not escape it mean the plus.
    let query = query.replace('+', "%2B");
    let wanted: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.into_owned())
        .collect();
    let list: Vec<serde_json::Value> = repo
        .referrers
        .get(&digest)
        .into_iter()
        .flatten()
        .filter(|d| {
            wanted.is_empty()
                || wanted
                    .iter()
                    .any(|w| d["artifactType"].as_str() == Some(w.as_str()))
        })
        .cloned()
        .collect();
    Reply::Referrers {
        body: crate::manifest::referrers_index(list),
        filtered: !wanted.is_empty(),
    }
}

/// By tag, or by a digest the repository's images use.
fn manifest(c: &Catalog, name: &str, reference: &str) -> Reply {
    let Some(repo) = c.repositories.get(name) else {
        return name_unknown(name);
    };
    let digest = match reference.parse::<Digest>() {
        Ok(d) if repo.digests.contains(&d) => Some(d),
        Ok(_) => None,
        Err(_) => repo.tags.get(reference).cloned(),
    };
    match digest.and_then(|d| c.manifests.get(&d).map(|m| (d, m))) {
        Some((digest, (bytes, media_type))) => Reply::Manifest {
            bytes: bytes.clone(),
            media_type: media_type.clone(),
            digest,
        },
        None => error(
            404,
            "MANIFEST_UNKNOWN",
            format!("{name}:{reference} is not in the bundle"),
        ),
    }
}

/// A blob (or a manifest fetched as a blob) that the repository's images use, whole or a range.
fn blob(c: &Catalog, name: &str, digest: &str, range: Option<&str>) -> Reply {
    let Some(repo) = c.repositories.get(name) else {
        return name_unknown(name);
    };
    let digest = match path_digest(digest) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let size = match (c.blobs.get(&digest), c.manifests.get(&digest)) {
        _ if !repo.digests.contains(&digest) => None,
        (Some(b), _) => Some(b.record.size),
        (None, Some((bytes, _))) => Some(bytes.len() as u64),
        (None, None) => None,
    };
    let Some(size) = size else {
        return error(
            404,
            "BLOB_UNKNOWN",
            format!("{digest} is not a blob of {name} in the bundle"),
        );
    };
    match range.map_or(Ranged::Whole, |r| ranged(r, size)) {
        Ranged::Whole => Reply::Blob {
            digest,
            size,
            range: None,
        },
        Ranged::Part(a, b) => Reply::Blob {
            digest,
            size,
            range: Some((a, b)),
        },
        Ranged::Unsatisfiable => Reply::RangeNotSatisfiable { size },
    }
}

fn name_unknown(name: &str) -> Reply {
    error(
        404,
        "NAME_UNKNOWN",
        format!("repository {name} is not in the bundle"),
    )
}

/// `?n=N&last=X` pagination of a sorted list, with the spec's `Link` header for the next page.
fn paginate<'a>(all: &[&'a String], query: &str, base: &str) -> (Vec<&'a String>, Option<String>) {
    let mut n = None;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "n" => n = v.parse::<usize>().ok(),
            "last" => last = Some(v.into_owned()),
            _ => {}
        }
    }
    let start = last.map_or(0, |l| all.partition_point(|x| x.as_str() <= l.as_str()));
    let rest = &all[start.min(all.len())..];
    match n {
        Some(n) if n < rest.len() => {
            let page = rest[..n].to_vec();
            let link = page.last().map(|l| {
                let q: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("n", &n.to_string())
                    .append_pair("last", l)
                    .finish();
                format!("<{base}?{q}>; rel=\"next\"")
            });
            (page, link)
        }
        _ => (rest.to_vec(), None),
    }
}

/// What a `Range` header asks of a blob.
#[derive(Debug, PartialEq)]
enum Ranged {
    Whole,
    /// Inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` against a blob of `size` bytes. A header we do not take
/// (another unit, several ranges, bad syntax) is ignored and the whole blob sent, as RFC 9110
/// allows and clients expect; 416 is only for a well-formed range wholly past the end.
fn ranged(header: &str, size: u64) -> Ranged {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    let Some((a, b)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Ranged::Whole;
    };
    let number = |t: &str| t.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => match number(n) {
            Some(n) if n > 0 && size > 0 => (size - n.min(size), size - 1),
            Some(_) => return Ranged::Unsatisfiable,
            None => return Ranged::Whole,
        },
        (a, "") => match number(a) {
            Some(a) => (a, size.saturating_sub(1)),
            None => return Ranged::Whole,
        },
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) if a <= b => (a, b.min(size.saturating_sub(1))),
            _ => return Ranged::Whole,
        },
    };
    match start < size {
        true => Ranged::Part(start, end),
        false => Ranged::Unsatisfiable,
    }
}

/// A blob read for a client, checked against its digest as it goes. The read that would hand over
/// the blob's last bytes first reads to the end and compares digests, and on a mismatch returns
/// an error instead: a client never receives a complete blob whose bytes are not what its digest
/// says. Nothing is held back but that last read, so a stream costs no buffer of its own. When
/// it has to cut a response off, it says so on stderr, naming the blob and the client.
struct VerifyingReader<R> {
    inner: HashingReader<R>,
    expected: Digest,
    size: u64,
    seen: u64,
    client: String,
    ended: bool,
}

impl<R: Read> VerifyingReader<R> {
    fn new(inner: R, expected: Digest, size: u64, client: &str) -> Self {
        VerifyingReader {
            inner: HashingReader::new(inner),
            expected,
            size,
            seen: 0,
            client: client.to_string(),
            ended: false,
        }
    }

    fn cut_off(&self, why: String) -> io::Error {
        crate::console::line(format!(
            "serve: blob {} {why}; the response to {} was cut off (or answered 500, for a blob of one chunk)",
            self.expected, self.client
        ));
        io::Error::other(format!("blob {} {why}", self.expected))
    }

    fn changed(&self, what: String) -> io::Error {
        self.cut_off(format!(
            "{what}: the bundle file was changed after it was verified"
        ))
    }

    /// At the end: nothing more to read, and the digest is the one expected.
    fn check_end(&mut self) -> io::Result<()> {
        let mut probe = [0u8; 1];
        match self.inner.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(self.changed("is longer than recorded".into())),
            Err(e) => return Err(self.changed(format!("could not be read ({e})"))),
        }
        let found = self.inner.digest();
        if found != self.expected {
            return Err(self.changed(format!("reads as {found}")));
        }
        self.ended = true;
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let n = match self.inner.read(out) {
            Ok(n) => n,
            Err(e) => return Err(self.changed(format!("could not be read ({e})"))),
        };
        self.seen += n as u64;
        if n == 0 && self.seen < self.size {
            return Err(self.changed("is shorter than recorded".into()));
        }
        if self.seen >= self.size {
            self.check_end()?;
        }
        Ok(n)
    }
}

/// The body of a blob reply: a verified stream, or the bytes of a range.
pub fn blob_body(
    c: &Catalog,
    digest: &Digest,
    range: Option<(u64, u64)>,
    client: &str,
) -> io::Result<Box<dyn Read + Send>> {
    let (reader, size): (Box<dyn Read + Send>, u64) = match c.blobs.get(digest) {
        // GETs of a blob carried as a tar go to its shared rebuild (`rebuilds`), not here.
        Some(loc) => (
            loc.record.decoder(
                c.bundles[loc.bundle]
                    .open_member(&loc.member)
                    .map_err(io::Error::other)?,
                c.references.as_deref(),
            )?,
            loc.record.size,
        ),
        None => {
            let bytes = c
                .manifests
                .get(digest)
                .map(|(b, _)| b.clone())
                .unwrap_or_default();
            let size = bytes.len() as u64;
            (Box::new(io::Cursor::new(bytes)), size)
        }
    };
    Ok(match range {
        None => Box::new(VerifyingReader::new(reader, digest.clone(), size, client)),
        Some((start, end)) => {
            let mut reader = reader;
            io::copy(&mut (&mut reader).take(start), &mut io::sink())?;
            Box::new(reader.take(end - start + 1))
        }
    })
}

type Reader = Box<dyn Read + Send>;

/// A blob's reader and the stream turn it holds.
struct Open {
    reader: Reader,
    _turn: StreamPermit,
}

/// Where a streamed body is: between reads, in a read, or finished.
enum Step {
    Ready(Open),
    Reading(tokio::task::JoinHandle<(Option<Open>, io::Result<Vec<u8>>)>),
    /// The next chunk of a rebuilt blob's spool (waiting for the rebuild if it must).
    Spooled(Fetch),
    Done,
}

type Fetch = Pin<Box<dyn Future<Output = (Cursor, io::Result<Vec<u8>>)> + Send>>;

/// A client's place in a rebuilt blob's spool: `pos` up to `end` (exclusive).
struct Cursor {
    lease: Lease,
    pos: u64,
    end: u64,
    conn: Arc<Conn>,
    /// Held while a blob of more than one chunk is sent, as any stream's turn.
    turn: Option<StreamPermit>,
}

impl Cursor {
    /// The next chunk (empty at the end), once the rebuild has made it; the client waits on
    /// the server meanwhile, so it is not taken for idle or stalled.
    async fn next(mut self) -> (Cursor, io::Result<Vec<u8>>) {
        if self.pos >= self.end {
            return (self, Ok(Vec::new()));
        }
        let ready = {
            let _waiting = self.conn.waiting();
            self.lease.readable_past(self.pos).await
        };
        let ready = match ready {
            Ok(r) => r.min(self.end),
            Err(e) => return (self, Err(io::Error::other(e))),
        };
        let n = (ready - self.pos).min(CHUNK as u64) as usize;
        let (spool, pos) = (self.lease.spool(), self.pos);
        let read = tokio::task::spawn_blocking(move || spool.read_at(pos, n))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        if let Ok(b) = &read {
            self.pos += b.len() as u64;
        }
        (self, read)
    }
}

/// Bytes per read of a streamed blob, and the largest blob sent in one piece.
const CHUNK: usize = 256 * 1024;

/// A response body with its exact length (so hyper sends Content-Length, as the spec asks for
/// blobs and manifests). A blob is read on tokio's blocking pool one chunk at a time, only when
/// hyper asks for more: a client that stops reading holds no thread, only its open reader, and
/// open readers are bounded by stream turns (`Conns::stream`).
pub struct Body {
    len: u64,
    now: Option<Bytes>,
    step: Step,
}

impl Body {
    fn full(bytes: Vec<u8>) -> Body {
        Body {
            len: bytes.len() as u64,
            now: Some(Bytes::from(bytes)),
            step: Step::Done,
        }
    }

    fn empty(len: u64) -> Body {
        Body {
            len,
            now: None,
            step: Step::Done,
        }
    }

    /// A blob of more than one chunk (smaller ones are read whole before the headers, by
    /// `read_small`): its first chunk, read before the headers went out, then the rest from
    /// `open`, one chunk at a time as the client takes it.
    fn opened(len: u64, first: Vec<u8>, open: Open) -> Body {
        Body {
            len,
            now: Some(Bytes::from(first)),
            step: Step::Ready(open),
        }
    }
}

impl Body {
    /// A rebuilt blob, or a range of it, from its spool. A blob of one chunk or less never
    /// waits for a stream turn; a larger one does, as any other stream.
    fn spooled(lease: Lease, range: Option<(u64, u64)>, client: &Client) -> Body {
        let (start, end) = range.map_or((0, lease.size()), |(a, b)| (a, b + 1));
        let cursor = Cursor {
            lease,
            pos: start,
            end,
            conn: client.conn.clone(),
            turn: None,
        };
        let len = end - start;
        let first: Fetch = if len <= CHUNK as u64 {
            Box::pin(cursor.next())
        } else {
            let turn = client.stream();
            Box::pin(async move {
                let mut cursor = cursor;
                let waiting = cursor.conn.waiting();
                cursor.turn = Some(turn.await);
                drop(waiting);
                cursor.next().await
            })
        };
        Body {
            len,
            now: None,
            step: Step::Spooled(first),
        }
    }
}

fn read_chunk(open: Open) -> (Option<Open>, io::Result<Vec<u8>>) {
    // A whole chunk per trip to the blocking pool, not whatever one read gives (a rebuilt
    // layer gives tens of KiB a read): each trip wakes two threads, which on a VM cost
    // a tenth of a served layer's CPU time.
    let mut buf = Vec::with_capacity(CHUNK);
    let mut open = open;
    let read = (&mut open.reader)
        .take(CHUNK as u64)
        .read_to_end(&mut buf)
        .map(|_| buf);
    (Some(open), read)
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        if let Some(b) = self.now.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(b))));
        }
        loop {
            match std::mem::replace(&mut self.step, Step::Done) {
                Step::Done => return Poll::Ready(None),
                Step::Ready(open) => {
                    self.step = Step::Reading(tokio::task::spawn_blocking(|| read_chunk(open)))
                }
                Step::Spooled(mut f) => match f.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.step = Step::Spooled(f);
                        return Poll::Pending;
                    }
                    // The connection is aborted: the client sees a cut response, never an end.
                    Poll::Ready((_, Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready((_, Ok(bytes))) if bytes.is_empty() => return Poll::Ready(None),
                    Poll::Ready((cursor, Ok(bytes))) => {
                        self.step = Step::Spooled(Box::pin(cursor.next()));
                        return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(bytes)))));
                    }
                },
                Step::Reading(mut h) => match Pin::new(&mut h).poll(cx) {
                    Poll::Pending => {
                        self.step = Step::Reading(h);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(io::Error::other(e)))),
                    Poll::Ready(Ok((_, Err(e)))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok((_, Ok(bytes)))) if bytes.is_empty() => {
                        return Poll::Ready(None)
                    }
                    Poll::Ready(Ok((open, Ok(bytes)))) => {
                        if let Some(open) = open {
                            self.step = Step::Ready(open);
                        }
                        return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(bytes)))));
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.now.is_none() && matches!(self.step, Step::Done)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

/// Whether GETs of `digest` are served from a shared rebuild.
fn is_rebuilt(c: &Catalog, digest: &Digest) -> bool {
    c.blobs
        .get(digest)
        .is_some_and(|l| l.record.rebuild.is_some())
}

/// What a rebuild of `digest` reads: its member, decoded (against its reference, for a delta).
fn source_of(c: &Arc<Catalog>, digest: &Digest) -> Source {
    let (c, digest) = (c.clone(), digest.clone());
    Box::new(move || {
        let loc = c
            .blobs
            .get(&digest)
            .ok_or_else(|| io::Error::other("not in the catalog"))?;
        let member = c.bundles[loc.bundle]
            .open_member(&loc.member)
            .map_err(io::Error::other)?;
        loc.record.decoder(member, c.references.as_deref())
    })
}

/// A claim on the shared rebuild of `digest`, once a whole blob's first bytes (or all of a
/// range's blob, checked) are there.
async fn open_rebuilt(
    c: &Arc<Catalog>,
    rebuilds: &Arc<Rebuilds>,
    digest: &Digest,
    size: u64,
    range: Option<(u64, u64)>,
    client: &Client,
) -> Result<Lease, RebuildError> {
    let lease = rebuilds.lease(digest, size, source_of(c, digest))?;
    let _waiting = client.conn.waiting();
    match range {
        None => lease.begun().await?,
        Some(_) => lease.done().await?,
    }
    Ok(lease)
}

/// A blob (or range) of one chunk or less, read whole before the headers go out, so a blob
/// that cannot be read is a 500 rather than a 200 cut short; it never waits for a stream turn.
async fn read_small(
    c: &Arc<Catalog>,
    digest: &Digest,
    range: Option<(u64, u64)>,
    len: u64,
    peer: &str,
) -> io::Result<Vec<u8>> {
    let (c, digest, peer) = (c.clone(), digest.clone(), peer.to_string());
    tokio::task::spawn_blocking(move || {
        let mut all = Vec::with_capacity(len as usize);
        // One byte more than asked: a whole blob's reader checks its digest at its end.
        blob_body(&c, &digest, range, &peer)?
            .take(len + 1)
            .read_to_end(&mut all)?;
        match all.len() as u64 == len {
            true => Ok(all),
            false => Err(io::Error::other(format!(
                "blob {digest} gave {} bytes, not {len}",
                all.len()
            ))),
        }
    })
    .await
    .map_err(io::Error::other)?
}

/// A blob (or range) of more than one chunk, opened and its first chunk read before the
/// headers go out, so a blob that cannot be read from the bundle is a 500 rather than a 200 cut
/// short (a byte changed further on still cuts the response off: it is only seen there). Its
/// stream turn is taken first; the client waits on the server meanwhile.
async fn open_large(
    c: &Arc<Catalog>,
    digest: &Digest,
    range: Option<(u64, u64)>,
    client: &Client,
) -> io::Result<(Open, Vec<u8>)> {
    let turn = {
        let _waiting = client.conn.waiting();
        client.stream().await
    };
    let (c, digest, peer) = (c.clone(), digest.clone(), client.conn.peer.clone());
    tokio::task::spawn_blocking(move || {
        let reader = blob_body(&c, &digest, range, &peer)?;
        let (open, first) = read_chunk(Open {
            reader,
            _turn: turn,
        });
        let first = first?;
        match (open, first.len()) {
            (Some(open), CHUNK) => Ok((open, first)),
            _ => Err(io::Error::other(format!(
                "blob {digest} gave {} bytes, fewer than one chunk",
                first.len()
            ))),
        }
    })
    .await
    .map_err(io::Error::other)?
}

/// Where a blob reply's body comes from.
enum BodyFrom {
    /// None: HEAD.
    Nothing,
    /// All of it, read and checked before the headers.
    Bytes(Vec<u8>),
    /// The blob's shared rebuild.
    Spool(Lease),
    /// The blob's frame in the bundle, opened, and the first chunk read from it.
    Opened(Open, Vec<u8>),
}

/// The headers, status and body of a blob (or of a range of it).
fn blob_reply(
    r: hyper::http::response::Builder,
    digest: Digest,
    size: u64,
    range: Option<(u64, u64)>,
    from: BodyFrom,
    client: &Client,
) -> (hyper::http::response::Builder, u16, Body) {
    let mut r = r
        .header("Content-Type", "application/octet-stream")
        .header("Docker-Content-Digest", digest.to_string())
        .header("Accept-Ranges", "bytes");
    let len = range.map_or(size, |(a, b)| b - a + 1);
    if let Some((a, b)) = range {
        r = r.header("Content-Range", format!("bytes {a}-{b}/{size}"));
    }
    let status = if range.is_some() { 206 } else { 200 };
    let body = match from {
        BodyFrom::Nothing => {
            r = r.header("Content-Length", len);
            Body::empty(len)
        }
        BodyFrom::Spool(lease) => Body::spooled(lease, range, client),
        BodyFrom::Bytes(bytes) => Body::full(bytes),
        BodyFrom::Opened(open, first) => Body::opened(len, first, open),
    };
    (r, status, body)
}

/// Answer one request. A GET of a rebuilt blob waits for its shared rebuild to begin (or, for a
/// range, to be done and checked) before the headers go out, so a blob that cannot be made is
/// a 500, never a 200 cut short.
pub async fn respond(
    c: Arc<Catalog>,
    rebuilds: Arc<Rebuilds>,
    req: hyper::Request<hyper::body::Incoming>,
    client: Arc<Client>,
    verbose: bool,
) -> hyper::Response<Body> {
    let method = req.method().as_str().to_ascii_uppercase();
    let head = method == "HEAD";
    let url = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let range = req
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    drop(req);
    let reply = route(&c, &method, &url, range.as_deref());
    let (reply, from) = match (&reply, head) {
        (Reply::Blob { .. }, false) => blob_source(&c, &rebuilds, reply, &client).await,
        _ => (reply, BodyFrom::Nothing),
    };
    let (r, status, body) = response(reply, from, &client);
    if verbose {
        crate::console::line(format!("{} {method} {url} {status}", client.conn.peer));
    }
    r.status(status)
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(Body::empty(0)))
}

/// Where a blob GET's bytes come from, got before the headers go out: a shared rebuild's
/// spool, the bytes of a small blob, or a large one opened and its first chunk read. A blob
/// that cannot be had turns the reply into a 500.
async fn blob_source(
    c: &Arc<Catalog>,
    rebuilds: &Arc<Rebuilds>,
    reply: Reply,
    client: &Arc<Client>,
) -> (Reply, BodyFrom) {
    let Reply::Blob {
        digest,
        size,
        range,
    } = &reply
    else {
        return (reply, BodyFrom::Nothing);
    };
    let len = range.map_or(*size, |(a, b)| b - a + 1);
    let from = if is_rebuilt(c, digest) {
        // The rebuild said why on stderr, once for all its clients.
        open_rebuilt(c, rebuilds, digest, *size, *range, client)
            .await
            .map(BodyFrom::Spool)
            .map_err(|e| e.to_string())
    } else if len <= CHUNK as u64 {
        read_small(c, digest, *range, len, &client.conn.peer)
            .await
            .map(BodyFrom::Bytes)
            .map_err(|e| e.to_string())
    } else {
        open_large(c, digest, *range, client)
            .await
            .map(|(open, first)| BodyFrom::Opened(open, first))
            .map_err(|e| e.to_string())
    };
    match from {
        Ok(from) => (reply, from),
        Err(e) => (error(500, "UNKNOWN", e), BodyFrom::Nothing),
    }
}

/// The response to a routed request: headers, status and body.
fn response(
    reply: Reply,
    from: BodyFrom,
    client: &Client,
) -> (hyper::http::response::Builder, u16, Body) {
    let mut r =
        hyper::Response::builder().header("Docker-Distribution-API-Version", "registry/2.0");
    let (status, body) = match reply {
        Reply::Json { status, body, link } => {
            r = r.header("Content-Type", "application/json");
            if let Some(l) = link {
                r = r.header("Link", l);
            }
            (status, Body::full(body.into_bytes()))
        }
        Reply::Referrers { body, filtered } => {
            r = r.header("Content-Type", crate::manifest::OCI_INDEX);
            if filtered {
                r = r.header("OCI-Filters-Applied", "artifactType");
            }
            (200, Body::full(body))
        }
        Reply::Manifest {
            bytes,
            media_type,
            digest,
        } => {
            r = r
                .header("Content-Type", media_type)
                .header("Docker-Content-Digest", digest.to_string());
            (200, Body::full(bytes))
        }
        Reply::Blob {
            digest,
            size,
            range,
        } => {
            let (builder, status, body) = blob_reply(r, digest, size, range, from, client);
            r = builder;
            (status, body)
        }
        Reply::RangeNotSatisfiable { size } => {
            r = r.header("Content-Range", format!("bytes */{size}"));
            (416, Body::empty(0))
        }
        Reply::Error {
            status,
            code,
            message,
        } => {
            r = r.header("Content-Type", "application/json");
            let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
            (status, Body::full(body.to_string().into_bytes()))
        }
    };
    (r, status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_blob_never_reaches_its_end() {
        let data = vec![7u8; 3 * CHUNK];
        let size = data.len() as u64;
        let good = Digest::of(&data);
        let mut out = Vec::new();
        VerifyingReader::new(&data[..], good.clone(), size, "test")
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let mut bad = data.clone();
        bad[3 * CHUNK - 1] ^= 1;
        let mut out = Vec::new();
        let r = VerifyingReader::new(&bad[..], good.clone(), size, "test").read_to_end(&mut out);
        assert!(r.is_err());
        assert!(out.len() < bad.len(), "the last read was held back");
        let mut longer = data.clone();
        longer.push(7);
        let mut out = Vec::new();
        let r = VerifyingReader::new(&longer[..], good, size, "test").read_to_end(&mut out);
        assert!(r.is_err(), "a blob longer than recorded never ends well");
        assert!(out.len() < data.len());
    }

    #[test]
    fn ranges() {
        use Ranged::*;
        assert_eq!(ranged("bytes=0-9", 100), Part(0, 9));
        assert_eq!(ranged("bytes=90-", 100), Part(90, 99));
        assert_eq!(ranged("bytes=-10", 100), Part(90, 99));
        assert_eq!(ranged("bytes=-500", 100), Part(0, 99));
        assert_eq!(ranged("bytes=50-500", 100), Part(50, 99));
        assert_eq!(ranged("bytes=100-", 100), Unsatisfiable);
        assert_eq!(ranged("bytes=-0", 100), Unsatisfiable);
        assert_eq!(ranged("bytes=0-", 0), Unsatisfiable);
        // Not taken, so ignored: the whole blob.
        assert_eq!(ranged("bytes=9-3", 100), Whole);
        assert_eq!(ranged("bytes=0-1,5-6", 100), Whole);
        assert_eq!(ranged("items=0-9", 100), Whole);
        assert_eq!(ranged("bytes=x-9", 100), Whole);
    }

    #[test]
    fn pages() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let refs: Vec<&String> = names.iter().collect();
        let (p, link) = paginate(&refs, "n=2", "/v2/_catalog");
        assert_eq!(p, vec!["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/_catalog?n=2&last=b>; rel=\"next\"")
        );
        let (p, link) = paginate(&refs, "n=2&last=b", "/v2/_catalog");
        assert_eq!(p, vec!["c", "d"]);
        assert_eq!(link, None);
    }
}
