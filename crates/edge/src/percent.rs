//! Percent-encoding (RFC 3986) through the `percent-encoding` crate: the one codec for URL
//! credentials, management-API path segments and SQLite file URIs.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path: like [`COMPONENT`], but `/` and `:` stay as they are.
const PATH: &AsciiSet = &COMPONENT.remove(b'/').remove(b':');

/// A `%XX` escape that is not valid, or bytes that are not UTF-8 once decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad percent-encoding: the decoded bytes are not UTF-8")]
pub struct DecodeError;

/// Decodes `%XX` escapes (a URL's user name or password, say). A `%` not followed by two hex
/// digits is kept as it is, as URL parsers do.
///
/// ```
/// assert_eq!(lifeboat_edge::percent::decode("p%40ss").unwrap(), "p@ss");
/// ```
pub fn decode(text: &str) -> Result<String, DecodeError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| DecodeError)
}

/// Encodes one URL component (a path segment, a user name or password): only the unreserved
/// characters stay.
///
/// ```
/// assert_eq!(lifeboat_edge::percent::encode_component("a b/c"), "a%20b%2Fc");
/// ```
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Encodes the bytes of a file path for a `file:` URI: unreserved characters, `/` and `:`
/// stay, every other byte becomes `%XX`.
///
/// ```
/// assert_eq!(lifeboat_edge::percent::encode_path(b"/tmp/a b?.db"), "/tmp/a%20b%3F.db");
/// ```
pub fn encode_path(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn components_round_trip(text in "\\PC{0,40}") {
            let encoded = encode_component(&text);
            proptest::prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            proptest::prop_assert_eq!(decode(&encoded).unwrap(), text);
        }

        #[test]
        fn paths_round_trip(text in "[/a-z :?#%]{0,40}") {
            let encoded = encode_path(text.as_bytes());
            proptest::prop_assert!(!encoded.contains(['?', '#', ' ']));
            proptest::prop_assert_eq!(decode(&encoded).unwrap(), text);
        }
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(decode("%FF"), Err(DecodeError));
        assert_eq!(decode("100%").unwrap(), "100%");
    }
}
