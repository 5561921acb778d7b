//! Posts in memory and their controller (the template's `Post` model and
//! `PostController`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use handover::{Abort, Json, Request, RequestExt};
use serde::{Deserialize, Serialize};

/// A post as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Post {
    id: u64,
    content: String,
}

/// The body of `POST /posts` and `PUT /posts/:id`.
#[derive(Debug, Deserialize)]
struct NewPost {
    content: String,
}

/// The body of `PATCH /posts/:id`: only the fields present change.
#[derive(Debug, Deserialize)]
struct PostPatch {
    content: Option<String>,
}

#[derive(Debug, Default)]
struct Store {
    last_id: u64,
    posts: BTreeMap<u64, String>,
}

/// The posts and their controller actions; ids start at 1 and are never reused.
#[derive(Debug, Default)]
pub(crate) struct Posts {
    store: Mutex<Store>,
}

impl Posts {
    fn posts(&self) -> MutexGuard<'_, Store> {
        // A panic while the lock was held leaves the map consistent: every
        // change is one insert or remove.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn found(&self, id: u64) -> Result<Post, Abort> {
        let store = self.posts();
        let content = store.posts.get(&id).ok_or_else(Abort::not_found)?;
        Ok(Post {
            id,
            content: content.clone(),
        })
    }

    /// `GET /posts`: every post, oldest first.
    pub(crate) async fn index(self: Arc<Self>, _: Request) -> Json<Vec<Post>> {
        let store = self.posts();
        let posts = store
            .posts
            .iter()
            .map(|(id, content)| Post {
                id: *id,
                content: content.clone(),
            })
            .collect();
        Json(posts)
    }

    /// `POST /posts`: a new post from `{"content": ...}`.
    pub(crate) async fn store(self: Arc<Self>, req: Request) -> Result<Json<Post>, Abort> {
        let new: NewPost = req.json()?;
        let mut store = self.posts();
        store.last_id += 1;
        let id = store.last_id;
        store.posts.insert(id, new.content.clone());
        Ok(Json(Post {
            id,
            content: new.content,
        }))
    }

    /// `GET /posts/:id`.
    pub(crate) async fn show(self: Arc<Self>, _: Request, id: u64) -> Result<Json<Post>, Abort> {
        self.found(id).map(Json)
    }

    /// `PUT /posts/:id`: the content replaced from `{"content": ...}`.
    pub(crate) async fn replace(
        self: Arc<Self>,
        req: Request,
        id: u64,
    ) -> Result<Json<Post>, Abort> {
        self.found(id)?;
        let new: NewPost = req.json()?;
        let mut store = self.posts();
        let content = store.posts.get_mut(&id).ok_or_else(Abort::not_found)?;
        content.clone_from(&new.content);
        Ok(Json(Post {
            id,
            content: new.content,
        }))
    }

    /// `PATCH /posts/:id`: the fields present in the JSON body change; an
    /// empty body changes nothing.
    pub(crate) async fn update(
        self: Arc<Self>,
        req: Request,
        id: u64,
    ) -> Result<Json<Post>, Abort> {
        self.found(id)?;
        let patch = if req.body().is_empty() {
            PostPatch { content: None }
        } else {
            req.json()?
        };
        let mut store = self.posts();
        let content = store.posts.get_mut(&id).ok_or_else(Abort::not_found)?;
        if let Some(new) = patch.content {
            *content = new;
        }
        Ok(Json(Post {
            id,
            content: content.clone(),
        }))
    }

    /// `DELETE /posts/:id`: 200 with an empty body.
    pub(crate) async fn destroy(self: Arc<Self>, _: Request, id: u64) -> Result<(), Abort> {
        self.posts()
            .posts
            .remove(&id)
            .map(|_| ())
            .ok_or_else(Abort::not_found)
    }

    /// `DELETE /posts`: every post deleted; 200 with an empty body.
    pub(crate) async fn clear(self: Arc<Self>, _: Request) {
        self.posts().posts.clear();
    }
}
