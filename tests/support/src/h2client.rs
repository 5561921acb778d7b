//! hyper's HTTP/2 client as a load that retries what RFC 9113 says was never
//! processed: a stream refused with `REFUSED_STREAM`, a stream above the
//! last stream id of a GOAWAY, and a request the client could not send
//! because the connection had already received its GOAWAY (section 8.7).
//! Anything else is a failure.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the load saw.
#[derive(Debug, Default, Clone)]
pub struct Retried {
    /// Requests answered 200 (each counted once, however often retried).
    pub ok: u64,
    /// Attempts retried because the server had not processed them.
    pub retries: u64,
    /// Connections opened.
    pub connections: u64,
    /// What went wrong with each request that failed.
    pub failures: Vec<String>,
}

/// Whether `e` says the request was never processed, so RFC 9113 lets a
/// client retry it (REFUSED_STREAM, above a GOAWAY's last stream id, or not
/// sent at all: the connection had closed, or hyper cancelled the request
/// before sending it).
pub fn never_processed(e: &hyper::Error) -> bool {
    if e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away()
                    && h2.is_remote()
                    && h2.reason() == Some(h2::Reason::NO_ERROR));
        }
        source = err.source();
    }
    false
}

/// A client's connection (with a number per connection opened), opened
/// again once a request on it was refused or it closed.
struct Conn {
    addr: SocketAddr,
    send: tokio::sync::Mutex<Option<(u64, SendRequest<Empty<Bytes>>)>>,
    opened: AtomicU64,
}

impl Conn {
    async fn sender(&self) -> Result<(u64, SendRequest<Empty<Bytes>>), String> {
        let mut send = self.send.lock().await;
        if let Some((n, s)) = send.as_ref() {
            if !s.is_closed() {
                return Ok((*n, s.clone()));
            }
        }
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (s, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        let n = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        *send = Some((n, s.clone()));
        Ok((n, s))
    }

    /// Opens a new connection for the next request, unless one was opened
    /// since connection `n` refused a request.
    async fn refused_on(&self, n: u64) {
        let mut send = self.send.lock().await;
        if send.as_ref().is_some_and(|(current, _)| *current == n) {
            *send = None;
        }
    }
}

/// One `GET path`, retried while the server says it never processed it
/// (at most 20 attempts).
async fn get_retrying(conn: &Conn, path: &str, tally: &mut Retried) {
    for _ in 0..20 {
        let (n, mut send) = match conn.sender().await {
            Ok(send) => send,
            Err(e) => return tally.failures.push(e),
        };
        let request = http::Request::get(format!("http://t{path}"))
            .body(Empty::new())
            .unwrap();
        let sent = match send.ready().await {
            Ok(()) => send.send_request(request).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(response) => {
                let status = response.status();
                return match response.into_body().collect().await {
                    Ok(_) if status == 200 => tally.ok += 1,
                    Ok(_) => tally.failures.push(format!("status {status}")),
                    Err(e) => tally.failures.push(format!("body: {e}")),
                };
            }
            Err(e) if never_processed(&e) => {
                tally.retries += 1;
                conn.refused_on(n).await;
            }
            Err(e) => {
                let source = std::error::Error::source(&e).map(ToString::to_string);
                return tally.failures.push(format!("{e} ({source:?})"));
            }
        }
    }
    tally
        .failures
        .push("still refused after 20 attempts".to_owned());
}

/// `clients` connections, each with `streams` requests for `path` in
/// flight at a time, until `stop` is set; `done` counts requests finished.
pub fn load(
    addr: SocketAddr,
    path: &'static str,
    clients: usize,
    streams: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Retried> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            let mut conns = Vec::new();
            for _ in 0..clients {
                let conn = Arc::new(Conn {
                    addr,
                    send: tokio::sync::Mutex::new(None),
                    opened: AtomicU64::new(0),
                });
                conns.push(conn.clone());
                for _ in 0..streams {
                    let (conn, stop, done) = (conn.clone(), stop.clone(), done.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut tally = Retried::default();
                        while !stop.load(Ordering::SeqCst) {
                            get_retrying(&conn, path, &mut tally).await;
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        tally
                    }));
                }
            }
            let mut all = Retried::default();
            for task in tasks {
                let t = match tokio::time::timeout(Duration::from_secs(60), task).await {
                    Ok(Ok(t)) => t,
                    other => {
                        all.failures.push(format!("client task: {other:?}"));
                        continue;
                    }
                };
                all.ok += t.ok;
                all.retries += t.retries;
                all.failures.extend(t.failures);
            }
            all.connections = conns.iter().map(|c| c.opened.load(Ordering::Relaxed)).sum();
            all
        })
    })
}
