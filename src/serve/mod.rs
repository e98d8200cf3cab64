//! `bundle serve`: a read-only OCI registry straight from one or more bundle files, reading each
//! blob from its own frame through the seek index. Nothing is unpacked or copied.

pub mod catalog;
pub mod conns;
pub mod http;
pub mod rebuilds;

use anyhow::{Context, Result};
use catalog::Catalog;
use hyper_util::rt::TokioIo;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub struct ServeOptions {
    pub files: Vec<PathBuf>,
    pub keys: Vec<PathBuf>,
    pub allow_unsigned: bool,
    pub listen: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub keep_registry: bool,
    /// Threads answering requests (blob reads run on tokio's blocking pool).
    pub threads: usize,
    pub quiet: bool,
    /// Log every request.
    pub verbose: bool,
    /// Connections open at once (held within the open-file limit).
    pub max_connections: usize,
    /// Bytes of rebuilt layers kept in scratch files once no client reads them.
    pub rebuild_space: u64,
}

/// Verify, index, then serve until interrupted.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let started = Instant::now();
    let keys = crate::verify::load_keys(&opts.keys)?;
    // A verification failure stays a VerifyError, so the exit code is 3 as for `bundle verify`.
    let catalog = Catalog::open(&opts.files, &keys, opts.allow_unsigned, opts.keep_registry)
        .map_err(|e| match e {
            catalog::CatalogError::Verify(v) => anyhow::Error::from(v),
            other => other.into(),
        })?;
    let catalog = Arc::new(catalog);
    let tls = match &opts.tls {
        None => None,
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
    };
    let limits = conns::Limits::new(conns::connection_cap(opts.max_connections));
    // One rebuild at a time per core, each holding a blocking thread for as long as it runs.
    let producers = crate::workers::cores();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        // Each read is one chunk and each stream waits its turn, so a few threads keep up; more
        // would only be more memory when clients crowd in. The rebuilds get threads of their
        // own on top, so reads never queue behind them however many cores there are.
        .max_blocking_threads(limits.streams / 2 + 8 + producers)
        .enable_all()
        .build()
        .context("starting the server runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        for o in &catalog.overridden {
            crate::console::line(format!("note: {o} is in more than one place; the last bundle's image is served"));
        }
        if !opts.quiet {
            crate::console::line(format!(
                "serving {} images in {} repositories ({} blobs) from {} bundle(s) on {scheme}://{addr} (ready in {:.0} ms; read-only; Ctrl-C stops)",
                catalog.images(),
                catalog.repositories.len(),
                catalog.blobs.len(),
                catalog.bundles.len(),
                started.elapsed().as_secs_f64() * 1000.0
            ));
            for name in catalog.repositories.keys() {
                crate::console::line(format!("  {addr}/{name}"));
            }
        }
        let rebuilds = rebuilds::Rebuilds::new(producers, opts.rebuild_space, opts.verbose);
        let shared = Shared {
            catalog,
            rebuilds,
            verbose: opts.verbose,
        };
        accept_loop(listener, shared, tls, conns::Conns::new(limits)).await
    })
}

/// What every connection answers from.
#[derive(Clone)]
struct Shared {
    catalog: Arc<Catalog>,
    rebuilds: Arc<rebuilds::Rebuilds>,
    verbose: bool,
}

/// Accept connections until interrupted, each in its own task, watched and bounded by `conns`.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Shared,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conns: Arc<conns::Conns>,
) -> Result<()> {
    let mut refused = conns::Throttle::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(e) => {
                refused.say(format!("serve: accepting a connection: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        conns::limit_unsent(stream.as_raw_fd());
        let client = conns.admit(peer.to_string(), Some(stream.as_raw_fd()));
        let (shared, tls, limits) = (shared.clone(), tls.clone(), conns.limits());
        tokio::spawn(async move {
            let watched = conns::Watched {
                inner: stream,
                conn: client.conn.clone(),
            };
            let conn = client.conn.clone();
            tokio::select! {
                _ = serve_connection(watched, tls, shared, client, limits) => {}
                _ = conn.ended(limits.idle) => {}
            }
        });
    }
}

/// One client's connection, TLS handshake and all. Errors here are the client's (it hung up,
/// spoke TLS to plain HTTP, ...) and end only this connection.
async fn serve_connection(
    stream: conns::Watched<tokio::net::TcpStream>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Shared,
    client: Arc<conns::Client>,
    limits: conns::Limits,
) {
    let svc = hyper::service::service_fn(move |req| {
        let (s, client) = (shared.clone(), client.clone());
        async move {
            let reply = http::respond(s.catalog, s.rebuilds, req, client, s.verbose).await;
            Ok::<_, std::convert::Infallible>(reply)
        }
    });
    let mut conn = hyper::server::conn::http1::Builder::new();
    conn.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header)
        // Requests are small; a small buffer keeps what waits for a slow reader small too.
        .max_buf_size(64 * 1024);
    let _ = match tls {
        None => conn.serve_connection(TokioIo::new(stream), svc).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(s) => conn.serve_connection(TokioIo::new(s), svc).await,
            Err(_) => return,
        },
    };
}

/// A TLS acceptor for PEM files: the certificate chain and its private key.
fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("reading the TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("reading the TLS key {}: {e}", key.display()))?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .context("the TLS certificate and key do not make a usable server configuration")?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}
