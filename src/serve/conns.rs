//! serve's connections: how many may be open, which one is closed when there are too many, and
//! the watch that closes a connection making no progress. A client that stops reading, or opens a
//! socket and says nothing, must not cost the well-behaved ones their turn or the host its memory.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The bounds serve keeps. Each open blob stream holds a decoder and buffers (about a megabyte),
/// so `streams` bounds memory; waiting for a stream costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// No byte read or written for this long: the connection is closed (idle keep-alive, or a
    /// client that stopped reading).
    pub idle: Duration,
    /// The whole request head must arrive within this (a client dripping headers).
    pub header: Duration,
    /// Blob streams open at once.
    pub streams: usize,
    /// When every stream is taken, one that has moved nothing for this long is closed.
    pub stalled: Duration,
}

impl Limits {
    pub fn new(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            idle: Duration::from_secs(30),
            header: Duration::from_secs(10),
            streams: 64,
            stalled: Duration::from_secs(5),
        }
    }
}

/// One open connection, as the others see it.
pub struct Conn {
    id: u64,
    pub peer: String,
    epoch: Instant,
    /// Milliseconds from `epoch` to the last byte read or written.
    last: AtomicU64,
    streams: AtomicUsize,
    /// Waits on the server (a stream turn, a rebuild's bytes) under way: while any is, the
    /// client is not the slow side, so it is neither idle nor stalled.
    waiting: AtomicUsize,
    close: Notify,
}

/// The connection waits on the server while this is held.
pub struct Waiting(Arc<Conn>);

impl Drop for Waiting {
    fn drop(&mut self) {
        // The quiet time starts again from here, not from the request.
        self.0.touch();
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Conn {
    /// Mark the connection as waiting on the server until the guard is dropped.
    pub fn waiting(self: &Arc<Self>) -> Waiting {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(self.clone())
    }

    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }

    /// Resolves when the connection must end: closed by another's admission, or quiet too long.
    pub async fn ended(&self, idle: Duration) {
        loop {
            let quiet = self.quiet_for();
            if quiet >= idle {
                return;
            }
            tokio::select! {
                _ = self.close.notified() => return,
                _ = tokio::time::sleep(idle - quiet) => {}
            }
        }
    }
}

/// The open connections and the blob streams they hold.
pub struct Conns {
    epoch: Instant,
    limits: Limits,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    streams: Arc<Semaphore>,
    crowded: Mutex<Throttle>,
    starved: Mutex<Throttle>,
}

/// A connection's place among the open ones; leaving it frees the place.
pub struct Client {
    conns: Arc<Conns>,
    pub conn: Arc<Conn>,
}

impl Client {
    /// Wait for a blob stream's turn (`Conns::stream`).
    pub fn stream(&self) -> impl std::future::Future<Output = StreamPermit> + Send + 'static {
        self.conns.clone().stream(self.conn.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        lock(&self.conns.open).remove(&self.conn.id);
    }
}

/// A blob stream's turn; the connection counts as streaming while it is held.
pub struct StreamPermit {
    _permit: OwnedSemaphorePermit,
    conn: Arc<Conn>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.conn.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Conns {
    pub fn new(limits: Limits) -> Arc<Conns> {
        Arc::new(Conns {
            epoch: Instant::now(),
            limits,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            streams: Arc::new(Semaphore::new(limits.streams.max(1))),
            crowded: Mutex::new(Throttle::default()),
            starved: Mutex::new(Throttle::default()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Take a place for a new connection. At the cap, the connection quiet the longest is closed
    /// to make room: an idle keep-alive connection may be closed at any time, and a stalled one
    /// is the least use to anybody.
    pub fn admit(self: &Arc<Self>, peer: String) -> Arc<Client> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            peer,
            epoch: self.epoch,
            last: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            close: Notify::new(),
        });
        conn.touch();
        let mut open = lock(&self.open);
        if open.len() >= self.limits.max_connections {
            let victim = open.values().max_by_key(|c| c.quiet_for()).cloned();
            if let Some(v) = victim {
                open.remove(&v.id);
                v.close.notify_one();
                lock(&self.crowded).say(format!(
                    "serve: {} connections are open, the most allowed (--max-connections); closed the one quiet longest ({}, {:.0} s) to admit {}",
                    self.limits.max_connections,
                    v.peer,
                    v.quiet_for().as_secs_f64(),
                    conn.peer
                ));
            }
        }
        open.insert(conn.id, conn.clone());
        Arc::new(Client {
            conns: self.clone(),
            conn,
        })
    }

    /// Wait for a blob stream's turn. While every stream is taken, a stream that has moved no
    /// byte for `stalled` is closed, so readers that stopped cannot hold the others back.
    pub async fn stream(self: Arc<Self>, me: Arc<Conn>) -> StreamPermit {
        loop {
            if let Ok(p) = self.streams.clone().try_acquire_owned() {
                return self.granted(p, me);
            }
            self.close_a_stalled_stream();
            tokio::select! {
                p = self.streams.clone().acquire_owned() => {
                    if let Ok(p) = p {
                        return self.granted(p, me);
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn granted(&self, p: OwnedSemaphorePermit, conn: Arc<Conn>) -> StreamPermit {
        conn.streams.fetch_add(1, Ordering::Relaxed);
        conn.touch();
        StreamPermit { _permit: p, conn }
    }

    fn close_a_stalled_stream(&self) {
        let open = lock(&self.open);
        let victim = open
            .values()
            .filter(|c| c.streams.load(Ordering::Relaxed) > 0)
            .filter(|c| c.quiet_for() >= self.limits.stalled)
            .max_by_key(|c| c.quiet_for());
        if let Some(v) = victim {
            v.close.notify_one();
            lock(&self.starved).say(format!(
                "serve: all {} blob streams are taken; closed the one from {}, which has read nothing for {:.0} s",
                self.limits.streams,
                v.peer,
                v.quiet_for().as_secs_f64()
            ));
        }
    }
}

/// A line said at most once every ten seconds, with a count of those left out: a flood of
/// clients must not become a flood of stderr.
#[derive(Default)]
pub struct Throttle {
    last: Option<Instant>,
    left_out: u64,
}

impl Throttle {
    pub fn say(&mut self, line: String) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            self.left_out += 1;
            return;
        }
        let more = match self.left_out {
            0 => String::new(),
            n => format!(" ({n} more like this in the last 10 s)"),
        };
        crate::console::line(format!("{line}{more}"));
        self.last = Some(Instant::now());
        self.left_out = 0;
    }
}

/// A socket that marks its connection alive on every byte that moves.
pub struct Watched<S> {
    pub inner: S,
    pub conn: Arc<Conn>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The most connections this process can hold: what was asked, within the open-file limit
/// (less room for the bundle files, the listener and the runtime).
pub fn connection_cap(asked: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok {
        return asked;
    }
    let room = (limit.rlim_cur as usize).saturating_sub(64).max(16);
    asked.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_quietest_connection_is_closed() {
        let conns = Conns::new(Limits::new(2));
        let a = conns.admit("a".into());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = conns.admit("b".into());
        let _c = conns.admit("c".into());
        // `a` was told to close, `b` was not.
        tokio::time::timeout(
            Duration::from_secs(1),
            a.conn.ended(Duration::from_secs(60)),
        )
        .await
        .expect("the quietest connection is closed");
        let b_ended = tokio::time::timeout(
            Duration::from_millis(50),
            b.conn.ended(Duration::from_secs(60)),
        )
        .await;
        assert!(b_ended.is_err());
        assert_eq!(lock(&conns.open).len(), 2);
    }

    #[tokio::test]
    async fn a_client_waiting_on_the_server_is_neither_idle_nor_stalled() {
        let mut limits = Limits::new(10);
        limits.streams = 1;
        limits.stalled = Duration::from_millis(10);
        let conns = Conns::new(limits);
        let patient = conns.admit("patient".into());
        let _held = conns.clone().stream(patient.conn.clone()).await;
        let waiting = patient.conn.waiting();
        let other = conns.admit("other".into());
        let turn = tokio::spawn(conns.clone().stream(other.conn.clone()));
        let ended = tokio::time::timeout(
            Duration::from_millis(1500),
            patient.conn.ended(Duration::from_millis(20)),
        )
        .await;
        assert!(
            ended.is_err(),
            "neither the idle watch nor the stalled-stream watch closed it"
        );
        drop(waiting);
        tokio::time::timeout(
            Duration::from_secs(3),
            patient.conn.ended(Duration::from_millis(20)),
        )
        .await
        .expect("quiet again once it no longer waits on the server");
        turn.abort();
    }

    #[tokio::test]
    async fn a_stalled_stream_gives_its_turn_away() {
        let mut limits = Limits::new(10);
        limits.streams = 1;
        limits.stalled = Duration::from_millis(10);
        let conns = Conns::new(limits);
        let slow = conns.admit("slow".into());
        let _held = conns.clone().stream(slow.conn.clone()).await;
        let fresh = conns.admit("fresh".into());
        let waiting = tokio::spawn(conns.clone().stream(fresh.conn.clone()));
        tokio::time::timeout(
            Duration::from_secs(3),
            slow.conn.ended(Duration::from_secs(60)),
        )
        .await
        .expect("the stalled stream's connection is closed");
        drop(_held);
        tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .expect("the waiting stream gets its turn")
            .unwrap();
    }
}
