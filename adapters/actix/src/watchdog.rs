//! The head timeout actix-http leaves out. Its `client_request_timeout` times
//! only a connection's *first* request head; after a keep-alive response its
//! keep-alive timer stops at the first byte of the next head, and nothing
//! times that head: one that trickles in a byte at a time, or stalls after
//! its first byte, holds the connection for ever (a slowloris).
//!
//! The adapter cannot see a head arrive (actix reads and parses it), so it
//! bounds what it can see: a connection on which no request has started
//! within `keep_alive` + `request_timeout` of the previous response (or of
//! the connection) is closed. An idle connection is closed by actix at
//! `keep_alive`, so one still open after that has been sending a head for
//! at least `request_timeout`, or has stopped reading its response.
//!
//! The cost is per connection, not per request: a connection's requests
//! count themselves in a pair of cells in its `on_connect` data, and one
//! task per worker thread checks that thread's connections once per
//! `request_timeout`. A connection is closed with `shutdown(2)` on its
//! socket, which actix then reads as the client going away.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use actix_web::dev::Extensions;

/// The limits of one server, for its worker threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a connection may go without starting a request.
    budget: Duration,
    /// How often it is checked.
    period: Duration,
}

impl Limits {
    /// `keep_alive` + `request_timeout`, checked every `request_timeout`;
    /// `None` when either is zero (with keep-alive off, only the first head
    /// exists, and actix times it).
    pub(crate) fn new(keep_alive: Duration, request_timeout: Duration) -> Option<Limits> {
        (!keep_alive.is_zero() && !request_timeout.is_zero()).then(|| Limits {
            budget: keep_alive.saturating_add(request_timeout),
            period: request_timeout,
        })
    }
}

/// A connection's requests, as its on_connect data.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Requests in progress: a handler running or a response body streaming.
    busy: Cell<usize>,
    /// Requests finished so far.
    done: Cell<u64>,
}

/// The on_connect data the middleware finds [`Activity`] under.
#[derive(Debug, Clone)]
pub(crate) struct Watched(Rc<Activity>);

impl Watched {
    /// Counts a request as in progress until the guard drops.
    pub(crate) fn start(&self) -> Busy {
        self.0.busy.set(self.0.busy.get() + 1);
        Busy(self.0.clone())
    }
}

/// Keeps a request counted as in progress.
#[derive(Debug)]
pub(crate) struct Busy(Rc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.done.set(self.0.done.get().wrapping_add(1));
    }
}

/// A connection's socket: its fd, and what it was when the connection
/// began, so a number reused after the connection closed is never touched.
#[derive(Debug, Clone, Copy)]
struct Socket {
    fd: RawFd,
    id: (u64, u64),
}

/// The device and inode of the file `fd` refers to.
fn identity(fd: RawFd) -> Option<(u64, u64)> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer, and only reads `fd`.
    let rc = unsafe { libc::fstat(fd, stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    let stat = unsafe { stat.assume_init() };
    // Their types differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    let id = (stat.st_dev as u64, stat.st_ino as u64);
    Some(id)
}

impl Socket {
    /// The connection's socket `fd`, as it is now.
    fn of(fd: RawFd) -> Option<Socket> {
        Some(Socket {
            fd,
            id: identity(fd)?,
        })
    }

    /// Ends the connection: reads see end of file, writes fail. Only on the
    /// socket it was; a closed one (its number free or reused) is left alone.
    fn shut_down(self) {
        // While the number still names the socket recorded at accept (same
        // device and inode), that socket is open, so the connection's stream
        // still owns it; the stream lives on this worker thread, which is
        // busy here, so nothing closes it between the check and the call.
        // Once the stream has closed it, the number is free or names another
        // file, and the check fails.
        if identity(self.fd) != Some(self.id) {
            return;
        }
        // SAFETY: shutdown only reads its integer arguments; `fd` is the
        // connection's open socket (checked above).
        if unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) } != 0 {
            log::debug!(
                "actix: shutdown of a late connection: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// One connection, as the worker thread's checker sees it.
#[derive(Debug)]
struct Entry {
    activity: Weak<Activity>,
    socket: Socket,
    /// Finished requests at the last check that saw a change, and that check.
    mark: u64,
    since: Instant,
}

/// The connections of one worker thread.
#[derive(Debug)]
struct Registry {
    limits: Limits,
    entries: Vec<Entry>,
}

impl Registry {
    /// Closes the connections past the budget at `now`; forgets the gone ones.
    fn check(&mut self, now: Instant) {
        let budget = self.limits.budget;
        self.entries.retain_mut(|entry| {
            let Some(activity) = entry.activity.upgrade() else {
                return false;
            };
            let done = activity.done.get();
            if activity.busy.get() > 0 || done != entry.mark {
                entry.mark = done;
                entry.since = now;
                return true;
            }
            if now.saturating_duration_since(entry.since) < budget {
                return true;
            }
            log::debug!("actix: closing a connection that started no request for {budget:?}");
            entry.socket.shut_down();
            false
        });
    }
}

thread_local! {
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Watches a new HTTP/1 connection on socket `fd` (from `on_connect`, on
/// its worker thread): puts its [`Watched`] in `data` and starts the
/// thread's checker if needed.
pub(crate) fn watch(fd: RawFd, data: &mut Extensions, limits: Limits) {
    let Some(socket) = Socket::of(fd) else {
        log::debug!("actix: fstat of a new connection's socket failed; its late heads go untimed");
        return;
    };
    let activity = Rc::new(Activity::default());
    let entry = Entry {
        activity: Rc::downgrade(&activity),
        socket,
        mark: 0,
        since: Instant::now(),
    };
    data.insert(Watched(activity));
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let registry = registry.get_or_insert_with(|| {
            actix_web::rt::spawn(checker(limits.period));
            Registry {
                limits,
                entries: Vec::new(),
            }
        });
        registry.entries.push(entry);
    });
}

/// Checks the thread's connections every `period`, for as long as the
/// worker runs.
async fn checker(period: Duration) {
    loop {
        actix_web::rt::time::sleep(period).await;
        REGISTRY.with(|registry| {
            if let Some(registry) = registry.borrow_mut().as_mut() {
                registry.check(Instant::now());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    const SECOND: Duration = Duration::from_secs(1);

    fn registry(activity: &Rc<Activity>, socket: Socket, t0: Instant) -> Registry {
        Registry {
            limits: Limits {
                budget: 3 * SECOND,
                period: SECOND,
            },
            entries: vec![Entry {
                activity: Rc::downgrade(activity),
                socket,
                mark: 0,
                since: t0,
            }],
        }
    }

    /// A connected pair of TCP sockets on loopback: (the server's, the client's).
    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_read_timeout(Some(SECOND)).unwrap();
        (server, client)
    }

    fn recorded(server: &std::net::TcpStream) -> Socket {
        let fd = server.as_raw_fd();
        Socket {
            fd,
            id: identity(fd).unwrap(),
        }
    }

    /// Whether the client has read end of file: its connection was shut down.
    fn ended(client: &std::net::TcpStream) -> bool {
        use std::io::Read;
        client.set_nonblocking(true).unwrap();
        let ended = matches!((&*client).read(&mut [0u8; 1]), Ok(0));
        client.set_nonblocking(false).unwrap();
        ended
    }

    #[test]
    fn limits_need_both_timeouts() {
        assert!(Limits::new(Duration::ZERO, SECOND).is_none());
        assert!(Limits::new(SECOND, Duration::ZERO).is_none());
        let limits = Limits::new(5 * SECOND, 2 * SECOND).unwrap();
        assert_eq!((limits.budget, limits.period), (7 * SECOND, 2 * SECOND));
    }

    #[test]
    fn only_a_connection_without_requests_for_the_budget_is_closed() {
        let (server, client) = pair();
        let activity = Rc::new(Activity::default());
        let watched = Watched(activity.clone());
        let t0 = Instant::now();
        let mut registry = registry(&activity, recorded(&server), t0);
        registry.check(t0 + 2 * SECOND);
        assert_eq!(registry.entries.len(), 1, "within the budget");
        let busy = watched.start();
        registry.check(t0 + 10 * SECOND);
        assert_eq!(registry.entries.len(), 1, "a request is in progress");
        drop(busy);
        registry.check(t0 + 12 * SECOND);
        registry.check(t0 + 14 * SECOND);
        assert_eq!(registry.entries.len(), 1, "a request ended at 12 s");
        assert!(!ended(&client), "still open while within the budget");
        registry.check(t0 + 15 * SECOND);
        assert!(registry.entries.is_empty(), "closed 3 s after");
        assert!(ended(&client), "the connection was shut down");
    }

    #[test]
    fn gone_connections_are_forgotten_and_left_alone() {
        let (server, client) = pair();
        let activity = Rc::new(Activity::default());
        let t0 = Instant::now();
        let mut registry = registry(&activity, recorded(&server), t0);
        drop(activity);
        registry.check(t0 + 60 * SECOND);
        assert!(registry.entries.is_empty());
        assert!(!ended(&client), "a gone connection's socket is not touched");
    }

    #[test]
    fn only_the_recorded_socket_is_shut_down() {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = || {
            let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (theirs, _) = listener.accept().unwrap();
            theirs.set_read_timeout(Some(SECOND)).unwrap();
            ours.set_read_timeout(Some(SECOND)).unwrap();
            (ours, theirs)
        };
        let (old, mut old_peer) = pair();
        let (new, mut new_peer) = pair();
        let old_id = identity(old.as_raw_fd()).unwrap();

        // A number that now names another socket (as after the recorded one
        // closed and the number was reused; simulated by recording `old`'s
        // identity with `new`'s number, so no fd is closed or dup2-ed under
        // the other tests' feet): left alone.
        Socket {
            fd: new.as_raw_fd(),
            id: old_id,
        }
        .shut_down();
        let mut buf = [0u8; 4];
        (&new).write_all(b"ping").unwrap();
        new_peer.read_exact(&mut buf).unwrap();
        new_peer.write_all(b"pong").unwrap();
        (&new).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong", "the other socket still works both ways");

        // The recorded socket: shut down, the peer sees the end.
        Socket {
            fd: old.as_raw_fd(),
            id: old_id,
        }
        .shut_down();
        assert_eq!(old_peer.read(&mut buf).unwrap(), 0, "the peer reads EOF");
    }

    #[test]
    fn a_closed_fd_is_not_shut_down() {
        // An fd that is not open: its identity cannot match.
        assert_eq!(identity(-1), None);
        Socket { fd: -1, id: (0, 0) }.shut_down();
    }
}
