//! `GET /`: the operator dashboard (SPEC §6), a static page that uses the REST API and
//! Socket.IO like any other client.
//!
//! The files under `static/` are compiled into the binary, so it stays self-contained. The
//! page has no inline script or style: it runs under the `Content-Security-Policy:
//! default-src 'self'` that every response carries (SPEC §7). Not rate-limited, like health.

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::state::AppState;

/// The page and its own code change with the binary under the same names: revalidate them.
const REVALIDATE: &str = "no-cache";
/// The vendored Socket.IO client changes only with its pinned version.
const VENDOR: &str = "public, max-age=86400";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

static ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        cache_control: REVALIDATE,
        body: include_bytes!("../../static/index.html"),
    },
    Asset {
        path: "/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: REVALIDATE,
        body: include_bytes!("../../static/dashboard.js"),
    },
    Asset {
        path: "/dashboard.css",
        content_type: "text/css; charset=utf-8",
        cache_control: REVALIDATE,
        body: include_bytes!("../../static/dashboard.css"),
    },
    Asset {
        path: "/vendor/socket.io.min.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: VENDOR,
        body: include_bytes!("../../static/vendor/socket.io.min.js"),
    },
];

pub fn router() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, asset.content_type),
                        (header::CACHE_CONTROL, asset.cache_control),
                    ],
                    asset.body,
                )
            }),
        )
    })
}
