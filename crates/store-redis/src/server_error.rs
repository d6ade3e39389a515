//! [`ServerError`]: an error reply of the server, with its code parsed so that callers match
//! on the code (`WRONGPASS`, `BUSYKEY`, ...) rather than search the text.

/// The code of an error reply: its first word (Redis's convention for error replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `ERR`: the generic code.
    Err,
    /// `WRONGPASS`: wrong user name or password.
    WrongPass,
    /// `NOAUTH`: the server requires a password.
    NoAuth,
    /// `NOPERM`: the ACL user may not run the command.
    NoPerm,
    /// `BUSYKEY`: `RESTORE` without `REPLACE` found the key.
    BusyKey,
    /// Any other code (`WRONGTYPE`, `LOADING`, ...).
    Other,
}

/// An error reply (`-WRONGPASS invalid username-password pair ...`), without the `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct ServerError {
    code: ErrorCode,
    text: String,
}

impl ServerError {
    /// The error of reply text `text`.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let code = match text.split_whitespace().next().unwrap_or("") {
            "ERR" => ErrorCode::Err,
            "WRONGPASS" => ErrorCode::WrongPass,
            "NOAUTH" => ErrorCode::NoAuth,
            "NOPERM" => ErrorCode::NoPerm,
            "BUSYKEY" => ErrorCode::BusyKey,
            _ => ErrorCode::Other,
        };
        Self { code, text }
    }

    /// Its code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The whole reply text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `RESTORE`'s refusal of a payload whose RDB version (or checksum) the server does not
    /// take: `ERR DUMP payload version or checksum are wrong`. It has only the generic code,
    /// so this is the one place its text is compared.
    pub fn is_bad_payload(&self) -> bool {
        self.code == ErrorCode::Err && self.text.contains("payload version or checksum")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_first_word() {
        let e = ServerError::new("WRONGPASS invalid username-password pair or user is disabled.");
        assert_eq!(e.code(), ErrorCode::WrongPass);
        assert_eq!(
            ServerError::new("NOAUTH Authentication required.").code(),
            ErrorCode::NoAuth
        );
        assert_eq!(
            ServerError::new("NOPERM this user has no permissions to run the 'sync' command")
                .code(),
            ErrorCode::NoPerm
        );
        assert_eq!(
            ServerError::new("BUSYKEY Target key name already exists.").code(),
            ErrorCode::BusyKey
        );
        assert_eq!(ServerError::new("").code(), ErrorCode::Other);
        // A code is a whole word: no substring matches.
        assert_eq!(
            ServerError::new("ERR NOAUTH-like text").code(),
            ErrorCode::Err
        );
        assert!(
            ServerError::new("ERR DUMP payload version or checksum are wrong").is_bad_payload()
        );
        assert!(!ServerError::new("ERR syntax error").is_bad_payload());
        assert_eq!(e.to_string(), e.text());
    }
}
