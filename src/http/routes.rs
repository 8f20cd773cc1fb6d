//! The route table: axum's `Router` cannot list its routes, so every router is built through
//! `Routes`, which adds each route to the axum router and records its method and path pattern
//! beside it. `http::route_table()` returns the table of the very code path that builds the
//! application, and the authorization matrix test (tests/it/authz.rs) fails when a route is
//! missing from it, so a new route cannot be added without saying who may call it.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

use super::AppState;

/// One route: a method and the path pattern axum matches (`/api/v1/domains/{name}`). GET also
/// answers HEAD, as axum does; HEAD is not listed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// `GET`, `POST`, `PATCH` or `DELETE`.
    pub method: &'static str,
    pub path: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// An axum router and the table of its routes, built together.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<Route>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes { router: Router::new(), table: Vec::new() }
    }

    /// `path` with the methods of `on` (as `Router::route`).
    pub fn route(mut self, path: &str, on: On) -> Routes {
        self.table.extend(on.methods.iter().map(|&method| Route { method, path: path.to_string() }));
        self.router = self.router.route(path, on.router);
        self
    }

    /// `inner`'s routes under `prefix` (as `Router::nest`: `/` under `/admin` is `/admin`).
    pub fn nest(mut self, prefix: &str, inner: Routes) -> Routes {
        self.table.extend(inner.table.into_iter().map(|r| Route {
            path: if r.path == "/" { prefix.to_string() } else { format!("{prefix}{}", r.path) },
            ..r
        }));
        self.router = self.router.nest(prefix, inner.router);
        self
    }

    /// `other`'s routes beside these (as `Router::merge`).
    pub fn merge(mut self, other: Routes) -> Routes {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// The router changed by `f` (layers), the routes unchanged.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = f(self.router);
        self
    }

    /// The routes, in the order they were added.
    pub fn table(&self) -> &[Route] {
        &self.table
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// A method router that remembers its methods: `get(a).post(b)` as in `axum::routing`.
pub struct On {
    router: MethodRouter<AppState>,
    methods: Vec<&'static str>,
}

pub fn get<H: Handler<T, AppState>, T: 'static>(handler: H) -> On {
    On { router: axum::routing::get(handler), methods: vec!["GET"] }
}

pub fn post<H: Handler<T, AppState>, T: 'static>(handler: H) -> On {
    On { router: axum::routing::post(handler), methods: vec!["POST"] }
}

pub fn patch<H: Handler<T, AppState>, T: 'static>(handler: H) -> On {
    On { router: axum::routing::patch(handler), methods: vec!["PATCH"] }
}

pub fn delete<H: Handler<T, AppState>, T: 'static>(handler: H) -> On {
    On { router: axum::routing::delete(handler), methods: vec!["DELETE"] }
}

impl On {
    pub fn get<H: Handler<T, AppState>, T: 'static>(mut self, handler: H) -> On {
        self.router = self.router.get(handler);
        self.methods.push("GET");
        self
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(mut self, handler: H) -> On {
        self.router = self.router.post(handler);
        self.methods.push("POST");
        self
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(mut self, handler: H) -> On {
        self.router = self.router.patch(handler);
        self.methods.push("PATCH");
        self
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(mut self, handler: H) -> On {
        self.router = self.router.delete(handler);
        self.methods.push("DELETE");
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn nothing() {}

    #[test]
    fn nested_and_merged_routes_keep_their_full_paths() {
        let inner = Routes::new().route("/", get(nothing)).route("/x/{id}", get(nothing).post(nothing));
        let r = Routes::new().nest("/admin", inner).merge(Routes::new().route("/y", patch(nothing).delete(nothing)));
        let shown: Vec<String> = r.table().iter().map(Route::to_string).collect();
        assert_eq!(shown, ["GET /admin", "GET /admin/x/{id}", "POST /admin/x/{id}", "PATCH /y", "DELETE /y"]);
    }
}
