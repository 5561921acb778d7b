//! TLS for tests: a certificate made at test time (rcgen) and a real TLS
//! client (rustls) that speaks the same HTTP/1.1 as the plain helpers.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::{exchange, Resp};

/// A client TLS stream over `S`.
pub type TlsStream<S> = StreamOwned<ClientConnection, S>;

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, written
/// as PEM files, and a client that trusts it.
pub struct TestCert {
    /// The certificate chain, as a PEM file.
    pub cert: PathBuf,
    /// Its private key, as a PEM file.
    pub key: PathBuf,
    /// A client offering ALPN `http/1.1`, the protocol it speaks.
    client: Arc<ClientConfig>,
    roots: RootCertStore,
}

fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

impl TestCert {
    /// Makes the certificate and writes `cert.pem` and `key.pem` in `dir`.
    pub fn new(dir: &Path) -> TestCert {
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        TestCert {
            cert,
            key,
            client: Arc::new(client_config(roots.clone(), &[b"http/1.1"])),
            roots,
        }
    }

    /// The `[http.security_layer.tls]` table naming the two files.
    pub fn toml(&self) -> String {
        format!(
            "[http.security_layer.tls]\ncertificate_chain = {:?}\nprivate_key = {:?}\n",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }

    /// Completes a handshake on `io` as `localhost`; returns the stream and
    /// the protocol ALPN chose.
    pub fn handshake<S: Read + Write>(&self, io: S) -> io::Result<(TlsStream<S>, Option<Vec<u8>>)> {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, io);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        let alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
        Ok((stream, alpn))
    }

    /// The protocol ALPN picks when a client offers `offered`, in that order.
    pub fn alpn(&self, addr: SocketAddr, offered: &[&[u8]]) -> io::Result<Option<Vec<u8>>> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let config = Arc::new(client_config(self.roots.clone(), offered));
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream.conn.alpn_protocol().map(<[u8]>::to_vec))
    }

    /// `GET path` over TLS on TCP; the response and the ALPN protocol.
    pub fn get(&self, addr: SocketAddr, path: &str) -> io::Result<(Resp, Option<Vec<u8>>)> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let (stream, alpn) = self.handshake(tcp)?;
        Ok((exchange(Lenient(stream), "GET", path, b"")?, alpn))
    }

    /// `GET path` over TLS on a TCP connection the caller opened earlier.
    pub fn get_on(&self, tcp: TcpStream, path: &str) -> io::Result<Resp> {
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let (stream, _) = self.handshake(tcp)?;
        exchange(Lenient(stream), "GET", path, b"")
    }

    /// `GET uri` over TLS on a unix socket.
    pub fn get_unix(&self, path: &Path, uri: &str) -> io::Result<Resp> {
        let unix = UnixStream::connect(path)?;
        unix.set_read_timeout(Some(Duration::from_secs(30)))?;
        let (stream, _) = self.handshake(unix)?;
        exchange(Lenient(stream), "GET", uri, b"")
    }
}

/// A stream whose end without a TLS `close_notify` reads as a plain end of
/// stream: the responses read through it carry `Content-Length`, so a cut
/// body is still an error (`read_exact` fails).
struct Lenient<S>(S);

impl<S: Read> Read for Lenient<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

impl<S: Write> Write for Lenient<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
