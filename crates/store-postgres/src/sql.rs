//! Quoting names and values into SQL text and into libpq connection strings.

/// Quotes an SQL identifier (`"my ""odd"" name"`).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (`'it''s'`).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A conninfo string naming only the database (host, port, user and password come from the
/// environment), so a database name with `=` or spaces is never read as a connection string.
pub(crate) fn dbname_conninfo(name: &str) -> String {
    format!(
        "dbname='{}'",
        name.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(dbname_conninfo("a b"), "dbname='a b'");
        assert_eq!(dbname_conninfo("it's\\"), "dbname='it\\'s\\\\'");
    }
}
