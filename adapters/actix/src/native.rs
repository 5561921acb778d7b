//! What [`NativeFactory`](crate::NativeFactory) serves: the app's own
//! actix-web `App`, with one middleware of handover's (outermost) that
//! counts each HTTP/1 request for the watchdog and the drain and marks
//! responses `Connection: close` during the drain's linger, and the drain
//! token as app data. HTTP/1 is actix-http's dispatcher in front of the
//! `App`; HTTP/2 is hyper's in front of the same `App` (see `bridge`).

use std::rc::Rc;

use actix_service::{map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, StatusCode, Version};
use actix_web::{web, App, HttpResponse};
use handover::adapter::{ConnectionGuard, RequestGuard, ServeContext};
use handover_hyper::http2::{Http2, Prefixed};

use crate::bridge::{Bridge, LocalExec};
use crate::connection::{H2Serve, Mode, Settings, Socket};
use crate::tracked::Tracked;
use crate::watchdog::{Busy, Watched};

/// What a native response body holds until it has been sent.
type Held = (Option<Busy>, Option<RequestGuard>);

/// The app `make_app` builds, with handover's middleware.
#[derive(Clone)]
pub(crate) struct Native<F> {
    make_app: F,
    ctx: Context,
}

/// What the middleware needs of the server's context.
#[derive(Clone)]
struct Context {
    connections: handover::adapter::Connections,
    requests: handover::adapter::Requests,
    token: handover::DrainToken,
}

impl<F> Native<F> {
    pub(crate) fn new(make_app: F, ctx: &ServeContext) -> Self {
        Native {
            make_app,
            ctx: Context {
                connections: ctx.connections().clone(),
                requests: ctx.requests().clone(),
                token: ctx.token(),
            },
        }
    }
}

impl<F, T, B> Native<F>
where
    F: Fn() -> App<T> + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    /// The app, with the drain token (for handlers that extract
    /// `web::Data<DrainToken>`) and handover's middleware.
    fn app(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<Tracked<B, Held>>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        let Context {
            connections,
            requests,
            token,
        } = self.ctx.clone();
        (self.make_app)()
            .app_data(web::Data::new(token))
            .wrap_fn(move |request, service| {
                // Counted for the watchdog and the drain until the response body
                // has been sent. HTTP/2 streams are counted by the HTTP/2 layer.
                let busy = request.conn_data::<Watched>().map(Watched::start);
                let counted =
                    (request.version() != Version::HTTP_2).then(|| requests.start(request.path()));
                let response = service.call(request);
                let connections = connections.clone();
                async move {
                    let mut response = response.await?;
                    if let Some(counted) = &counted {
                        counted.responded(response.status().as_u16());
                    }
                    // Decided when the response is ready, so a request that started
                    // before the linger still closes its connection.
                    // A 101 hands the connection to its WebSocket, which closes
                    // with its own drain.
                    if connections.close_after_response()
                        && response.status() != StatusCode::SWITCHING_PROTOCOLS
                    {
                        response
                            .response_mut()
                            .head_mut()
                            .set_connection_type(ConnectionType::Close);
                    }
                    let held: Held = (busy, counted);
                    Ok(response.map_body(|_, body| Tracked::new(body, held)))
                }
            })
    }
}

impl<F, T, B> Mode for Native<F>
where
    F: Fn() -> App<T> + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<Tracked<B, Held>>;
    type Body = Tracked<B, Held>;
    type Error = HttpResponse;

    fn http1(
        self,
        app_config: AppConfig,
    ) -> impl ServiceFactory<
        actix_http::Request,
        Config = (),
        Response = Self::Response,
        Error = Self::Error,
        InitError = (),
    > + 'static {
        let factory = self
            .app()
            .into_factory()
            .map_err(|e: actix_web::Error| e.error_response());
        map_config(factory, move |()| app_config.clone())
    }

    async fn http2(self, app_config: AppConfig) -> Result<impl H2Serve, ()> {
        let service = self
            .app()
            .into_factory()
            .new_service(app_config)
            .await
            .map_err(|e| log::error!("actix: cannot start the app for HTTP/2: {e:?}"))?;
        Ok(NativeH2(Rc::new(service)))
    }
}

/// HTTP/2 connections, through the bridge to the app.
struct NativeH2<S>(Rc<S>);

impl<S, B> H2Serve for NativeH2<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>
        + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    async fn serve<C: Socket>(
        &self,
        conn: Prefixed<C>,
        peer: Option<std::net::SocketAddr>,
        settings: &Settings,
        http2: &Http2<LocalExec>,
        counted: ConnectionGuard,
    ) {
        let bridge = Bridge {
            app: self.0.clone(),
            peer,
        };
        http2
            .serve(
                conn,
                bridge,
                settings.connections.clone(),
                settings.requests.clone(),
                settings.close_idle.clone(),
                counted,
            )
            .await;
    }
}
