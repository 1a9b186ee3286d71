//! The settings file's syntax: docker compose's env files without
//! interpolation. Pure: text in, entries or the first error with its line out.
//! Nothing is ever expanded or run: `$(...)`, backticks and `$VAR` stay text.

/// One `KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: String,
    /// 1-based, as editors count.
    pub(crate) line: usize,
}

/// Why a line cannot be read, and which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Parses every line of `text`; stops at the first malformed one.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let error = |message: String| SyntaxError { line, message };
        let content = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let assignment = content.strip_prefix("export ").map_or(content, str::trim_start);
        let Some((key, rest)) = assignment.split_once('=') else {
            return Err(error(format!(
                "`{content}` is not a KEY=VALUE line (a line without `=` would read the environment, which already wins)"
            )));
        };
        let key = key.trim_end();
        if !is_name(key) {
            return Err(error(format!("`{key}` is not a variable name")));
        }
        let value = value(rest.trim_start()).map_err(error)?;
        entries.push(Entry { key: key.to_string(), value, line });
    }
    Ok(entries)
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value after `=`, leading whitespace already gone.
fn value(rest: &str) -> Result<String, String> {
    match rest.chars().next() {
        Some(quote @ ('\'' | '"')) => quoted(&rest[1..], quote),
        _ => Ok(unquoted(rest)),
    }
}

/// A `#` after whitespace starts a comment; a `#` inside a word does not.
fn unquoted(rest: &str) -> String {
    let mut end = rest.len();
    let mut previous_blank = true;
    for (i, c) in rest.char_indices() {
        if c == '#' && previous_blank {
            end = i;
            break;
        }
        previous_blank = c.is_whitespace();
    }
    rest[..end].trim_end().to_string()
}

/// Single quotes are literal; double quotes know `\"`, `\\` and `\n`, and
/// keep any other backslash as written. Only whitespace and a comment may
/// follow the closing quote. A value spans one line: `\n` writes a newline.
fn quoted(body: &str, quote: char) -> Result<String, String> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    let close = loop {
        match chars.next() {
            None => {
                return Err(format!(
                    "unterminated {} quote (a value ends on its line; write a newline as \\n in double quotes)",
                    if quote == '\'' { "single" } else { "double" }
                ))
            }
            Some((i, c)) if c == quote => break i,
            Some((_, '\\')) if quote == '"' => match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, c)) => {
                    value.push('\\');
                    value.push(c);
                }
                None => value.push('\\'),
            },
            Some((_, c)) => value.push(c),
        }
    };
    let after = body[close + 1..].trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(format!("`{after}` after the closing quote (quote the whole value)"));
    }
    Ok(value)
}

/// `value` written so that [`parse`] reads it back unchanged: bare when
/// plain, else single-quoted, else double-quoted with escapes.
pub(crate) fn quote(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if value.chars().all(plain) {
        value.to_string()
    } else if !value.contains(['\'', '\n']) {
        format!("'{value}'")
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        format!("\"{escaped}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> (String, String) {
        let entries = parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        assert_eq!(entries.len(), 1, "{line}");
        (entries[0].key.clone(), entries[0].value.clone())
    }

    fn value_of(line: &str) -> String {
        one(line).1
    }

    fn error_of(text: &str) -> SyntaxError {
        parse(text).expect_err(text)
    }

    #[test]
    fn key_value_with_whitespace_around() {
        assert_eq!(one("DOCKER_IMAGE=ns/app"), ("DOCKER_IMAGE".into(), "ns/app".into()));
        assert_eq!(one("  DOCKER_IMAGE = ns/app  "), ("DOCKER_IMAGE".into(), "ns/app".into()));
        assert_eq!(one("A=b=c"), ("A".into(), "b=c".into()));
    }

    #[test]
    fn export_prefix() {
        assert_eq!(one("export A_ENV_NAME=prod"), ("A_ENV_NAME".into(), "prod".into()));
        assert_eq!(one("export   A=1"), ("A".into(), "1".into()));
        // A variable may be called `exporter`.
        assert_eq!(one("exporter=1"), ("exporter".into(), "1".into()));
    }

    #[test]
    fn comment_and_blank_lines_are_skipped_and_lines_counted() {
        let entries = parse("# team settings\n\n   # indented\r\nA=1\r\n\nB=2\n").unwrap();
        let lines: Vec<(&str, &str, usize)> =
            entries.iter().map(|e| (e.key.as_str(), e.value.as_str(), e.line)).collect();
        assert_eq!(lines, [("A", "1", 4), ("B", "2", 6)]);
    }

    #[test]
    fn inline_comment_needs_whitespace_before_the_hash() {
        assert_eq!(value_of("A=ns/app # the team's image"), "ns/app");
        assert_eq!(value_of("A=ns/app\t# tab"), "ns/app");
        assert_eq!(value_of("A=a#b"), "a#b");
        assert_eq!(value_of("A=#not a value"), "");
        assert_eq!(value_of("A=--label a b"), "--label a b");
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(value_of(r"A='a \n \\ $HOME # b'"), r"a \n \\ $HOME # b");
        assert_eq!(value_of("A='x' # comment"), "x");
        assert_eq!(value_of("A=''"), "");
    }

    #[test]
    fn double_quotes_have_three_escapes() {
        assert_eq!(value_of(r#"A="say \"hi\"""#), r#"say "hi""#);
        assert_eq!(value_of(r#"A="back\\slash""#), r"back\slash");
        assert_eq!(value_of(r#"A="two\nlines""#), "two\nlines");
        assert_eq!(value_of(r#"A="\t\$ kept""#), r"\t\$ kept");
        assert_eq!(value_of(r#"A="a # b"  # c"#), "a # b");
    }

    #[test]
    fn dollar_and_backticks_are_never_expanded() {
        for v in ["$(touch pwned)", "`id`", "$HOME", "${A:-b}"] {
            assert_eq!(value_of(&format!("A={v}")), v);
            assert_eq!(value_of(&format!("A=\"{v}\"")), v);
            assert_eq!(value_of(&format!("A='{v}'")), v);
        }
    }

    #[test]
    fn empty_values() {
        assert_eq!(value_of("A="), "");
        assert_eq!(value_of("A=   "), "");
        assert_eq!(value_of("A=\"\""), "");
    }

    #[test]
    fn a_line_without_equals_is_refused() {
        let e = error_of("A=1\nDOCKER_IMAGE\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not a KEY=VALUE line"), "{}", e.message);
        assert_eq!(error_of("export A").line, 1);
    }

    #[test]
    fn unterminated_quotes_are_refused_on_their_line() {
        let e = error_of("A=1\n\nB=\"open\nC=\"closed\"\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unterminated double quote"), "{}", e.message);
        assert!(error_of("A='open").message.contains("unterminated single quote"));
        assert!(error_of(r#"A="ends in \""#).message.contains("unterminated"));
    }

    #[test]
    fn malformed_keys_and_text_after_a_quote_are_refused() {
        for text in ["=1", "A B=1", "1A=2", "A-B=1", "A='x'y", "A=\"x\" y"] {
            assert_eq!(error_of(text).line, 1, "{text}");
        }
    }

    #[test]
    fn quote_round_trips() {
        for v in ["plain", "", "a b", "it's", "$(id)", "`x`", "a # b", "#x", "\"q\" \\", "l\nl"] {
            let line = format!("A={}", quote(v));
            assert_eq!(value_of(&line), v, "{line}");
        }
        assert_eq!(quote("ns/app:v1"), "ns/app:v1");
    }
}
