//! Showing URLs and texts without their secrets: [`redact_url`] for every URL a message,
//! a `Debug` impl or a manifest shows, [`scrub`] for texts a server or library produced that
//! may echo a password.

use url::Url;

/// What stands for a removed secret.
pub const REDACTED: &str = "***";

/// Query parameters whose values are shown: settings that never carry a secret (libpq's TLS
/// and connection settings, mostly). Every other parameter's value is shown as `***`, since
/// drivers accept credentials there (`?password=`, `?sslpassword=`, `?token=`).
const SHOWN_QUERY_KEYS: &[&str] = &[
    "application_name",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "gssencmode",
    "host",
    "hostaddr",
    "keepalives",
    "keepalives_idle",
    "load_balance_hosts",
    "port",
    "sslcert",
    "sslkey",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "target_session_attrs",
    "user",
];

/// `url` as it may be shown: the password replaced by `***`, the value of every query
/// parameter not known to be harmless replaced by `***`, the fragment dropped, and the lone
/// `/` of an empty path left out (`http://h:15672`, not `http://h:15672/`).
///
/// ```
/// use lifeboat_edge::redact_url;
/// use url::Url;
///
/// let url = Url::parse("postgres://bob:s3cret@db:5432/orders?sslmode=require&password=x")?;
/// assert_eq!(redact_url(&url), "postgres://bob:***@db:5432/orders?sslmode=require&password=***");
/// # Ok::<(), url::ParseError>(())
/// ```
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have credentials, which then have no password.
        let _ = shown.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if SHOWN_QUERY_KEYS.contains(&key.as_ref()) {
                    value.into_owned()
                } else {
                    REDACTED.to_string()
                };
                (key.into_owned(), value)
            })
            .collect();
        shown.set_query(None);
        if !pairs.is_empty() {
            let mut query = shown.query_pairs_mut();
            for (key, value) in &pairs {
                query.append_pair(key, value);
            }
        }
    }
    shown.set_fragment(None);
    let text = shown.to_string();
    // `***` is percent-encoded by the URL serializer in query values; show it plainly.
    let text = text.replace("%2A%2A%2A", REDACTED);
    if shown.path() == "/" && shown.query().is_none() {
        text.trim_end_matches('/').to_string()
    } else {
        text
    }
}

/// [`redact_url`] of a text that should be a URL; one that does not parse is shown as
/// `<unparsable URL>`, since it may then hold a secret anywhere.
pub fn redact_url_text(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => redact_url(&url),
        Err(_) => "<unparsable URL>".to_string(),
    }
}

/// `text` with every occurrence of each non-empty secret (as written, and percent-encoded,
/// as it appears inside a URL) replaced by `***`: for error texts of servers and client
/// libraries, which may echo `AUTH`'s arguments or a connection string.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_string();
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, REDACTED);
        let encoded = crate::percent::encode_component(secret);
        if encoded != secret {
            out = out.replace(&encoded, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        redact_url_text(text)
    }

    #[test]
    fn passwords_and_unknown_query_values_are_hidden() {
        assert_eq!(
            shown("postgres://u:s3cr%40t@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=***"
        );
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(shown("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            shown("postgres://u@h/db?sslmode=require&password=s3cret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            shown("postgresql://u:a@h?password=b#frag"),
            "postgresql://u:***@h?password=***"
        );
        assert_eq!(shown("http://a:b@h:1/"), "http://a:***@h:1");
        assert_eq!(shown("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(shown("not a url with secret"), "<unparsable URL>");
    }

    #[test]
    fn scrub_replaces_plain_and_encoded_secrets() {
        let text = "ERR AUTH 'p@ss' failed for redis://u:p%40ss@h";
        assert_eq!(
            scrub(text, ["p@ss", ""]),
            "ERR AUTH '***' failed for redis://u:***@h"
        );
    }

    proptest::proptest! {
        #[test]
        // The `Zq` prefix appears nowhere else in the URL, so any hit is the password.
        fn a_password_never_shows(password in "Zq[ -~]{0,22}") {
            let mut url = Url::parse("postgres://user@db.internal:5432/app").unwrap();
            url.set_password(Some(&password)).unwrap();
            url.query_pairs_mut().append_pair("password", &password);
            let text = redact_url(&url);
            let encoded = crate::percent::encode_component(&password);
            proptest::prop_assert!(!text.contains(&password), "{}", text);
            proptest::prop_assert!(!text.contains(&encoded), "{}", text);
        }
    }
}
