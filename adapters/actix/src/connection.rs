//! One connection on an actix worker, from the socket actix-server hands
//! over: counted at once, its TLS handshake (tokio-rustls, bounded), the
//! choice of HTTP version (ALPN, or the HTTP/2 preface without it), then
//! actix-http's HTTP/1 dispatcher, or hyper's HTTP/2 connection, each
//! with what the server's `Mode` serves (`responder` or `native`). actix-web's `HttpServer` is not used: its
//! HTTP/2 (with its `http2` feature, which a build may turn on anywhere)
//! cannot drain, and it would offer `h2` in ALPN whatever the config says.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_service::{fn_factory, fn_service, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::AppConfig;
use actix_web::http::KeepAlive;
use actix_web::rt::net::{TcpStream, UnixStream};
use handover::adapter::{ConnectionGuard, Connections, Requests};
use handover_hyper::http2::{sniff, Http2, Prefixed, Sniffed};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::bridge::LocalExec;
use crate::watchdog::{self, Limits};

/// HTTP/1.1 as actix-http serves it.
#[derive(Clone)]
pub(crate) struct Http1 {
    pub(crate) keep_alive: KeepAlive,
    pub(crate) request_timeout: Duration,
    /// The late-head check actix lacks (see `watchdog`).
    pub(crate) limits: Option<Limits>,
    /// actix-server's graceful stop, which actix-http's HTTP/1 dispatchers
    /// watch: idle connections close, busy ones after their response.
    pub(crate) graceful: actix_server::GracefulShutdownSignal,
}

/// What every connection of a server shares (across worker threads).
pub(crate) struct Settings {
    pub(crate) connections: Connections,
    /// Counts each HTTP/2 stream for the drain (HTTP/1 requests are counted
    /// by the app's wrapper).
    pub(crate) requests: Requests,
    /// Set when the drain's linger ends.
    pub(crate) close_idle: watch::Receiver<bool>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) handshake_timeout: Option<Duration>,
    /// How long the first bytes may take when they decide the version.
    pub(crate) sniff_limit: Option<Duration>,
    pub(crate) http1: Option<Http1>,
    pub(crate) http2: Option<Http2<LocalExec>>,
}

/// Resolves once `flag` is set (never, if its sender is gone without setting it).
async fn closing(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `work` within `limit` (if any), unless `flag` is set first.
async fn bounded<T>(
    work: impl Future<Output = T>,
    limit: Option<Duration>,
    flag: &watch::Receiver<bool>,
) -> Option<T> {
    let mut flag = flag.clone();
    tokio::select! {
        biased;
        _ = closing(&mut flag) => None,
        done = async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, work).await.ok(),
                None => Some(work.await),
            }
        } => done,
    }
}

/// A stream whose socket the watchdog can close, and whose peer is known.
pub(crate) trait Socket: AsyncRead + AsyncWrite + Unpin + 'static {
    /// The connection's socket.
    fn socket_fd(&self) -> RawFd;
    /// The client's address (none on a unix socket).
    fn peer(&self) -> Option<SocketAddr>;
}

impl Socket for TcpStream {
    fn socket_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
    fn peer(&self) -> Option<SocketAddr> {
        self.peer_addr().ok()
    }
}

impl Socket for UnixStream {
    fn socket_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
    fn peer(&self) -> Option<SocketAddr> {
        None
    }
}

impl<S: Socket> Socket for TlsStream<S> {
    fn socket_fd(&self) -> RawFd {
        self.get_ref().0.socket_fd()
    }
    fn peer(&self) -> Option<SocketAddr> {
        self.get_ref().0.peer()
    }
}

/// Which HTTP a connection speaks, as far as its handshake says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Http1,
    Http2,
    /// No ALPN: the first bytes decide.
    Sniff,
}

/// Plain connections: the first bytes decide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain;

/// TLS connections: ALPN decides.
#[derive(Clone)]
pub(crate) struct Tls(pub(crate) TlsAcceptor);

/// What turns an accepted socket into the stream HTTP runs on.
pub(crate) trait Accept<IO>: Clone + 'static {
    type Conn: Socket;
    fn accept(
        &self,
        io: IO,
        settings: &Settings,
    ) -> impl Future<Output = Option<(Self::Conn, Choice)>>;
}

impl<IO: Socket> Accept<IO> for Plain {
    type Conn = IO;
    async fn accept(&self, io: IO, _: &Settings) -> Option<(IO, Choice)> {
        Some((io, Choice::Sniff))
    }
}

impl<IO: Socket> Accept<IO> for Tls {
    type Conn = TlsStream<IO>;
    async fn accept(&self, io: IO, settings: &Settings) -> Option<(TlsStream<IO>, Choice)> {
        // A handshake still running when idle connections close has no request yet.
        let limit = settings.handshake_timeout;
        match bounded(self.0.accept(io), limit, &settings.close_idle).await? {
            Ok(stream) => {
                let choice = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Choice::Http2,
                    _ => Choice::Http1,
                };
                Some((stream, choice))
            }
            Err(e) => {
                log::debug!("actix: TLS handshake failed: {e}");
                None
            }
        }
    }
}

/// What a server serves on each worker: the HTTP/1 service (actix-http's
/// dispatcher calls it) and what serves an HTTP/2 connection.
pub(crate) trait Mode: Clone + 'static {
    /// The HTTP/1 service's response.
    type Response: Into<actix_http::Response<Self::Body>>;
    /// Its response body.
    type Body: MessageBody + 'static;
    /// Its error, as a response.
    type Error: Into<actix_http::Response<BoxBody>>;

    /// The HTTP/1 service of one worker.
    fn http1(
        self,
        app_config: AppConfig,
    ) -> impl ServiceFactory<
        actix_http::Request,
        Config = (),
        Response = Self::Response,
        Error = Self::Error,
        InitError = (),
    > + 'static;

    /// What serves the HTTP/2 connections of one worker.
    fn http2(self, app_config: AppConfig) -> impl Future<Output = Result<impl H2Serve, ()>>;
}

/// Serves one HTTP/2 connection.
pub(crate) trait H2Serve: 'static {
    fn serve<C: Socket>(
        &self,
        conn: Prefixed<C>,
        peer: Option<SocketAddr>,
        settings: &Settings,
        http2: &Http2<LocalExec>,
        counted: ConnectionGuard,
    ) -> impl Future<Output = ()>;
}

/// The service actix-server runs on a worker for one listener: builds what
/// `mode` serves (once for HTTP/1, once for HTTP/2) and serves each connection.
pub(crate) fn worker<IO, A, M>(
    settings: Arc<Settings>,
    accept: A,
    mode: M,
    local: SocketAddr,
) -> impl ServiceFactory<IO, Config = (), Response = (), Error = (), InitError = ()>
where
    IO: Socket,
    A: Accept<IO>,
    M: Mode,
{
    fn_factory(move || {
        let (settings, accept, mode) = (settings.clone(), accept.clone(), mode.clone());
        async move {
            let secure = settings.tls.is_some();
            // What actix-web's `HttpServer` gives the app (its `AppConfig::new`
            // is crate-private; this is its public twin).
            let app_config = AppConfig::__priv_test_new(secure, local.to_string(), local);
            let h1 = match &settings.http1 {
                Some(http1) => {
                    let factory = http1_service::<A::Conn, _, _>(
                        http1.clone(),
                        mode.clone().http1(app_config.clone()),
                        local,
                    );
                    let service = factory.new_service(()).await.map_err(|e| {
                        log::error!("actix: cannot start the HTTP/1 service: {e:?}")
                    })?;
                    Some(Rc::new(service))
                }
                None => None,
            };
            let h2 = match &settings.http2 {
                Some(_) => Some(Rc::new(mode.clone().http2(app_config).await?)),
                None => None,
            };
            Ok::<_, ()>(fn_service(move |io: IO| {
                // Counted from the moment the worker has it, before TLS.
                let counted = settings.connections.open();
                let (settings, accept, h1, h2) =
                    (settings.clone(), accept.clone(), h1.clone(), h2.clone());
                async move {
                    let peer = io.peer();
                    if let Some((conn, choice)) = accept.accept(io, &settings).await {
                        serve(conn, choice, peer, counted, &settings, h1, h2).await;
                    }
                    Ok::<(), ()>(())
                }
            }))
        }
    })
}

/// actix-http's HTTP/1 service for `factory`'s service on streams of type
/// `S`, with the adapter's settings.
fn http1_service<S, F, B>(
    http1: Http1,
    factory: F,
    local: SocketAddr,
) -> impl ServiceFactory<
    (Prefixed<S>, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = (),
    InitError = (),
>
where
    S: Socket,
    F: ServiceFactory<actix_http::Request, Config = (), InitError = ()> + 'static,
    F::Response: Into<actix_http::Response<B>>,
    F::Error: Into<actix_http::Response<BoxBody>>,
    B: MessageBody + 'static,
{
    let Http1 {
        keep_alive,
        request_timeout,
        limits,
        graceful,
    } = http1;
    actix_http::HttpService::build()
        .keep_alive(keep_alive)
        .client_request_timeout(request_timeout)
        // actix-web's `HttpServer` default.
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(local)
        // How actix-web's `HttpServer` tells HTTP/1 dispatchers of a
        // graceful stop (a hidden builder method: it has no other).
        .graceful_shutdown_signal(move || {
            let graceful = graceful.clone();
            async move { graceful.notified().await }
        })
        .on_connect_ext(move |io: &Prefixed<S>, data| {
            // actix times a connection's first head only; see `watchdog`.
            if let Some(limits) = limits {
                watchdog::watch(io.get_ref().socket_fd(), data, limits);
            }
        })
        .h1(factory)
        .map_err(|e| log::debug!("actix: connection ended: {e}"))
}

/// Serves one connection whose handshake is done, with the HTTP its
/// handshake or its first bytes chose.
async fn serve<C, H1, H2>(
    conn: C,
    choice: Choice,
    peer: Option<SocketAddr>,
    counted: ConnectionGuard,
    settings: &Settings,
    h1: Option<Rc<H1>>,
    h2: Option<Rc<H2>>,
) where
    C: Socket,
    H1: Service<(Prefixed<C>, Option<SocketAddr>), Response = (), Error = ()> + 'static,
    H2: H2Serve,
{
    let mut conn = conn;
    let (choice, read) = match choice {
        Choice::Sniff if settings.http2.is_some() => {
            match bounded(sniff(&mut conn), settings.sniff_limit, &settings.close_idle).await {
                Some(Ok((Sniffed::Http2, read))) => (Choice::Http2, read),
                Some(Ok((Sniffed::Http1, read))) => (Choice::Http1, read),
                Some(Ok((Sniffed::Closed, _))) => return,
                Some(Err(e)) => return log::debug!("actix: connection ended: {e}"),
                None => {
                    return log::debug!("actix: closing a connection that sent no request in time")
                }
            }
        }
        Choice::Sniff => (Choice::Http1, Vec::new()),
        other => (other, Vec::new()),
    };
    let conn = Prefixed::new(conn, read);
    match (choice, h1, h2, &settings.http2) {
        (Choice::Http2, _, Some(h2), Some(http2)) => {
            // Boxed: hyper's HTTP/2 connection is several KiB, and unboxed it
            // would size every connection's task, HTTP/1 ones included
            // (`bench/idle_rss.py`).
            Box::pin(h2.serve(conn, peer, settings, http2, counted)).await;
        }
        (Choice::Http1, Some(h1), _, _) => {
            let _counted = counted;
            let _ = h1.call((conn, peer)).await;
        }
        (choice, ..) => {
            log::debug!("actix: closing a connection: http.versions does not serve {choice:?}")
        }
    }
}
