//! The endpoints a broker is reached at — the management API and AMQP — with the user and
//! password for each, resolved from [`RabbitmqOptions`] (or a `restore --to` URL) without
//! any I/O.

use lifeboat_edge::{percent, redact_url, redact_url_text, Secret};
use url::Url;

use crate::error::RabbitmqError;
use crate::options::{RabbitmqOptions, DEFAULT_AMQP_PORT};
use crate::tls::TlsSettings;

/// Where the management API is, who to log in as, and how to check its certificate.
#[derive(Debug, Clone)]
pub(crate) struct ApiEndpoint {
    /// The base URL, without credentials and without a trailing slash.
    pub base: Url,
    pub username: String,
    pub password: Secret,
    pub tls: TlsSettings,
}

impl ApiEndpoint {
    /// `http://user@host:port` (no password): for messages and `describe()`.
    pub fn display(&self) -> String {
        let mut url = self.base.clone();
        let _ = url.set_username(&self.username);
        redact_url(&url)
    }
}

/// Where AMQP is and who to log in as.
#[derive(Debug, Clone)]
pub(crate) struct AmqpEndpoint {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
}

impl AmqpEndpoint {
    /// `amqp://user@host:port` (no password).
    pub fn display(&self) -> String {
        format!("amqp://{}@{}:{}", self.username, self.host, self.port)
    }
}

/// Both endpoints of a broker.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub api: ApiEndpoint,
    pub amqp: AmqpEndpoint,
}

/// A URL being resolved, for its error messages: which option it is, and how it may be shown.
#[derive(Clone, Copy)]
struct Named<'a> {
    what: &'static str,
    text: &'a str,
}

impl Named<'_> {
    fn shown(&self) -> String {
        redact_url_text(self.text)
    }

    fn bad(&self, reason: impl Into<String>) -> RabbitmqError {
        RabbitmqError::BadUrl {
            what: self.what,
            url: self.shown(),
            reason: reason.into(),
        }
    }

    fn parse(&self) -> Result<Url, RabbitmqError> {
        Url::parse(self.text).map_err(|source| RabbitmqError::UnparsableUrl {
            what: self.what,
            url: self.shown(),
            source,
        })
    }

    /// The URL's user (empty: none) and password, percent-decoded.
    fn credentials(&self, url: &Url) -> Result<(Option<String>, Option<Secret>), RabbitmqError> {
        let decode = |text: &str| {
            percent::decode(text).map_err(|source| RabbitmqError::BadUrlEncoding {
                what: self.what,
                url: self.shown(),
                source,
            })
        };
        let user = Some(decode(url.username())?).filter(|u| !u.is_empty());
        let password = url.password().map(decode).transpose()?.map(Secret::new);
        Ok((user, password))
    }
}

impl Endpoints {
    /// Resolves the endpoints of `options`, or of `to` (a management URL) with the options'
    /// credentials as the default. No I/O.
    pub fn resolve(options: &RabbitmqOptions, to: Option<&str>) -> Result<Self, RabbitmqError> {
        let source = Named {
            what: "url",
            text: options.url.expose(),
        };
        let named = match to {
            Some(to) => Named {
                what: "restore --to URL",
                text: to,
            },
            None => source,
        };
        let mut url = named.parse()?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(named.bad(format!(
                "the management API URL must be http:// or https://, not {}://",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| named.bad("the URL has no host"))?
            .to_string();
        let (url_user, url_password) = named.credentials(&url)?;
        // Which credentials win, as documented on the options: for the source's own URL,
        // `username`/`password` override the URL's; a `--to` URL's own credentials win, and
        // without them the source's are used (its options first, then its URL's).
        let (username, password) = if to.is_some() {
            let (source_user, source_password) = match source.parse() {
                Ok(u) => source.credentials(&u)?,
                Err(_) => (None, None),
            };
            (
                url_user
                    .or_else(|| options.username.clone())
                    .or(source_user),
                url_password
                    .or_else(|| options.password.clone())
                    .or(source_password),
            )
        } else {
            (
                options.username.clone().or(url_user),
                options.password.clone().or(url_password),
            )
        };
        let username = username.ok_or_else(|| {
            named.bad(
                "no user: put it in the URL (http://user:password@host:15672) or set `username`",
            )
        })?;
        let password = password.ok_or_else(|| {
            named.bad(format!(
                "no password for user `{username}`: put it in the URL or set `password` (e.g. \"${{RABBITMQ_PASSWORD}}\")"
            ))
        })?;
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        let amqp = match (&options.amqp_url, to) {
            (Some(amqp_url), None) => parse_amqp(amqp_url.expose(), &username, &password)?,
            _ => AmqpEndpoint {
                host,
                port: DEFAULT_AMQP_PORT,
                username: username.clone(),
                password: password.clone(),
            },
        };
        let api = ApiEndpoint {
            base: url,
            username,
            password,
            tls: TlsSettings::of(options),
        };
        Ok(Self { api, amqp })
    }
}

/// The AMQP endpoint of `amqp_url`; its user and password default to the management ones.
fn parse_amqp(text: &str, user: &str, password: &Secret) -> Result<AmqpEndpoint, RabbitmqError> {
    let named = Named {
        what: "amqp_url",
        text,
    };
    let url = named.parse()?;
    match url.scheme() {
        "amqp" => {}
        "amqps" => {
            return Err(named
                .bad("amqps:// is not supported by this build: use amqp:// on a trusted network"))
        }
        other => return Err(named.bad(format!("expected amqp://, not {other}://"))),
    }
    let host = url
        .host_str()
        .ok_or_else(|| named.bad("the URL has no host"))?
        .to_string();
    let (url_user, url_password) = named.credentials(&url)?;
    Ok(AmqpEndpoint {
        host,
        port: url.port().unwrap_or(DEFAULT_AMQP_PORT),
        username: url_user.unwrap_or_else(|| user.to_string()),
        password: url_password.unwrap_or_else(|| password.clone()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_come_from_the_url_or_the_options() {
        let e = Endpoints::resolve(
            &RabbitmqOptions::new("http://guest:p%40ss@127.0.0.1:15672/"),
            None,
        )
        .unwrap();
        assert_eq!(e.api.username, "guest");
        assert_eq!(e.api.password.expose(), "p@ss");
        assert_eq!(e.api.base.as_str(), "http://127.0.0.1:15672/");
        assert_eq!(e.amqp.display(), "amqp://guest@127.0.0.1:5672");
        assert_eq!(e.amqp.password.expose(), "p@ss");

        let mut o = RabbitmqOptions::new("http://127.0.0.1:15672");
        o.username = Some("backup".into());
        o.password = Some("secret".into());
        o.amqp_url = Some("amqp://10.0.0.1:5673".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "backup");
        assert_eq!(e.amqp.port, 5673);
        assert_eq!(e.amqp.password.expose(), "secret");
        assert!(!format!("{o:?}").contains("secret"));
        assert!(!format!("{e:?}").contains("secret"));
    }

    #[test]
    fn the_options_override_the_url_credentials() {
        let mut o = RabbitmqOptions::new("http://guest:in-url@127.0.0.1:15672");
        o.password = Some("from-option".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "guest");
        assert_eq!(e.api.password.expose(), "from-option");
        assert_eq!(e.amqp.password.expose(), "from-option");
        o.username = Some("backup".into());
        let e = Endpoints::resolve(&o, None).unwrap();
        assert_eq!(e.api.username, "backup");
        assert_eq!(e.amqp.username, "backup");

        // A --to URL with its own credentials uses them; without, the source's options.
        let e = Endpoints::resolve(&o, Some("http://ops:ops-pw@other:15672")).unwrap();
        assert_eq!(
            (e.api.username.as_str(), e.api.password.expose()),
            ("ops", "ops-pw")
        );
        let e = Endpoints::resolve(&o, Some("http://other:15672")).unwrap();
        assert_eq!(
            (e.api.username.as_str(), e.api.password.expose()),
            ("backup", "from-option")
        );
    }

    #[test]
    fn restore_to_borrows_the_source_credentials() {
        let o = RabbitmqOptions::new("http://guest:guest@127.0.0.1:15672");
        let e = Endpoints::resolve(&o, Some("http://other:15672")).unwrap();
        assert_eq!(e.api.display(), "http://guest@other:15672");
        assert_eq!(e.amqp.host, "other");
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        let err = Endpoints::resolve(&RabbitmqOptions::new("amqp://u:topsecret@h"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = Endpoints::resolve(&RabbitmqOptions::new("http://h:15672"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user"), "{err}");
        let mut o = RabbitmqOptions::new("http://u:p@h:15672");
        o.amqp_url = Some("amqps://h".into());
        assert!(Endpoints::resolve(&o, None).is_err());
        // Errors keep their cause: the URL parser's, the percent decoder's.
        let err = Endpoints::resolve(&RabbitmqOptions::new("no url topsecret"), None).unwrap_err();
        assert!(
            matches!(err, RabbitmqError::UnparsableUrl { ref url, .. } if url == "<unparsable URL>"),
            "{err:?}"
        );
        assert!(std::error::Error::source(&err).is_some());
        let err = Endpoints::resolve(&RabbitmqOptions::new("http://u:%FF@h"), None).unwrap_err();
        assert!(
            matches!(err, RabbitmqError::BadUrlEncoding { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn the_api_endpoint_shows_no_password() {
        let e = Endpoints::resolve(&RabbitmqOptions::new("https://a:pw-1@h:15671/"), None).unwrap();
        assert_eq!(e.api.display(), "https://a@h:15671");
        assert!(!format!("{e:?}").contains("pw-1"));
    }
}
