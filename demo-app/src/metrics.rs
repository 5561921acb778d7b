//! `GET /metrics`: the drain's status in the Prometheus (OpenMetrics) text format.

use handover::http::{header, HeaderValue, StatusCode};
use handover::{text, DrainStatus, DrainToken, Phase, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn as_i64<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// The status as metrics, registered afresh for each scrape.
fn registry(status: &DrainStatus) -> Registry {
    let mut registry = Registry::with_prefix("handover");
    let phases = Family::<PhaseLabel, Gauge>::default();
    for phase in Phase::ALL {
        phases
            .get_or_create(&PhaseLabel {
                phase: phase.as_str(),
            })
            .set(i64::from(phase == status.phase));
    }
    registry.register("phase", "1 for the drain phase the server is in", phases);
    let in_phase = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    in_phase.set(status.in_phase.as_secs_f64());
    registry.register("phase_seconds", "Time spent in the current phase", in_phase);
    registry.register(
        "generation",
        "SERVER_STARTER_GENERATION of this process (0 outside Server::Starter)",
        gauge(as_i64(status.generation.unwrap_or(0))),
    );
    let connections = Family::<KindLabel, Gauge>::default();
    for (kind, open) in &status.connections {
        connections
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .set(as_i64(*open));
    }
    registry.register("open_connections", "Open connections by kind", connections);
    registry.register(
        "requests_in_flight",
        "Requests whose response has not finished",
        gauge(as_i64(status.in_flight)),
    );
    registry.register(
        "requests",
        "Requests that arrived, health probes included",
        counter(status.requests),
    );
    registry.register(
        "health_probes",
        "Requests for the health path",
        counter(status.probes),
    );
    registry.register(
        "health_probes_refused",
        "Health probes answered 503",
        counter(status.probes_refused),
    );
    registry
}

/// The `/metrics` answer for the drain `token` watches.
pub(crate) fn metrics(token: &DrainToken) -> Response {
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &registry(&token.status())) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, format!("metrics: {e}\n"));
    }
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_is_exposed() {
        let droplet = handover::Droplet::new(handover::Config::default());
        let token = droplet.drain_token();
        let response = metrics(&token);
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        for line in [
            "handover_phase{phase=\"serving\"} 1",
            "handover_phase{phase=\"linger\"} 0",
            "handover_generation 0",
            "handover_open_connections{kind=\"http2\"} 0",
            "handover_requests_in_flight 0",
            "handover_requests_total 0",
            "handover_health_probes_refused_total 0",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(text.contains("handover_phase_seconds "), "{text}");
    }
}
