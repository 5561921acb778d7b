//! The root crate's contract without any framework: a minimal blocking
//! `ServerFactory` served through `Droplet::serve` on a real listener.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use handover::adapter::{
    DrainHooks, HookFuture, ListenSocket, Listener, ServeContext, Server, ServerFactory,
};
use handover::config::ServerConfig;
use handover::http::StatusCode;
use handover::{text, Config, Droplet, Error, ErrorKind, Identity, Outcome, Request, RequestExt};

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Answers one request per connection on a thread of its own; the drain
/// stops it accepting.
struct LineServer(Vec<Listener>);

/// The line server's hook: a flag its accept loop checks.
struct StopFlag(Arc<AtomicBool>);

impl DrainHooks for StopFlag {
    fn stop_accepting(&self) -> HookFuture<'_> {
        self.0.store(true, Ordering::SeqCst);
        Box::pin(async {})
    }
    fn close_idle(&self) {}
}

impl Server for LineServer {
    fn run(mut self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let ListenSocket::Tcp(listener) = self.0.remove(0).into_socket() else {
            return Err(Error::new(ErrorKind::Serve, "tcp only"));
        };
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _counted = ctx.connections().open();
                            serve_one(stream, &ctx);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            })
        };
        ctx.ready("line server");
        let outcome = ctx.drain_blocking(&StopFlag(stop));
        // A forced stop leaves the connection being served where it is (cut
        // when the process ends); a graceful one has nothing left.
        if outcome == Outcome::Graceful {
            accepting.join().expect("the accept loop ends");
        }
        Ok(outcome)
    }
}

fn serve_one(stream: TcpStream, ctx: &ServeContext) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
    let request = handover::http::Request::builder()
        .method(method)
        .uri(path)
        .body(handover::bytes::Bytes::new())
        .unwrap();
    let response = block_on(ctx.responder().respond(request));
    let body = response.body().as_bytes().expect("whole bytes").clone();
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status().as_u16(),
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
}

struct LineFactory;

impl ServerFactory for LineFactory {
    fn name(&self) -> &str {
        "line"
    }
    fn make_server(
        &self,
        _: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        Ok(Box::new(LineServer(listeners)))
    }
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_registered_factory_serves_the_router_until_the_drain() {
    let config = Config::from_toml("server = \"line\"", "test").unwrap();
    let router = handover::Router::new()
        .get("/hello/{name}", |req: Request| async move {
            let name = req.param("name").unwrap().to_owned();
            text(StatusCode::OK, format!("hello {name}"))
        })
        .unwrap();
    let droplet = Droplet::new(config)
        .with_factory(LineFactory)
        .with_responder(router);
    let trigger = droplet.trigger();
    let token = droplet.drain_token();
    let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std.set_nonblocking(true).unwrap();
    let addr = std.local_addr().unwrap();
    let listener = Listener::from(std);
    let identity = Identity::unsupervised();
    let server = std::thread::spawn(move || droplet.serve(vec![listener], identity));

    let ok = get(addr, "/hello/vapor");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("hello vapor"), "{ok}");
    assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
    assert!(!token.is_draining());

    trigger.drain();
    assert!(token.is_draining());
    let outcome = server.join().unwrap().unwrap();
    assert_eq!(outcome, Outcome::Graceful);
    assert_eq!(outcome.exit_code(), 0);
}

/// `serve` (no signal owner) still has the drain's deadline: a connection
/// that never ends is cut at `shutdown_timeout` and the outcome says so.
#[test]
fn serve_enforces_the_shutdown_timeout() {
    let config = Config::from_toml(
        "server = \"line\"\n[http]\nshutdown_timeout = \"200ms\"\ndrain_linger = \"0s\"\n",
        "test",
    )
    .unwrap();
    let (called, handler_called) = std::sync::mpsc::channel();
    let called = std::sync::Mutex::new(called);
    let router = handover::Router::new()
        .get("/hang", move |_: Request| {
            called.lock().unwrap().send(()).unwrap();
            std::future::pending::<handover::Response>()
        })
        .unwrap();
    let droplet = Droplet::new(config)
        .with_factory(LineFactory)
        .with_responder(router);
    let trigger = droplet.trigger();
    let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std.set_nonblocking(true).unwrap();
    let addr = std.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        droplet.serve(vec![Listener::from(std)], Identity::unsupervised())
    });
    // A request whose handler never answers holds its connection open.
    let mut hanging = TcpStream::connect(addr).unwrap();
    write!(hanging, "GET /hang HTTP/1.1\r\n\r\n").unwrap();
    handler_called
        .recv_timeout(Duration::from_secs(30))
        .expect("the handler runs");
    trigger.drain();
    let outcome = server.join().unwrap().unwrap();
    assert_eq!(
        outcome,
        Outcome::Forced {
            reason: handover::ForceReason::Deadline,
            cut: 1
        }
    );
    assert_eq!(outcome.exit_code(), 3);
}
