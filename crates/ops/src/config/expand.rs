//! `${VAR}` expansion in every string value of the config.

use toml::Value;

/// An unset variable, named with the key it was used in.
#[derive(Debug, thiserror::Error)]
#[error("`{key}` uses ${{{var}}}, but the environment variable {var} is not set")]
pub struct UnsetVariable {
    /// The dotted key path, e.g. `storage.offsite.secret_access_key`.
    pub key: String,
    /// The variable's name.
    pub var: String,
}

/// Replaces `${NAME}` in every string of `value` with the environment's `NAME`, using `lookup`
/// (the process environment in production). `$${` stands for a literal `${`.
pub fn expand(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), UnsetVariable> {
    match value {
        Value::String(text) => *text = expand_str(text, path, lookup)?,
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand(item, &format!("{path}[{index}]"), lookup)?;
            }
        }
        Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                expand(item, &child, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(
    text: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, UnsetVariable> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                out.push_str(after);
                rest = "";
                break;
            };
            let var = &body[..end];
            let value = lookup(var).ok_or_else(|| UnsetVariable {
                key: path.to_string(),
                var: var.to_string(),
            })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_and_names_unknown() {
        assert_eq!(
            expand_str("x${A}y${EMPTY}z", "k", &env).unwrap(),
            "xalphayz"
        );
        assert_eq!(
            expand_str("$${A} $5 ${A", "k", &env).unwrap(),
            "${A} $5 ${A"
        );
        let err = expand_str("${NOPE}", "storage.s3.secret", &env).unwrap_err();
        assert_eq!(err.var, "NOPE");
        assert!(err.to_string().contains("storage.s3.secret"));
    }
}
