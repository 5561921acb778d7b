//! One connection's service: the app's tower service, called with axum's
//! request type and what a handler extracts from each request's
//! extensions (its connection's `ConnectInfo`, when the app asked for it;
//! the drain token is the server thread's, see `Drain`).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use handover::adapter::PeerAddr;
use hyper::body::Incoming;
use tower::ServiceExt;

/// Calls the app's service for each request of one connection.
#[derive(Clone)]
pub(crate) struct Connection<S> {
    pub(crate) app: S,
    /// The connection's peer (TCP only).
    pub(crate) peer: Option<SocketAddr>,
    /// Whether requests carry `ConnectInfo<SocketAddr>` (`with_connect_info`).
    pub(crate) connect_info: bool,
    /// Whether requests also carry handover's `PeerAddr` (`[app] peer_addr`).
    pub(crate) record_peer: bool,
}

impl<S> hyper::service::Service<http::Request<Incoming>> for Connection<S>
where
    S: tower::Service<axum::extract::Request> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tower::util::Oneshot<S, axum::extract::Request>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        let extensions = request.extensions_mut();
        if let Some(peer) = self.peer {
            if self.connect_info {
                // As `into_make_service_with_connect_info::<SocketAddr>()` does.
                extensions.insert(ConnectInfo(peer));
            }
            if self.record_peer {
                extensions.insert(PeerAddr(peer));
            }
        }
        // A tower service is called once ready; a clone keeps `&self`.
        self.app.clone().oneshot(request)
    }
}
