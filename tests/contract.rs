//! The root crate's contract without any framework: a minimal blocking
//! `ServerFactory` served through `Droplet::serve` on a real listener.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use handover::http::StatusCode;
use handover::listener::bind_tcp;
use handover::{
    text, Body, Config, Droplet, Error, ErrorKind, Identity, ListenSocket, Listener, Outcome,
    Params, Request, ServeContext, Server, ServerConfig, ServerFactory,
};

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// Answers one request per connection; stops accepting when the drain starts.
struct LineServer(Vec<Listener>);

impl Server for LineServer {
    fn run(mut self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let ListenSocket::Tcp(listener) = self.0.remove(0).into_socket() else {
            return Err(Error::new(ErrorKind::Serve, "tcp only"));
        };
        ctx.ready("line server");
        loop {
            if ctx.shutdown().is_draining() {
                return Ok(Outcome::Graceful);
            }
            match listener.accept() {
                Ok((stream, _)) => serve_one(stream, &ctx),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(Error::new(ErrorKind::Serve, "accept").with_source(e)),
            }
        }
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
    let Body::Data(body) = response.body() else {
        panic!("data body expected")
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status().as_u16(),
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
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
            let name = req
                .extensions()
                .get::<Params>()
                .unwrap()
                .get("name")
                .unwrap()
                .to_owned();
            text(StatusCode::OK, format!("hello {name}"))
        })
        .unwrap();
    let droplet = Droplet::new(config)
        .with_factory(LineFactory)
        .with_responder(router);
    let trigger = droplet.trigger();
    let token = droplet.drain_token();
    let listener = bind_tcp("127.0.0.1", 0, 16).unwrap();
    let addr = listener.tcp_addr().unwrap();
    let identity = Identity {
        pid: std::process::id(),
        generation: None,
    };
    let server = std::thread::spawn(move || droplet.serve(vec![listener], identity));

    let ok = get(addr, "/hello/vapor");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("hello vapor"), "{ok}");
    assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
    assert!(!token.is_draining());

    trigger.drain(handover::shutdown::DrainReason::Requested);
    assert!(token.is_draining());
    let outcome = server.join().unwrap().unwrap();
    assert_eq!(outcome, Outcome::Graceful);
    assert_eq!(outcome.exit_code(), 0);
}
