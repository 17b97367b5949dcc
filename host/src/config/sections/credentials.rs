//! The credential rule for API roots (`base_url`, `base_urls`): a root never carries a secret
//! (`user:pass@host`, a key-like query parameter), because URLs are printed in errors and recorded
//! in plans. The schema applies it when config loads, so nothing downstream ever sees such a URL;
//! `backends::endpoint` applies it again for callers that bypass the schema. Messages name the
//! part that is wrong, never the credential itself.

/// The API root used when neither `backend.text.base_url` nor `backend.text.base_urls` is set.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Query parameter names that carry credentials, compared case-insensitively with `-` read as `_`
/// (`api-key`, `API_KEY`, `X-Api-Key` all match).
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "x_api_key",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "session_token",
    "auth",
    "authorization",
    "sig",
    "signature",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "subscription_key",
    "code",
    "credential",
    "credentials",
];

/// The remedy every credential message ends with.
const USE_KEY_ENV: &str = "put the key in an environment variable and name that variable with \
                           `api_key_env`; if a real secret was written here, treat it as exposed";

/// Refuses a URL that carries a credential: user info before the host, or a query parameter
/// named like a key. The message is a predicate (`must not ...`) for the config error, and never
/// quotes the credential.
pub fn check_credentials(url: &str) -> Result<(), String> {
    let (before_fragment, _) = url.split_once('#').unwrap_or((url, ""));
    let (before_query, query) = before_fragment
        .split_once('?')
        .map_or((before_fragment, None), |(b, q)| (b, Some(q)));
    let after_scheme = before_query
        .split_once("://")
        .map_or(before_query, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "must not hold credentials: it has user info (`user:password@`) before the host\n\n\
             {USE_KEY_ENV}"
        ));
    }
    for pair in query.unwrap_or_default().split('&') {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if is_credential_param(name) {
            // The name is safe to show (it is one of ours); the value is not.
            return Err(format!(
                "must not hold credentials: its query parameter `{}` carries a key\n\n{USE_KEY_ENV}",
                name.trim()
            ));
        }
    }
    Ok(())
}

/// Whether a query parameter name is one of [`CREDENTIAL_PARAMS`].
fn is_credential_param(name: &str) -> bool {
    let normalised = name.trim().to_ascii_lowercase().replace('-', "_");
    CREDENTIAL_PARAMS.contains(&normalised.as_str())
}
