//! Streaming a large request body (a blob upload) from the calling thread.
//!
//! reqwest's blocking client hands a body from a reader to its runtime thread in 8 KiB pieces,
//! a channel message and a thread wake-up each: loading 2 GB cost more CPU in those hand-overs
//! than in reading and hashing the bundle. Here an async client runs on a current-thread
//! runtime owned by the calling thread (a load worker), so the body is read 1 MiB at a time
//! and written to the socket by the same thread. Each thread keeps its own client: a pooled
//! connection lives on the runtime that opened it and only makes progress while that thread
//! drives it, so connections must not be shared between threads.

use super::settings::HttpSettings;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const PIECE: usize = 1 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

struct Local {
    runtime: tokio::runtime::Runtime,
    /// One client per `Streamer` (per registry and its TLS settings) on this thread.
    clients: HashMap<u64, reqwest::Client>,
}

/// Sends streamed requests to one registry.
pub struct Streamer {
    settings: HttpSettings,
    id: u64,
}

impl Streamer {
    /// How long the registry may stay silent mid-request.
    pub fn read_timeout(&self) -> std::time::Duration {
        self.settings.read_timeout
    }
}

/// What came back: enough to judge the status and explain an error.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The first bytes of the body (registries explain errors in a small JSON document).
    pub excerpt: String,
}

#[derive(Debug)]
pub enum StreamError {
    /// The connection failed, or the registry stopped taking the body for `read_timeout`.
    Transfer(String),
    /// Reading the body from its source failed.
    Source(std::io::Error),
    Setup(super::error::RegistryError),
}

impl Streamer {
    pub fn new(settings: HttpSettings) -> Self {
        Streamer {
            settings,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Send `size` bytes read from `body`, with `headers`; returns the answer.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Box<dyn Read + Send>,
        size: u64,
    ) -> Result<Answer, StreamError> {
        LOCAL.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StreamError::Transfer(format!("starting a runtime: {e}")))?;
                *slot = Some(Local {
                    runtime,
                    clients: HashMap::new(),
                });
            }
            let local = slot.as_mut().expect("set above");
            let client = self.client_in(local)?;
            let progress = Arc::new(Progress::default());
            let reader = ReaderBody {
                src: Mutex::new(body),
                left: size,
                progress: progress.clone(),
            };
            let request = client
                .request(method, url)
                .headers(headers)
                .body(reqwest::Body::wrap(reader));
            let stall = self.settings.read_timeout;
            local.runtime.block_on(exchange(request, progress, stall))
        })
    }

    /// This thread's client for this registry (reqwest's async client must be built inside a
    /// runtime).
    fn client_in(&self, local: &mut Local) -> Result<reqwest::Client, StreamError> {
        if let Some(c) = local.clients.get(&self.id) {
            return Ok(c.clone());
        }
        let _in = local.runtime.enter();
        let c = self.settings.asynchronous().map_err(StreamError::Setup)?;
        local.clients.insert(self.id, c.clone());
        Ok(c)
    }
}

/// Send the request while a watchdog checks that the registry keeps taking the body (and,
/// once it has all of it, answers) within `stall`.
async fn exchange(
    request: reqwest::RequestBuilder,
    progress: Arc<Progress>,
    stall: Duration,
) -> Result<Answer, StreamError> {
    let send = request.send();
    tokio::pin!(send);
    let resp = loop {
        tokio::select! {
            r = &mut send => break r,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if progress.silent_for() > stall {
                    return Err(StreamError::Transfer(if progress.done.load(Ordering::Relaxed) {
                        format!("no answer for {}s after the whole body was sent", stall.as_secs())
                    } else {
                        format!("the registry took no part of the body for {}s", stall.as_secs())
                    }));
                }
            }
        }
    };
    let resp = resp.map_err(|e| match progress.source_error.lock().unwrap().take() {
        Some(src) => StreamError::Source(src),
        None => StreamError::Transfer(crate::causes::of(&e)),
    })?;
    Ok(answer(resp, stall).await)
}

/// The status and headers, and for a failure the start of the body (registries explain errors
/// in a small JSON document), read for at most `stall`.
async fn answer(mut resp: reqwest::Response, stall: Duration) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    if status.is_success() {
        return Answer {
            status,
            headers,
            excerpt: String::new(),
        };
    }
    let mut buf = Vec::new();
    let excerpt = async {
        while buf.len() < 512 {
            match resp.chunk().await {
                Ok(Some(c)) => buf.extend_from_slice(&c),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(stall, excerpt).await;
    buf.truncate(512);
    Answer {
        status,
        headers,
        excerpt: String::from_utf8_lossy(&buf).into_owned(),
    }
}

/// Shared between the body and the watchdog that notices a registry which stopped reading the
/// body or never answers. reqwest's own read timeout cannot serve: it bounds the whole wait for
/// the answer, upload included, so a large blob on a slow link would fail however steadily it
/// moved.
#[derive(Default)]
struct Progress {
    /// Milliseconds since `epoch()` when the registry last took a piece (or, once `done`, when
    /// the last was taken); 0: not yet connected.
    last: AtomicU64,
    done: AtomicBool,
    source_error: Mutex<Option<std::io::Error>>,
}

fn epoch() -> Instant {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Progress {
    fn touch(&self) {
        self.last
            .store(epoch().elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    }

    /// How long nothing has moved: the registry took no part of the body, or, once it is all
    /// sent, has not answered.
    fn silent_for(&self) -> Duration {
        match self.last.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            last => epoch()
                .elapsed()
                .saturating_sub(Duration::from_millis(last - 1)),
        }
    }
}

/// A body read from a blocking reader. Reading blocks the runtime's thread, which is the
/// caller's own and has nothing else to do meanwhile.
struct ReaderBody {
    src: Mutex<Box<dyn Read + Send>>,
    left: u64,
    progress: Arc<Progress>,
}

impl http_body::Body for ReaderBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.progress.touch();
        if self.left == 0 {
            self.progress.done.store(true, Ordering::Relaxed);
            return Poll::Ready(None);
        }
        let want = PIECE.min(self.left as usize);
        let mut buf = Vec::with_capacity(want);
        let read = {
            let mut src = self.src.lock().unwrap();
            match (&mut *src).take(want as u64).read_to_end(&mut buf) {
                Ok(n) if n < want => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the blob ended {} bytes short", self.left - n as u64),
                )),
                other => other.map(drop),
            }
        };
        match read {
            Ok(()) => {
                self.left -= want as u64;
                if self.left == 0 {
                    // hyper may not ask again once `is_end_stream` says so.
                    self.progress.done.store(true, Ordering::Relaxed);
                }
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
            Err(e) => {
                let kept = std::io::Error::new(e.kind(), e.to_string());
                *self.progress.source_error.lock().unwrap() = Some(e);
                Poll::Ready(Some(Err(kept)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn streamer(read_timeout: Duration) -> Streamer {
        Streamer::new(HttpSettings {
            registry: "127.0.0.1".into(),
            roots: Vec::new(),
            insecure: false,
            read_timeout,
        })
    }

    /// A server on 127.0.0.1 that reads the request head, then hands the connection to `body`.
    fn server(body: impl FnOnce(BufReader<std::net::TcpStream>) + Send + 'static) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            let mut r = BufReader::new(c);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            body(r);
        });
        format!("http://{addr}/upload")
    }

    const BIG: u64 = 64 << 20;

    #[test]
    fn a_server_that_stops_reading_the_body_fails_the_upload_after_the_timeout() {
        let url = server(|mut r| {
            let mut part = vec![0u8; 64 * 1024];
            r.read_exact(&mut part).unwrap();
            std::thread::sleep(Duration::from_secs(20));
        });
        let started = Instant::now();
        let body = Box::new(std::io::repeat(7).take(BIG));
        let r =
            streamer(Duration::from_secs(1)).send(Method::PUT, &url, HeaderMap::new(), body, BIG);
        let took = started.elapsed();
        match r {
            Err(StreamError::Transfer(reason)) => {
                assert!(reason.contains("took no part of the body"), "{reason}")
            }
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(a) => panic!("unexpected answer {}", a.status),
        }
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }

    #[test]
    fn a_slow_but_steady_upload_longer_than_the_timeout_completes() {
        let url = server(|mut r| {
            // 64 MiB at about 20 MiB/s: three times the read timeout, never silent for long.
            let mut buf = vec![0u8; 1 << 20];
            let mut left = BIG;
            while left > 0 {
                let n = (left as usize).min(buf.len());
                r.read_exact(&mut buf[..n]).unwrap();
                assert!(buf[..n].iter().all(|&b| b == 7));
                left -= n as u64;
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut c = r.into_inner();
            c.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        let body = Box::new(std::io::repeat(7).take(BIG));
        let a = streamer(Duration::from_secs(1))
            .send(Method::PUT, &url, HeaderMap::new(), body, BIG)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a.status, StatusCode::CREATED);
    }

    #[test]
    fn a_short_source_is_a_source_error() {
        let url = server(|mut r| {
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink);
        });
        let body = Box::new(std::io::repeat(7).take(1000));
        match streamer(Duration::from_secs(5)).send(Method::PUT, &url, HeaderMap::new(), body, 5000)
        {
            Err(StreamError::Source(e)) => assert!(e.to_string().contains("short"), "{e}"),
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(a) => panic!("unexpected answer {}", a.status),
        }
    }
}
