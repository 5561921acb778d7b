//! The template's routes (its `Routes.swift`), plus `/whoami` for deploys.

use handover::{Identity, Json, Request, Resource, Router};

use crate::posts::Posts;

/// `GET /hello`, `/plaintext`, `/info`, `/description`, `/whoami`, and the
/// `posts` resource.
pub(crate) fn router(identity: Identity, server: &str) -> Router {
    let whoami = serde_json::json!({
        "pid": identity.pid,
        "generation": identity.generation,
        "server": server,
    });
    Router::build(|r| {
        r.get("hello", |_: Request| async {
            Json(serde_json::json!({"hello": "world"}))
        });
        r.get("plaintext", |_: Request| async { "Hello, world!" });
        // A description of the request (Vapor's `req.description`).
        r.get("info", |req: Request| async move { describe(&req) });
        r.get("description", |req: Request| async move { describe(&req) });
        // Not in the template: which process answered, for hot deploys.
        r.get("whoami", move |_: Request| {
            let body = Json(whoami.clone());
            async move { body }
        });
        r.resource(
            "posts",
            Resource::<Posts, u64>::new(Posts::default())
                .index(Posts::index)
                .store(Posts::store)
                .show(Posts::show)
                .replace(Posts::replace)
                .update(Posts::update)
                .destroy(Posts::destroy)
                .clear(Posts::clear),
        );
    })
}

/// The request line, the headers and the body, as text.
fn describe(req: &Request) -> String {
    let mut out = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
    for (name, value) in req.headers() {
        out.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(req.body()));
    out
}
