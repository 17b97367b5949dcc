//! API roots (`base_url`, `base_urls`): what a usable one looks like, and the endpoint URLs built
//! from one.
//!
//! This module owns two rules. The credential rule ([`check_credentials`]): a root never carries
//! a secret (`user:pass@host`, a key-like query parameter), because URLs are printed in errors and
//! recorded in plans; the config schema applies it when config loads, so nothing downstream ever
//! sees such a URL, and [`ApiRoot::parse`] applies it again for callers that bypass the schema.
//! The joining rule ([`ApiRoot::endpoint`]): the endpoint path goes before the root's query, so
//! `https://h/v1?api-version=x` gives `https://h/v1/chat/completions?api-version=x`.
//!
//! Messages name the part that is wrong, never the credential itself.

use super::BackendError;
use crate::config::{check_credentials, DEFAULT_BASE_URL};

/// A checked API root: `http(s)://host/path` without a trailing `/`, and its query, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRoot {
    base: String,
    query: Option<String>,
}

impl ApiRoot {
    /// Checks `url` (the value of the setting `key`): no credentials, `http://` or `https://`,
    /// no fragment.
    pub(crate) fn parse(url: &str, key: &str) -> Result<ApiRoot, BackendError> {
        let config_error = |message: String| BackendError::Config {
            key: key.to_string(),
            message,
        };
        let url = url.trim();
        // Credentials first: the messages below quote the URL.
        check_credentials(url).map_err(config_error)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(config_error(format!(
                "`{url}` is not an `http://` or `https://` URL\n\ne.g. `{DEFAULT_BASE_URL}`"
            )));
        }
        if url.contains('#') {
            return Err(config_error(format!(
                "`{url}` has a fragment (`#...`), which an API root cannot use"
            )));
        }
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query).filter(|q| !q.is_empty())),
            None => (url, None),
        };
        Ok(ApiRoot {
            base: base.trim_end_matches('/').to_string(),
            query: query.map(str::to_string),
        })
    }

    /// `{base}/{path}`, then the root's query: `https://h/v1/chat/completions?api-version=x`.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        match &self.query {
            Some(query) => format!("{}/{path}?{query}", self.base),
            None => format!("{}/{path}", self.base),
        }
    }

    /// The root as configured, less a trailing `/` (for notices; it holds no credential).
    pub(crate) fn as_text(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.base),
            None => self.base.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_stays_after_the_endpoint_path() {
        let root = ApiRoot::parse("https://h.example/v1?api-version=2024-10-21", "k").unwrap();
        assert_eq!(
            root.endpoint("chat/completions"),
            "https://h.example/v1/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            root.endpoint("images/generations"),
            "https://h.example/v1/images/generations?api-version=2024-10-21"
        );
        assert_eq!(
            root.as_text(),
            "https://h.example/v1?api-version=2024-10-21"
        );
        let plain = ApiRoot::parse(" http://127.0.0.1:8080/v1/ ", "k").unwrap();
        assert_eq!(
            plain.endpoint("chat/completions"),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        assert_eq!(plain.as_text(), "http://127.0.0.1:8080/v1");
        let trailing = ApiRoot::parse("https://h/v1/?a=b", "k").unwrap();
        assert_eq!(trailing.endpoint("x"), "https://h/v1/x?a=b");
    }

    #[test]
    fn credentials_are_refused_without_being_quoted() {
        let secret = "hunter2SECRET";
        for url in [
            format!("https://user:{secret}@h/v1"),
            format!("https://{secret}@h/v1"),
            format!("https://h/v1?api-key={secret}"),
            format!("https://h/v1?api-version=1&API_KEY={secret}"),
            format!("https://h/v1?key={secret}"),
            format!("https://h/v1?token={secret}"),
            format!("https://h/v1?access_token={secret}"),
            format!("https://h/v1?sv=1&sig={secret}"),
            format!("https://h/v1?X-Api-Key={secret}"),
        ] {
            let message = check_credentials(&url).unwrap_err();
            assert!(
                message.starts_with("must not hold credentials"),
                "{url}: {message}"
            );
            assert!(message.contains("`api_key_env`"), "{message}");
            assert!(!message.contains(secret), "{url}: {message}");
            let err = ApiRoot::parse(&url, "backend.text.base_url").unwrap_err();
            assert!(!format!("{err}{err:?}").contains(secret), "{err}");
        }
        for url in [
            "https://h/v1",
            "https://h/v1?api-version=2024-10-21",
            "http://127.0.0.1:8080/v1",
            "https://h/path@v1",
            "https://h/v1?keyword=x&monkey=y",
        ] {
            assert_eq!(check_credentials(url), Ok(()), "{url}");
        }
        assert!(check_credentials("https://h/v1?key").is_err());
    }

    #[test]
    fn other_bad_roots_are_config_errors() {
        for (url, fragment) in [
            ("api.example.com", "is not an `http://`"),
            ("https://h/v1#x", "fragment"),
        ] {
            let err = ApiRoot::parse(url, "backend.text.base_url").unwrap_err();
            assert!(
                matches!(&err, BackendError::Config { key, message } if key == "backend.text.base_url" && message.contains(fragment)),
                "{err:?}"
            );
        }
    }
}
