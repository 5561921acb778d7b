//! Keep-alive load for hot-deploy tests: clients sending requests until
//! told to stop, counting how each one ended.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{wait_until, KeepAlive, Tally};

/// One request of a load: method, path, headers, body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: &'static str,
    /// The path (and query).
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// `GET path`.
    pub fn get(path: &str) -> Request {
        Request {
            method: "GET",
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Which request a client sends next, given how many it has sent.
pub type Plan = Arc<dyn Fn(u64) -> Request + Send + Sync>;

/// Keep-alive clients sending requests until told to stop, and how many
/// requests they have made so far.
pub struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    clients: Vec<thread::JoinHandle<Tally>>,
}

impl Load {
    /// `clients` keep-alive clients, each sending `GET /` every `period`
    /// (back to back when zero).
    pub fn start(addr: SocketAddr, clients: usize, period: Duration) -> Load {
        Load::start_with(addr, clients, period, Arc::new(|_| Request::get("/")))
    }

    /// Like [`Load::start`], each client sending the requests `plan` names.
    pub fn start_with(addr: SocketAddr, clients: usize, period: Duration, plan: Plan) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let clients = (0..clients)
            .map(|_| {
                let (stop, done, plan) = (stop.clone(), done.clone(), plan.clone());
                thread::spawn(move || client_loop(addr, period, &stop, &done, &*plan))
            })
            .collect();
        Load {
            stop,
            done,
            clients,
        }
    }

    /// Waits until the clients have made `n` more requests (answered or not).
    pub fn wait_requests(&self, n: u64) {
        let target = self.done.load(Ordering::SeqCst) + n;
        wait_until(Duration::from_secs(60), "the clients' requests", || {
            self.done.load(Ordering::SeqCst) >= target
        });
    }

    /// Stops the clients and adds up what they saw.
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut tally = Tally::default();
        for c in self.clients {
            tally.merge(c.join().unwrap());
        }
        tally
    }
}

fn client_loop(
    addr: SocketAddr,
    period: Duration,
    stop: &AtomicBool,
    done: &AtomicU64,
    plan: &(dyn Fn(u64) -> Request + Send + Sync),
) -> Tally {
    let mut client = KeepAlive::new(addr);
    let mut tally = Tally::default();
    let mut sent = 0;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let req = plan(sent);
        sent += 1;
        let outcome = client.request_with(req.method, &req.path, &req.headers, &req.body);
        tally.add(outcome);
        done.fetch_add(1, Ordering::SeqCst);
        // The clients' pace, not a wait: a sparse client idles between requests.
        if let Some(rest) = period.checked_sub(started.elapsed()) {
            thread::sleep(rest);
        }
    }
    tally
}
