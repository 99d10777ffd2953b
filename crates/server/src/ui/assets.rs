//! The UI's stylesheet and script, embedded in the binary. Pages link them with a `?v=` of their
//! content hash, so a new build's assets are fetched at once despite the hour of caching.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
const ICON: &str = include_str!("../../assets/favicon.svg");

const CACHE: &str = "public, max-age=3600";

/// 64-bit FNV-1a, at compile time.
const fn fnv1a(mut bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    while let [first, rest @ ..] = bytes {
        hash ^= *first as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        bytes = rest;
    }
    hash
}

const CSS_VERSION: u64 = fnv1a(CSS.as_bytes());
const JS_VERSION: u64 = fnv1a(JS.as_bytes());

pub fn css_href() -> String {
    format!("/assets/app.css?v={CSS_VERSION:016x}")
}

pub fn js_src() -> String {
    format!("/assets/app.js?v={JS_VERSION:016x}")
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}

pub async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, CACHE),
        ],
        ICON,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn assets_hold_no_external_references() {
        for text in [CSS, JS] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "assets must not fetch anything"
            );
        }
        assert!(JS.contains("dataset.js"));
        assert!(!ICON.contains("href=\"http") && !ICON.contains("<script"));
    }

    #[test]
    fn versions_follow_content() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert!(css_href().starts_with("/assets/app.css?v="));
    }
}
