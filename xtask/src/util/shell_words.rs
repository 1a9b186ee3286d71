//! POSIX shell word rules without a shell: splitting a setting such as
//! `DOCKER_BUILD_ARGS` into words, and quoting words so a printed command can
//! be pasted into a shell and run as printed.

/// Splits `text` into words like `sh` would, honouring single quotes, double
/// quotes and backslashes. Nothing is expanded: `$HOME` stays `$HOME`.
pub(crate) fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash only escapes these.
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".to_string()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("backslash at the end".to_string()),
            },
            c if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Quotes `word` for a POSIX shell, leaving plain words as they are.
pub(crate) fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        single_quote(word)
    }
}

/// `word` in single quotes, even when it needs none: for scripts whose text
/// should not depend on the word (a `'` inside becomes `'\''`).
pub(crate) fn single_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::{quote, single_quote, split};

    #[test]
    fn splits_like_sh() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  a  b ", &["a", "b"]),
            (r#"--label "a b" c'd e'f"#, &["--label", "a b", "cd ef"]),
            (r"a\ b \$x", &["a b", "$x"]),
            (r#""\$ \" \\ \n""#, &[r#"$ " \ \n"#]),
            ("''", &[""]),
            ("$(touch x) `id`; rm -rf /", &["$(touch", "x)", "`id`;", "rm", "-rf", "/"]),
        ];
        for (text, words) in cases {
            assert_eq!(split(text).unwrap(), *words, "{text}");
        }
        assert!(split("'a").is_err());
        assert!(split("\"a").is_err());
        assert!(split("a\\").is_err());
    }

    #[test]
    fn quotes_round_trip() {
        for word in ["plain", "", "a b", "it's", "$(id)", "`x`", "a;b", "\"q\"", "é"] {
            assert_eq!(split(&quote(word)).unwrap(), [word], "{word}");
        }
        assert_eq!(quote("-t"), "-t");
        assert_eq!(quote("ns/app:latest_stage0"), "ns/app:latest_stage0");
        assert_eq!(single_quote("web/"), "'web/'");
    }
}
