//! The connections of `xueji serve`, below the routes: what a client can hold and for how long.
//!
//! - A connection cap (a semaphore): the accept loop takes a slot before it accepts, so beyond
//!   the cap new connections wait in the kernel's backlog, costing no file descriptor, until one
//!   closes. The cap is kept under the process's file-descriptor limit.
//! - hyper's header-read timeout: a request head must arrive whole within it, counted from the
//!   connection's opening or from the end of the previous response (so it is also the keep-alive
//!   idle limit). A TLS handshake gets the same time.
//! - [`Watched`]: a client that takes no byte of a response for the idle timeout is cut off, and
//!   the bytes written to it are counted, so the audit's `done` line says what was delivered.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::body::{Body, Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What runs once the bytes written before it have left (true) or once the connection ended
/// before they could (false); given the connection's count of bytes written by then.
type Settle = Box<dyn FnOnce(bool, u64) + Send>;

/// One client connection, as the audit sees it.
pub(crate) struct ConnState {
    pub remote: SocketAddr,
    /// Bytes written to the connection so far.
    written: AtomicU64,
    /// Bodies handed to hyper whole, waiting for hyper to flush them.
    pending: Mutex<Vec<Settle>>,
}

impl ConnState {
    pub fn new(remote: SocketAddr) -> Arc<Self> {
        Arc::new(ConnState {
            remote,
            written: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
        })
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn when_flushed(&self, f: Settle) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// Run what waited for a flush: it happened (true), or the connection is over (false).
    pub fn settle(&self, flushed: bool) {
        let due = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let written = self.written();
        for f in due {
            f(flushed, written);
        }
    }
}

/// A connection's byte stream, watched: bytes written are counted, a flush settles the bodies
/// waiting for it, and a write that the client leaves blocked for `stall_limit` fails.
pub(crate) struct Watched<T> {
    io: T,
    conn: Arc<ConnState>,
    stall_limit: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Watched<T> {
    pub fn new(io: T, conn: Arc<ConnState>, stall_limit: Duration) -> Self {
        Watched {
            io,
            conn,
            stall_limit,
            stall: None,
        }
    }

    /// The client takes nothing: pending until the stall limit, then an error that ends the
    /// connection.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.stall_limit;
        let sleep = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no byte of the response for the idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote(&mut self, n: usize) {
        self.stall = None;
        self.conn.written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                me.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => me.stalled(cx),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                me.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => me.stalled(cx),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// hyper flushes the stream only once its own buffer is empty: every byte of the bodies
    /// handed to it before has been written.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                me.stall = None;
                me.conn.settle(true);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => me.stalled(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_shutdown(cx) {
            Poll::Pending => me.stalled(cx),
            other => other,
        }
    }
}

/// What the `done` line is written with: whether the whole body was written out, and the body
/// bytes written.
pub(crate) type Done = Box<dyn FnOnce(bool, u64) + Send>;

/// How much of a body has gone out.
struct Delivery {
    conn: Arc<ConnState>,
    /// The connection's bytes written when the response was handed to hyper.
    wire_start: u64,
    /// Body bytes handed to hyper.
    sent: u64,
    ended: bool,
    done: Done,
}

/// A response body whose delivery is audited: when hyper drops it, either it was handed over
/// whole (then its `done` line waits for the flush that writes its last byte, or for the end of
/// the connection that never came to it) or it was not (then its line is written at once).
pub(crate) struct AuditedBody {
    inner: Body,
    delivery: Option<Delivery>,
}

impl AuditedBody {
    pub fn plain(inner: Body) -> Self {
        AuditedBody { inner, delivery: None }
    }

    pub fn delivered(inner: Body, conn: Arc<ConnState>, done: Done) -> Self {
        let wire_start = conn.written();
        AuditedBody {
            inner,
            delivery: Some(Delivery {
                conn,
                wire_start,
                sent: 0,
                ended: false,
                done,
            }),
        }
    }
}

impl HttpBody for AuditedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_frame(cx);
        if let Some(d) = &mut me.delivery {
            match &r {
                Poll::Ready(Some(Ok(f))) => {
                    if let Some(b) = f.data_ref() {
                        d.sent += b.len() as u64;
                    }
                }
                Poll::Ready(None) => d.ended = true,
                _ => {}
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        let Some(d) = self.delivery.take() else {
            return;
        };
        let Delivery {
            conn,
            wire_start,
            sent,
            ended,
            done,
        } = d;
        // Not more than the connection took since the response began (its head included).
        let at_most = move |written: u64| sent.min(written.saturating_sub(wire_start));
        if ended || self.inner.is_end_stream() {
            conn.when_flushed(Box::new(move |flushed, written| {
                done(flushed, if flushed { sent } else { at_most(written) })
            }));
        } else {
            done(false, at_most(conn.written()));
        }
    }
}

/// The TLS acceptor of `--tls-cert` and `--tls-key` (PEM files: the certificate chain, and a
/// PKCS#8, PKCS#1 or SEC1 private key).
pub(crate) fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("无法读取证书文件 {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("证书文件 {} 格式错误（应为 PEM）", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "证书文件 {} 中没有证书（应为 PEM 格式的 CERTIFICATE）",
        cert.display()
    );
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("无法读取私钥文件 {}（应为 PEM 格式的私钥）", key.display()))?;
    // Both ring and aws-lc-rs are in the tree, so no provider is the process default: name one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS 协议版本")?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .with_context(|| {
            format!(
                "证书 {} 与私钥 {} 不配对，或其算法不受支持",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// File descriptors kept for everything but client connections (the warehouse's files, the
/// audit log, spill files).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const FD_RESERVE: u64 = 256;

/// The connection cap, fitted under the process's file-descriptor limit: the soft limit is
/// raised towards the hard one when the cap needs it, and the cap lowered when it still does not
/// fit.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn fit_connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return wanted;
    }
    let need = wanted as u64 + FD_RESERVE;
    if lim.rlim_cur < need && lim.rlim_max > lim.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: need.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads only the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    let fits = lim.rlim_cur.saturating_sub(FD_RESERVE).max(16);
    if fits < wanted as u64 {
        eprintln!(
            "警告：文件描述符上限为 {}，连接上限由 {wanted} 降为 {fits} / the connection cap is lowered to fit the file-descriptor limit",
            lim.rlim_cur
        );
        return fits as usize;
    }
    wanted
}

/// The connection cap (no file-descriptor limit is read on this platform).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn fit_connection_cap(wanted: usize) -> usize {
    wanted
}
