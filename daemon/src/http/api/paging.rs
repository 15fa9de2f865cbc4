//! Paging of the API's lists: the `limit` (1–1000, default 100) and `offset` query parameters.
//! The answer stays the JSON array of the page; `X-Total-Count` says how many match, and when
//! more follow, `Link: <…>; rel="next"` (RFC 8288, relative to the request) names the next page.
//! The API's routes are merged at the root, never nested, so a handler's `Uri` is the request's.

use axum::Json;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// Items a page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 1_000;

/// A page of a list: `limit` items after the first `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    /// The page the query parameters ask for; a 400 names the bad one.
    pub fn new(limit: Option<u32>, offset: Option<u64>) -> Result<Self, ApiError> {
        let limit = limit.map_or(DEFAULT_LIMIT, |l| l as usize);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let offset = usize::try_from(offset.unwrap_or(0)).map_err(|_| ApiError::bad_request("offset is too large"))?;
        Ok(Self { limit, offset })
    }

    /// The page of `items` (the whole list, in its order; only the page's items are produced) as
    /// the answer to the request `uri`.
    pub fn respond<T: Serialize>(self, items: impl ExactSizeIterator<Item = T>, uri: &Uri) -> Response {
        let total = items.len();
        let page: Vec<T> = items.skip(self.offset).take(self.limit).collect();
        let mut res = Json(page).into_response();
        res.headers_mut().insert("x-total-count", HeaderValue::from(total));
        let next = self.offset.saturating_add(self.limit);
        if next < total
            && let Ok(link) = HeaderValue::from_str(&format!("<{}>; rel=\"next\"", at_offset(uri, self.limit, next)))
        {
            res.headers_mut().insert("link", link);
        }
        res
    }
}

/// `uri`'s path and query with `limit` and `offset` set (other parameters kept, in order).
fn at_offset(uri: &Uri, limit: usize, offset: usize) -> String {
    let pairs = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(k, _)| k != "limit" && k != "offset");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    query.append_pair("limit", &limit.to_string());
    query.append_pair("offset", &offset.to_string());
    format!("{}?{}", uri.path(), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(Page::new(None, None).ok(), Some(Page { limit: DEFAULT_LIMIT, offset: 0 }));
        assert_eq!(Page::new(Some(1_000), Some(5)).ok(), Some(Page { limit: 1_000, offset: 5 }));
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(Some(1_001), None).is_err());
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_moves_the_offset() {
        let uri: Uri = "/api/v1/people?search=%E9%99%88&limit=2&offset=2".parse().unwrap_or_default();
        let page = Page { limit: 2, offset: 2 };
        let res = page.respond([1, 2, 3, 4, 5].into_iter(), &uri);
        assert_eq!(res.headers()["x-total-count"], "5");
        assert_eq!(res.headers()["link"], "</api/v1/people?search=%E9%99%88&limit=2&offset=4>; rel=\"next\"");
        let last = Page { limit: 2, offset: 4 }.respond([1, 2, 3, 4, 5].into_iter(), &uri);
        assert!(last.headers().get("link").is_none(), "no next page after the last");
    }
}
