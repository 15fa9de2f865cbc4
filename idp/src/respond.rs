//! Small pieces of the browser responses every face builds: a page or a 303 with the cookies it
//! sets, a URL with query parameters added, and the language a request asks for.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::i18n::Lang;

/// The pages' language: `lang` or `ui_locales` in the request, else `Accept-Language`.
pub(crate) fn lang_of(params: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
    let explicit = params.get("lang").or_else(|| params.get("ui_locales")).map(String::as_str);
    Lang::pick(explicit, headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// The language of a posted form (its hidden `lang` field), else `Accept-Language`.
pub(crate) fn form_lang(lang: &str, headers: &HeaderMap) -> Lang {
    Lang::pick(Some(lang), headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

pub(crate) fn page(status: StatusCode, cookies: &[Option<String>], html: axum::response::Html<String>) -> Response {
    let mut res = (status, html).into_response();
    for c in cookies.iter().flatten() {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub(crate) fn see_other(location: &str, cookies: &[Option<String>]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = location.parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies.iter().flatten() {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// `uri` with extra query parameters (keeping its own).
pub(crate) fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => uri.to_string(),
    }
}
