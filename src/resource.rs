//! Resource controllers (Vapor's `Resource` / `ResourceRepresentable`): one
//! controller, up to nine actions, routes generated as Vapor generates them.
//!
//! | action | route | handler gets |
//! | --- | --- | --- |
//! | `index` | `GET /posts` | controller, request |
//! | `create` | `GET /posts/create` | controller, request |
//! | `store` | `POST /posts` | controller, request |
//! | `show` | `GET /posts/{posts_id}` | controller, request, id |
//! | `edit` | `GET /posts/{posts_id}/edit` | controller, request, id |
//! | `replace` | `PUT /posts/{posts_id}` | controller, request, id |
//! | `update` | `PATCH /posts/{posts_id}` | controller, request, id |
//! | `destroy` | `DELETE /posts/{posts_id}` | controller, request, id |
//! | `clear` | `DELETE /posts` | controller, request |
//!
//! `OPTIONS` on both paths answers JSON listing the methods, as Vapor's
//! does (`{"resource": "posts/:posts_id", "methods": ["GET", ...]}`), unless
//! [`Resource::about_item`] / [`Resource::about_multiple`] replace it. The
//! id is the path segment parsed as `I` (`u64` unless chosen); one that does
//! not parse answers 404 before the handler runs. The id parameter is named
//! after the path (`posts` gives `posts_id`; `/` becomes `-`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use handover::{Abort, Json, Request, Resource, Router};
//!
//! #[derive(Default)]
//! struct Notes(Mutex<Vec<String>>);
//!
//! impl Notes {
//!     async fn index(self: Arc<Self>, _: Request) -> Json<Vec<String>> {
//!         Json(self.0.lock().unwrap().clone())
//!     }
//!     async fn show(self: Arc<Self>, _: Request, id: usize) -> Result<String, Abort> {
//!         self.0.lock().unwrap().get(id).cloned().ok_or_else(Abort::not_found)
//!     }
//! }
//!
//! let router = Router::build(|r| {
//!     r.resource("notes", Resource::<_, usize>::new(Notes::default())
//!         .index(Notes::index)
//!         .show(Notes::show));
//! });
//! let routes: Vec<_> = router.routes().collect();
//! assert_eq!(routes, [
//!     ("GET", "/notes"),
//!     ("GET", "/notes/{notes_id}"),
//!     ("OPTIONS", "/notes/{notes_id}"),
//!     ("OPTIONS", "/notes"),
//! ]);
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use crate::input::RequestExt;
use crate::responder::{Request, SharedResponder};
use crate::response::{Json, ResponseRepresentable};

/// The actions, in the order Vapor registers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Index,
    Create,
    Edit,
    Store,
    Show,
    Replace,
    Update,
    Destroy,
    Clear,
    AboutItem,
    AboutMultiple,
}

impl Action {
    /// Method, whether the route has the id, and the sub-path.
    fn route(self) -> (&'static str, bool, &'static str) {
        match self {
            Action::Index => ("GET", false, ""),
            Action::Create => ("GET", false, "create"),
            Action::Edit => ("GET", true, "edit"),
            Action::Store => ("POST", false, ""),
            Action::Show => ("GET", true, ""),
            Action::Replace => ("PUT", true, ""),
            Action::Update => ("PATCH", true, ""),
            Action::Destroy => ("DELETE", true, ""),
            Action::Clear => ("DELETE", false, ""),
            Action::AboutItem => ("OPTIONS", true, ""),
            Action::AboutMultiple => ("OPTIONS", false, ""),
        }
    }
}

/// Makes an action's responder once the id parameter's name is known.
type Maker = Box<dyn FnOnce(Arc<str>) -> SharedResponder + Send>;

/// A resource controller's routes: controller `C`, ids parsed as `I`.
/// Register it with [`RouteBuilder::resource`](crate::RouteBuilder::resource).
pub struct Resource<C, I = u64> {
    controller: Arc<C>,
    actions: Vec<(Action, Maker)>,
    id: PhantomData<fn() -> I>,
}

impl<C, I> fmt::Debug for Resource<C, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<Action> = self.actions.iter().map(|(a, _)| *a).collect();
        f.debug_struct("Resource")
            .field("actions", &actions)
            .finish_non_exhaustive()
    }
}

impl<C, I> Resource<C, I>
where
    C: Send + Sync + 'static,
    I: FromStr + Send + 'static,
{
    /// A resource of `controller` with no actions yet.
    pub fn new(controller: C) -> Resource<C, I> {
        Resource::shared(Arc::new(controller))
    }

    /// A resource of a controller already shared.
    pub fn shared(controller: Arc<C>) -> Resource<C, I> {
        Resource {
            controller,
            actions: Vec::new(),
            id: PhantomData,
        }
    }

    fn many<F, Fut>(mut self, action: Action, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        let controller = self.controller.clone();
        let maker: Maker =
            Box::new(move |_| Arc::new(move |req: Request| handler(controller.clone(), req)));
        self.actions.retain(|(a, _)| *a != action);
        self.actions.push((action, maker));
        self
    }

    fn one<F, Fut>(mut self, action: Action, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        let controller = self.controller.clone();
        let handler = Arc::new(handler);
        let maker: Maker = Box::new(move |name: Arc<str>| {
            Arc::new(move |req: Request| {
                let id = req.parameter::<I>(&name);
                let (controller, handler) = (controller.clone(), handler.clone());
                async move {
                    match id {
                        Ok(id) => handler(controller, req, id).await.into_response(),
                        Err(abort) => abort.into_response(),
                    }
                }
            })
        });
        self.actions.retain(|(a, _)| *a != action);
        self.actions.push((action, maker));
        self
    }

    /// `GET /posts`: the list.
    pub fn index<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.many(Action::Index, handler)
    }

    /// `GET /posts/create`: a form to create one.
    pub fn create<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.many(Action::Create, handler)
    }

    /// `POST /posts`: create one.
    pub fn store<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.many(Action::Store, handler)
    }

    /// `DELETE /posts`: delete them all.
    pub fn clear<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.many(Action::Clear, handler)
    }

    /// `OPTIONS /posts`, replacing the automatic method listing.
    pub fn about_multiple<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.many(Action::AboutMultiple, handler)
    }

    /// `GET /posts/{posts_id}`: one.
    pub fn show<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::Show, handler)
    }

    /// `GET /posts/{posts_id}/edit`: a form to edit one.
    pub fn edit<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::Edit, handler)
    }

    /// `PUT /posts/{posts_id}`: replace one.
    pub fn replace<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::Replace, handler)
    }

    /// `PATCH /posts/{posts_id}`: update the fields given.
    pub fn update<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::Update, handler)
    }

    /// `DELETE /posts/{posts_id}`: delete one.
    pub fn destroy<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::Destroy, handler)
    }

    /// `OPTIONS /posts/{posts_id}`, replacing the automatic method listing.
    pub fn about_item<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<C>, Request, I) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: ResponseRepresentable,
    {
        self.one(Action::AboutItem, handler)
    }

    /// The routes under `path`: method, route path, responder, in Vapor's order.
    pub(crate) fn routes(self, path: &str) -> Vec<(&'static str, String, SharedResponder)> {
        let mut routes = Vec::new();
        let trimmed = path.trim_matches('/');
        let id_name: String = trimmed
            .split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-")
            .replace(':', "")
            + "_id";
        let id_name: Arc<str> = Arc::from(id_name);
        let item_path = format!("{trimmed}/:{id_name}");
        let mut actions = self.actions;
        actions.sort_by_key(|(a, _)| *a);
        let mut item_methods: Vec<&'static str> = Vec::new();
        let mut many_methods: Vec<&'static str> = Vec::new();
        let (mut about_item, mut about_many) = (false, false);
        for (action, make) in actions {
            let (method, item, sub) = action.route();
            let route = match (item, sub) {
                (true, "") => item_path.clone(),
                (true, sub) => format!("{item_path}/{sub}"),
                (false, "") => trimmed.to_owned(),
                (false, sub) => format!("{trimmed}/{sub}"),
            };
            about_item |= action == Action::AboutItem;
            about_many |= action == Action::AboutMultiple;
            if item {
                item_methods.push(method);
            } else {
                many_methods.push(method);
            }
            routes.push((method, route, make(id_name.clone())));
        }
        if !about_item {
            item_methods.push("OPTIONS");
            let listing = listing(&format!("{trimmed}/:{id_name}"), &item_methods);
            let name = id_name.clone();
            routes.push((
                "OPTIONS",
                item_path.clone(),
                Arc::new(move |req: Request| {
                    let answer = req
                        .parameter::<I>(&name)
                        .map(|_| listing.clone().into_response());
                    async move { answer }
                }),
            ));
        }
        if !about_many {
            many_methods.push("OPTIONS");
            let listing = listing(trimmed, &many_methods);
            routes.push((
                "OPTIONS",
                trimmed.to_owned(),
                Arc::new(move |_: Request| {
                    let answer = listing.clone().into_response();
                    async move { answer }
                }),
            ));
        }
        routes
    }
}

/// Vapor's automatic `OPTIONS` body for a resource path.
fn listing(resource: &str, methods: &[&str]) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "resource": resource, "methods": methods }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abort::Abort;
    use crate::drain::block_on;
    use crate::responder::Responder;
    use crate::router::Router;
    use http::Method;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Posts(Mutex<Vec<Option<String>>>);

    impl Posts {
        async fn index(self: Arc<Self>, _: Request) -> Json<Vec<String>> {
            Json(self.0.lock().unwrap().iter().flatten().cloned().collect())
        }
        async fn store(self: Arc<Self>, req: Request) -> String {
            let text = String::from_utf8_lossy(req.body()).into_owned();
            self.0.lock().unwrap().push(Some(text.clone()));
            text
        }
        async fn show(self: Arc<Self>, _: Request, id: usize) -> Result<String, Abort> {
            let posts = self.0.lock().unwrap();
            posts
                .get(id)
                .cloned()
                .flatten()
                .ok_or_else(Abort::not_found)
        }
        async fn destroy(self: Arc<Self>, _: Request, id: usize) -> Result<(), Abort> {
            let mut posts = self.0.lock().unwrap();
            match posts.get_mut(id) {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    Ok(())
                }
                _ => Err(Abort::not_found()),
            }
        }
        async fn clear(self: Arc<Self>, _: Request) {
            self.0.lock().unwrap().clear();
        }
    }

    fn call(r: &Router, method: Method, uri: &str, body: &str) -> (u16, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(bytes::Bytes::from(body.to_owned()))
            .unwrap();
        let resp = block_on(r.respond(req));
        let status = resp.status().as_u16();
        let body = resp.into_body().try_into_bytes().unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn posts() -> Router {
        Router::build(|r| {
            r.resource(
                "posts",
                Resource::<_, usize>::new(Posts::default())
                    .destroy(Posts::destroy)
                    .clear(Posts::clear)
                    .index(Posts::index)
                    .show(Posts::show)
                    .store(Posts::store),
            );
        })
    }

    #[test]
    fn routes_in_vapors_order_with_options() {
        let r = posts();
        r.check().unwrap();
        assert_eq!(
            r.routes().collect::<Vec<_>>(),
            [
                ("GET", "/posts"),
                ("POST", "/posts"),
                ("GET", "/posts/{posts_id}"),
                ("DELETE", "/posts/{posts_id}"),
                ("DELETE", "/posts"),
                ("OPTIONS", "/posts/{posts_id}"),
                ("OPTIONS", "/posts"),
            ]
        );
        let (s, b) = call(&r, Method::OPTIONS, "/posts", "");
        assert_eq!(s, 200);
        assert_eq!(
            b,
            r#"{"methods":["GET","POST","DELETE","OPTIONS"],"resource":"posts"}"#
        );
        let (s, b) = call(&r, Method::OPTIONS, "/posts/3", "");
        assert_eq!(s, 200);
        assert_eq!(
            b,
            r#"{"methods":["GET","DELETE","OPTIONS"],"resource":"posts/:posts_id"}"#
        );
        assert_eq!(call(&r, Method::OPTIONS, "/posts/x", "").0, 404);
    }

    #[test]
    fn actions_get_the_controller_and_the_id() {
        let r = posts();
        assert_eq!(call(&r, Method::POST, "/posts", "a"), (200, "a".into()));
        assert_eq!(call(&r, Method::POST, "/posts", "b"), (200, "b".into()));
        assert_eq!(
            call(&r, Method::GET, "/posts", ""),
            (200, r#"["a","b"]"#.into())
        );
        assert_eq!(call(&r, Method::GET, "/posts/1", ""), (200, "b".into()));
        assert_eq!(call(&r, Method::GET, "/posts/9", "").0, 404);
        assert_eq!(call(&r, Method::GET, "/posts/-1", "").0, 404);
        assert_eq!(
            call(&r, Method::DELETE, "/posts/0", ""),
            (200, String::new())
        );
        assert_eq!(
            call(&r, Method::GET, "/posts", ""),
            (200, r#"["b"]"#.into())
        );
        assert_eq!(call(&r, Method::PUT, "/posts/1", "").0, 405);
        assert_eq!(call(&r, Method::DELETE, "/posts", ""), (200, String::new()));
        assert_eq!(call(&r, Method::GET, "/posts", ""), (200, "[]".into()));
    }

    #[test]
    fn nested_paths_name_the_id_like_vapor() {
        let r = Router::build(|r| {
            r.group("v1", |v1| {
                v1.resource(
                    "users/notes",
                    Resource::<_, u64>::new(())
                        .show(|_: Arc<()>, _: Request, id: u64| async move { id.to_string() })
                        .about_multiple(|_: Arc<()>, _: Request| async { "about" }),
                );
            });
        });
        r.check().unwrap();
        assert_eq!(
            call(&r, Method::GET, "/v1/users/notes/5", ""),
            (200, "5".into())
        );
        assert_eq!(
            call(&r, Method::OPTIONS, "/v1/users/notes", ""),
            (200, "about".into())
        );
        let (_, b) = call(&r, Method::OPTIONS, "/v1/users/notes/5", "");
        assert!(
            b.contains(r#""resource":"users/notes/:users-notes_id""#),
            "{b}"
        );
    }
}
