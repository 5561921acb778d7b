//! The conformance suite: one set of end-to-end cases, run against every
//! adapter. Each case starts the conformance app ([`app`]) in a child process
//! (this test binary, re-run with [`CHILD`] set) on real sockets, sends real
//! signals, and runs real supervisors for hot deploys: the hot-deploy cases
//! run once under Perl's `start_server` and once under ours
//! (`<adapter>::perl::<case>`, `<adapter>::ours::<case>`).
//!
//! Adding an adapter is one line in the [`adapters!`] call below; every case
//! in [`cases!`] then runs against it as `<adapter>::<case>`
//! (`cargo test --test conformance hyper::`). No adapter has an exception
//! today; one that cannot pass a case must be listed with its reason in
//! `docs/writing-an-adapter.md` and the case must check for the documented
//! behaviour instead, never skip silently.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use handover_test_support as support;

mod app;
mod balancer;
mod drain;
mod faults;
mod h2;
mod h2_deploy;
mod h2_hostile;
mod hostile;
mod hygiene;
mod inherit;
mod middleware;
mod requests;
mod sse;
mod startup;
mod systemd;
mod tls;
mod websocket;
mod zero_failure;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Names the adapter the child process serves with; set only in the child.
const CHILD: &str = "HANDOVER_CONFORMANCE_ADAPTER";
/// The config file the child loads, if any.
const CHILD_CONFIG: &str = "HANDOVER_CONFORMANCE_CONFIG";

/// Registers every adapter (a line each) and instantiates every case for it.
macro_rules! adapters {
    ($($name:ident => $factory:expr;)*) => {
        /// Every adapter's factory, registered by name on the child's droplet.
        fn register(droplet: handover::Droplet) -> handover::Droplet {
            droplet $(.with_factory($factory))*
        }
        $(
            mod $name {
                cases!(stringify!($name));
            }
        )*
    };
}

/// Every case, as a test function taking the adapter under test.
macro_rules! cases {
    ($adapter:expr) => {
        cases!(@ $adapter;
            inherit::tcp_v4_listener_served_and_left_listening,
            inherit::tcp_v6_listener_served,
            inherit::unix_socket_served_and_never_unlinked,
            inherit::only_the_selected_socket_is_served,
            inherit::binds_the_configured_address_when_unsupervised,
            inherit::binds_a_unix_socket_from_config_with_its_mode_and_removes_it,
            systemd::tcp_and_unix_sockets_named_by_systemd_are_served,
            systemd::sockets_selected_by_name_or_address_leave_the_others_as_they_were,
            systemd::malformed_listen_fds_for_us_exits_1_naming_it,
            systemd::listen_vars_for_another_pid_are_ignored,
            tls::https_on_a_bound_listener_with_http_1_1_alpn,
            tls::https_on_an_inherited_listener_outlives_bad_and_silent_clients,
            tls::a_handshake_started_during_the_drain_is_answered,
            tls::tls_on_a_unix_socket_is_served,
            tls::bad_certificate_or_key_exits_1_naming_the_file,
            requests::methods_and_routing,
            requests::headers_in_and_out,
            requests::large_request_body,
            requests::chunked_request_body,
            requests::chunked_response_body,
            requests::head_has_no_body,
            requests::over_the_body_limit_is_413,
            requests::malformed_request_line_is_400,
            requests::keep_alive_serves_many_requests_on_one_connection,
            requests::idle_keep_alive_connection_is_closed_after_keep_alive,
            requests::half_sent_head_is_closed_after_request_timeout,
            requests::slow_streamed_response_outlives_keep_alive,
            middleware::app_middleware_runs_in_the_configured_order,
            middleware::group_middleware_wraps_only_its_routes,
            middleware::a_panicking_handler_is_one_500_and_the_connection_goes_on,
            hostile::oversized_head_is_431,
            hostile::slowloris_head_is_closed_after_request_timeout,
            hostile::late_head_after_a_keep_alive_request_is_closed,
            hostile::slow_request_body_is_not_cut_by_the_timeouts,
            hostile::two_thousand_idle_connections_leave_the_server_responsive,
            hostile::hostile_clients_do_not_disturb_a_drain,
            drain::term_lets_the_in_flight_request_finish_then_exits_0,
            drain::deadline_forces_the_stop_with_exit_3,
            drain::second_term_during_drain_forces_with_exit_4,
            drain::repeat_signal_ignore_keeps_draining,
            drain::sigquit_forces_at_once,
            drain::lame_duck_reports_503_while_still_accepting,
            drain::idle_keep_alive_connection_gets_its_next_request_answered,
            drain::sd_notify_ready_then_stopping,
            startup::bind_failure_exits_1_naming_the_address,
            startup::stray_fd_exits_1_and_leaves_the_good_socket_listening,
            hygiene::children_of_the_app_hold_none_of_its_sockets,
            balancer::a_bound_listener_refuses_connections_once_accepting_stops,
            balancer::an_inherited_listener_keeps_queueing_for_the_next_generation,
            balancer::the_automatic_lame_duck_lasts_until_the_balancer_stops_sending,
            h2::h2c_prior_knowledge_and_http_1_1_on_one_listener,
            h2::tls_alpn_picks_h2_and_http_1_1_still_works,
            h2::versions_choose_what_is_served,
            h2::large_bodies_over_h2,
            h2::a_hundred_streams_at_once_on_one_connection,
            h2::the_drain_on_the_wire,
            h2::a_stream_opened_after_the_final_goaway_is_never_processed,
            h2_hostile::known_h2_attacks_leave_others_served_and_the_drain_bounded,
            h2_hostile::a_flood_of_streams_past_the_limit_is_refused_not_served,
            websocket::echo_text_binary_ping_and_a_client_close,
            websocket::a_frame_sent_with_the_handshake_is_echoed,
            websocket::an_oversized_message_is_closed_with_1009,
            websocket::fragments_arrive_whole_and_text_that_is_not_utf8_closes_with_1002,
            websocket::a_plain_request_to_a_socket_route_is_426,
            websocket::a_panicking_socket_handler_closes_with_1011_and_the_server_goes_on,
            websocket::the_drain_closes_with_1012_when_a_supervisor_holds_the_listener,
            websocket::the_drain_closes_with_1001_without_a_supervisor,
            websocket::a_handler_that_closes_itself_in_the_grace_sends_its_own_code,
            websocket::a_handler_that_never_returns_is_dropped_after_grace_and_close_timeout,
            websocket::an_open_socket_holds_the_drain_until_the_client_closes_it,
            websocket::the_deadline_cuts_a_socket_that_outlives_it,
        );
        mod perl {
            cases!(@supervised $adapter, Perl);
        }
        mod ours {
            cases!(@supervised $adapter, Ours);
        }
    };
    (@supervised $adapter:expr, $starter:ident) => {
        cases!(@under $adapter, $starter;
            zero_failure::hup_hands_over_while_generation_1_finishes,
            zero_failure::back_to_back_deploys_let_a_draining_generation_finish,
            zero_failure::dense_keep_alive_load_across_5_hups_has_no_failures,
            zero_failure::sparse_keep_alive_clients_across_5_hups_are_closed_by_a_response,
            zero_failure::a_post_body_in_flight_across_hup_arrives_intact,
            faults::a_deploy_that_exits_1_under_load_fails_no_request,
            faults::a_deploy_that_panics_at_start_up_under_load_fails_no_request,
            faults::an_old_generation_killed_mid_drain_is_reaped_and_serving_goes_on,
            faults::term_to_the_supervisor_while_a_generation_drains_ends_within_its_deadline,
            tls::hot_deploy_over_tls_fails_no_request,
            h2_deploy::h2c_load_across_hups_loses_nothing_processed,
            h2_deploy::h2_over_tls_load_across_hups_loses_nothing_processed,
            h2_deploy::a_retrying_h2_client_across_hups_sees_no_failure,
            websocket::websocket_clients_across_hups_get_1012_and_reconnect,
            sse::event_streams_across_hups_end_with_the_final_event,
        );
    };
    (@under $adapter:expr, $starter:ident; $($module:ident :: $case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                crate::$module::$case(
                    &crate::Adapter::new($adapter),
                    crate::support::supervisor::Starter::$starter,
                );
            }
        )*
    };
    (@ $adapter:expr; $($module:ident :: $case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                crate::$module::$case(&crate::Adapter::new($adapter));
            }
        )*
    };
}

adapters! {
    actix => handover_actix::ActixFactory::new();
    hyper => handover_hyper::HyperFactory::new();
    // An axum router in front of the responder (its fallback): the axum
    // path. `AxumFactory::default()` serves the responder on hyper's path,
    // which the hyper row covers (and demo-app's tests under "axum").
    axum => handover_axum::AxumFactory::new(::axum::Router::new()).with_responder_fallback();
}

/// The adapter a case runs against.
pub struct Adapter {
    /// The factory name, as in `server = "..."`.
    pub name: &'static str,
}

impl Adapter {
    fn new(name: &'static str) -> Adapter {
        Adapter { name }
    }

    /// The conformance app on this adapter with built-in defaults, logging at
    /// info, with no supervisor variables inherited from the test's environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "serve_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD, self.name)
        .env_remove(CHILD_CONFIG)
        .env_remove("SERVER_STARTER_PORT")
        .env_remove("SERVER_STARTER_GENERATION")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES")
        .env("RUST_LOG", "info");
        cmd
    }

    /// Like [`Adapter::command`], loading `config`.
    pub fn with_config(&self, config: &Path) -> Command {
        let mut cmd = self.command();
        cmd.env(CHILD_CONFIG, config);
        cmd
    }

    /// Writes a config for this adapter in `dir`: two workers, then `extra`
    /// (TOML appended after `[http]`).
    pub fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("app.toml");
        std::fs::write(
            &path,
            format!("server = \"{}\"\n[http]\nworkers = 2\n{extra}\n", self.name),
        )
        .unwrap();
        path
    }
}

/// The server child: not a test. Runs the conformance app when [`CHILD`] is
/// set and exits with the app's exit code; returns at once otherwise.
#[test]
#[ignore = "entry point of the server child process; the cases run it"]
fn serve_child() {
    let Ok(adapter) = std::env::var(CHILD) else {
        return;
    };
    support::run_child("conformance-app", || {
        app::run(&adapter, std::env::var_os(CHILD_CONFIG))
    });
}
