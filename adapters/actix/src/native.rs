//! What [`NativeFactory`](crate::NativeFactory) serves: the app's own
//! actix-web `App`, with the drain token as app data, and over HTTP/1 a
//! layer of handover's around the app's service (outside the `App`: no
//! actix-web middleware) that counts each request for the watchdog and the
//! drain and marks responses `Connection: close` during the drain's linger. HTTP/1 is actix-http's dispatcher in front of the
//! `App`; HTTP/2 is hyper's in front of the same `App` (see `bridge`).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use actix_service::{
    apply, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, Transform,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::{web, App, HttpResponse};
use handover::adapter::{ConnectionGuard, ServeContext};
use handover_hyper::http2::{Http2, Prefixed};

use crate::bridge::{Bridge, LocalExec};
use crate::connection::{H2Serve, Mode, Settings, Socket};
use crate::tracked::{closes_after, Held, Tracked};

/// The app `make_app` builds, with handover's layer.
#[derive(Clone)]
pub(crate) struct Native<F> {
    make_app: F,
    ctx: Context,
}

/// What handover's layer needs of the server's context.
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
    /// `web::Data<DrainToken>`).
    fn app(&self) -> App<T> {
        (self.make_app)().app_data(web::Data::new(self.ctx.token.clone()))
    }
}

/// handover's layer around the app's HTTP/1 service, at actix-http's level
/// (outside the `App`, so no actix-web middleware machinery): counts each
/// request for the watchdog and the drain until its body has been sent, and
/// marks responses `Connection: close` during the drain's linger.
struct Counting {
    ctx: Rc<Context>,
}

impl<S, B> Transform<S, actix_http::Request> for Counting
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<Tracked<B>>;
    type Error = actix_web::Error;
    type Transform = CountingService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<CountingService<S>, ()>>;

    fn new_transform(&self, app: S) -> Self::Future {
        std::future::ready(Ok(CountingService {
            app,
            ctx: self.ctx.clone(),
        }))
    }
}

/// One worker's app behind handover's layer (see [`Counting`]).
struct CountingService<S> {
    app: S,
    ctx: Rc<Context>,
}

impl<S, B> Service<actix_http::Request> for CountingService<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<Tracked<B>>;
    type Error = actix_web::Error;
    type Future = Counted<S::Future>;

    actix_service::forward_ready!(app);

    fn call(&self, request: actix_http::Request) -> Self::Future {
        // Counted for the watchdog and the drain until the response body
        // has been sent (this layer serves HTTP/1 only; HTTP/2 streams are
        // counted by the HTTP/2 layer).
        let held = Held::start(&request, &self.ctx.requests);
        Counted {
            response: self.app.call(request),
            held: Some(held),
            ctx: self.ctx.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The app's response on its way, with the request's counts.
    struct Counted<F> {
        #[pin]
        response: F,
        held: Option<Held>,
        ctx: Rc<Context>,
    }
}

impl<F, B> Future for Counted<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<Tracked<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.response.poll(cx))?;
        let held = this.held.take();
        if let Some(held) = &held {
            held.responded(response.status());
        }
        if closes_after(response.status(), &this.ctx.connections) {
            response
                .response_mut()
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        Poll::Ready(Ok(response.map_body(|_, body| Tracked::new(body, held))))
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
    type Response = ServiceResponse<Tracked<B>>;
    type Body = Tracked<B>;
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
        let counting = Counting {
            ctx: Rc::new(self.ctx.clone()),
        };
        let factory = apply(counting, self.app().into_factory())
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
