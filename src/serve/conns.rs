//! serve's connections: how many may be open, which one is closed when there are too many, and
//! the watch that closes a connection making no progress. A client that stops reading, or opens a
//! socket and says nothing, must not cost the well-behaved ones their turn or the host its memory.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
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
    /// When every stream is taken, one whose client has taken nothing for this long (no byte
    /// written to its socket, none acknowledged by its TCP) is closed.
    pub stalled: Duration,
}

impl Limits {
    pub fn new(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            idle: Duration::from_secs(30),
            header: Duration::from_secs(10),
            streams: 64,
            // Short, since every client queued for a turn that will never read must be given
            // one to be found out: with hundreds of them, a waiting client waits for hundreds
            // divided by `streams` of these. The peer's acknowledgements are watched too, so
            // a client that reads slowly is not taken for one that stopped.
            stalled: Duration::from_secs(1),
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
    /// The socket, to ask its TCP how much the peer has acknowledged; none in unit tests.
    socket: Option<RawFd>,
    /// What the peer had acknowledged when last asked.
    acked: AtomicU64,
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

    /// Has the peer acknowledged bytes since last asked? A client reading slowly through a
    /// full socket buffer wakes no write for seconds, but its TCP acknowledges what it reads.
    fn peer_acknowledged_more(&self) -> bool {
        let Some(now) = self.socket.and_then(bytes_acked) else {
            return false;
        };
        self.acked.swap(now, Ordering::Relaxed) != now
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
    /// Connections waiting for a stream's turn.
    queued: AtomicUsize,
    /// When stalled streams were last looked for: one look serves every waiting connection.
    looked: Mutex<Option<Instant>>,
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
            queued: AtomicUsize::new(0),
            looked: Mutex::new(None),
            crowded: Mutex::new(Throttle::default()),
            starved: Mutex::new(Throttle::default()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Take a place for a new connection (its TCP socket, if it has one). At the cap, the
    /// connection quiet the longest is closed to make room: an idle keep-alive connection may be
    /// closed at any time, and a stalled one is the least use to anybody.
    pub fn admit(self: &Arc<Self>, peer: String, socket: Option<RawFd>) -> Arc<Client> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            peer,
            epoch: self.epoch,
            last: AtomicU64::new(0),
            socket,
            acked: AtomicU64::new(socket.and_then(bytes_acked).unwrap_or(0)),
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

    /// Wait for a blob stream's turn. While every stream is taken, streams that have moved
    /// nothing for `stalled` are closed, one for each connection waiting, so readers that
    /// stopped cannot hold the others back.
    pub async fn stream(self: Arc<Self>, me: Arc<Conn>) -> StreamPermit {
        if let Ok(p) = self.streams.clone().try_acquire_owned() {
            return self.granted(p, me);
        }
        let _queued = Queued::new(&self.queued);
        loop {
            self.close_stalled_streams();
            tokio::select! {
                p = self.streams.clone().acquire_owned() => {
                    if let Ok(p) = p {
                        return self.granted(p, me);
                    }
                }
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }

    fn granted(&self, p: OwnedSemaphorePermit, conn: Arc<Conn>) -> StreamPermit {
        conn.streams.fetch_add(1, Ordering::Relaxed);
        conn.touch();
        StreamPermit { _permit: p, conn }
    }

    /// Close the streams quiet the longest (at least `stalled`, the peer acknowledging
    /// nothing), as many as connections wait for a turn; at most once every `LOOK_EVERY`.
    fn close_stalled_streams(&self) {
        {
            let mut looked = lock(&self.looked);
            if looked.is_some_and(|t| t.elapsed() < LOOK_EVERY) {
                return;
            }
            *looked = Some(Instant::now());
        }
        let open = lock(&self.open);
        let mut stalled: Vec<&Arc<Conn>> = open
            .values()
            .filter(|c| c.streams.load(Ordering::Relaxed) > 0)
            .filter(|c| c.quiet_for() >= self.limits.stalled)
            .filter(|c| {
                let reading = c.peer_acknowledged_more();
                if reading {
                    c.touch();
                }
                !reading
            })
            .collect();
        stalled.sort_by_key(|c| std::cmp::Reverse(c.quiet_for()));
        stalled.truncate(self.queued.load(Ordering::Relaxed).max(1));
        for v in &stalled {
            v.close.notify_one();
        }
        if let Some(v) = stalled.first() {
            lock(&self.starved).say(format!(
                "serve: all {} blob streams are taken; closed {} whose client took nothing for {:.1} s or more (the first from {})",
                self.limits.streams,
                stalled.len(),
                self.limits.stalled.as_secs_f64(),
                v.peer
            ));
        }
    }
}

/// How often connections waiting for a stream's turn look for stalled streams to close.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// A connection counted among those waiting for a turn while this lives.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(count: &'a AtomicUsize) -> Queued<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Queued(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Unsent bytes a connection's socket may queue before it stops taking more. Without a bound
/// the kernel queues megabytes for a client that never reads (its send buffer grows to
/// `tcp_wmem`'s maximum): bytes read from the bundle for nobody, and seconds before the stream
/// is seen to stall. Bytes in flight are not counted, so a fast link is not slowed.
const UNSENT: libc::c_int = 128 * 1024;

/// Bound what a connection's socket queues unsent (`UNSENT`); a kernel that cannot is left as
/// it is.
pub fn limit_unsent(fd: RawFd) {
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt reads `size` bytes from the int it is given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&UNSENT as *const libc::c_int).cast(),
            size,
        );
    }
}

/// The bytes a TCP socket's peer has acknowledged (Linux's `tcpi_bytes_acked`), if the kernel
/// says. The socket may have closed, and its number been reused, a moment before its
/// connection left the list: then this reads another socket, and at worst one stream is
/// thought to move for one more look.
fn bytes_acked(fd: RawFd) -> Option<u64> {
    // SAFETY: a zeroed tcp_info is a valid value (integers only).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info` and the length into `len`.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    } == 0;
    // A kernel older than 4.1 fills less of the struct than that field.
    let filled = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
    (ok && len as usize >= filled).then_some(info.tcpi_bytes_acked)
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

    /// Connections with `streams` turns, a stream stalled after `stalled`.
    fn conns(streams: usize, stalled: Duration) -> Arc<Conns> {
        let mut limits = Limits::new(10);
        limits.streams = streams;
        limits.stalled = stalled;
        Conns::new(limits)
    }

    /// Is the connection told to close within `within`?
    async fn closed_within(conn: &Conn, within: Duration) -> bool {
        tokio::time::timeout(within, conn.ended(Duration::from_secs(60)))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn at_the_cap_the_quietest_connection_is_closed() {
        let conns = Conns::new(Limits::new(2));
        let a = conns.admit("a".into(), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b = conns.admit("b".into(), None);
        let _c = conns.admit("c".into(), None);
        // `a` was told to close, `b` was not.
        assert!(
            closed_within(&a.conn, Duration::from_secs(1)).await,
            "the quietest connection is closed"
        );
        assert!(!closed_within(&b.conn, Duration::from_millis(50)).await);
        assert_eq!(lock(&conns.open).len(), 2);
    }

    #[tokio::test]
    async fn a_client_waiting_on_the_server_is_neither_idle_nor_stalled() {
        let conns = conns(1, Duration::from_millis(10));
        let patient = conns.admit("patient".into(), None);
        let _held = conns.clone().stream(patient.conn.clone()).await;
        let waiting = patient.conn.waiting();
        let other = conns.admit("other".into(), None);
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
        let conns = conns(1, Duration::from_millis(10));
        let slow = conns.admit("slow".into(), None);
        let _held = conns.clone().stream(slow.conn.clone()).await;
        let fresh = conns.admit("fresh".into(), None);
        let waiting = tokio::spawn(conns.clone().stream(fresh.conn.clone()));
        assert!(
            closed_within(&slow.conn, Duration::from_secs(3)).await,
            "the stalled stream's connection is closed"
        );
        drop(_held);
        tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .expect("the waiting stream gets its turn")
            .unwrap();
    }

    #[tokio::test]
    async fn as_many_stalled_streams_are_closed_as_connections_wait() {
        let conns = conns(3, Duration::from_millis(10));
        let mut held = Vec::new();
        for i in 0..3 {
            let c = conns.admit(format!("stalled {i}"), None);
            let turn = conns.clone().stream(c.conn.clone()).await;
            // A closed connection ends its stream, which gives its turn back.
            held.push(tokio::spawn(async move {
                c.conn.ended(Duration::from_secs(60)).await;
                drop(turn);
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting: Vec<_> = (0..2)
            .map(|i| {
                let c = conns.admit(format!("waiting {i}"), None);
                tokio::spawn(conns.clone().stream(c.conn.clone()))
            })
            .collect();
        let mut turns = Vec::new();
        for w in waiting {
            let turn = tokio::time::timeout(Duration::from_secs(3), w).await;
            turns.push(turn.expect("each waiting connection gets a turn").unwrap());
        }
        tokio::time::sleep(LOOK_EVERY * 3).await;
        assert_eq!(held.iter().filter(|h| h.is_finished()).count(), 2);
    }

    #[tokio::test]
    async fn a_client_reading_slowly_is_not_taken_for_one_that_stopped() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        use std::sync::atomic::AtomicBool;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let conns = conns(1, Duration::from_millis(300));
        let slow = conns.admit("slow".into(), Some(server.as_raw_fd()));
        let _turn = conns.clone().stream(slow.conn.clone()).await;
        // The server side writes as fast as the socket takes it, without touching the
        // connection: only the peer's acknowledgements can show it reads.
        std::thread::spawn(move || while server.write_all(&[7; 65536]).is_ok() {});
        let reading = Arc::new(AtomicBool::new(true));
        let still = reading.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 16384];
            while still.load(Ordering::Relaxed) && client.read_exact(&mut buf).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_secs(60));
        });
        let other = conns.admit("other".into(), None);
        let waiting = tokio::spawn(conns.clone().stream(other.conn.clone()));
        assert!(
            !closed_within(&slow.conn, Duration::from_secs(2)).await,
            "a client reading 1.6 MB/s was closed as stalled"
        );
        reading.store(false, Ordering::Relaxed);
        assert!(
            closed_within(&slow.conn, Duration::from_secs(3)).await,
            "once it stops reading, it is closed"
        );
        waiting.abort();
    }
}
