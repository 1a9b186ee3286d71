//! A sh script split into words and operators as sh would split it, without
//! running anything: enough for `vendor` to see which commands of a deploy
//! env script assign what, and in which place (behind `&&`, in a pipeline).

/// A word or an operator of a script, as sh splits it.
pub(crate) struct Token<'a> {
    pub(crate) text: &'a str,
    /// Byte offset in the script.
    pub(crate) start: usize,
    pub(crate) operator: bool,
}

/// The words and operators of `text`. Quotes, `$(...)`, `${...}` and
/// backquotes stay inside their word, even across lines; a newline outside
/// them is an operator, as `;` is. Comments, line continuations and heredoc
/// bodies are left out.
pub(crate) fn tokens(text: &str) -> Vec<Token<'_>> {
    let b = text.as_bytes();
    let mut tokens = Vec::new();
    // Heredoc delimiters (and whether `<<-` strips tabs) whose bodies start
    // at the next newline; `None`: the delimiter is the next word.
    let mut heredocs: Vec<(String, bool)> = Vec::new();
    let mut delimiter_next: Option<bool> = None;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let operator = match b[i] {
            b'\n' => {
                tokens.push(Token { text: &text[i..i + 1], start, operator: true });
                i += 1;
                for (delimiter, tabs) in heredocs.drain(..) {
                    i = skip_heredoc(text, i, &delimiter, tabs);
                }
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                continue;
            }
            b'#' => {
                i = text[i..].find('\n').map_or(b.len(), |n| i + n);
                continue;
            }
            // `&>file`: a redirection.
            b'&' if b.get(i + 1) == Some(&b'>') => {
                i += 2;
                false
            }
            b';' | b'&' | b'|' => {
                let two = b.get(i + 1) == Some(&b[i]);
                i += if two { 2 } else { 1 };
                true
            }
            b'(' | b')' => {
                i += 1;
                true
            }
            _ => false,
        };
        if !operator {
            let mut heredoc = None;
            i = word_end(b, i, &mut heredoc);
            let word = &text[start..i];
            if let Some(tabs) = delimiter_next.take() {
                heredocs.push((unquoted(word), tabs));
            } else if let Some(at) = heredoc {
                let rest = &word[at - start + 2..];
                let (tabs, rest) = match rest.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, rest),
                };
                if rest.is_empty() {
                    delimiter_next = Some(tabs);
                } else {
                    heredocs.push((unquoted(rest), tabs));
                }
            }
        }
        tokens.push(Token { text: &text[start..i], start, operator });
    }
    tokens
}

/// The end of the word that starts at `i`; an unquoted `<<` in it (not
/// `<<<`) is noted in `heredoc`.
fn word_end(b: &[u8], mut i: usize, heredoc: &mut Option<usize>) -> usize {
    while i < b.len() {
        let next = b.get(i + 1).copied();
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' => break,
            b'\\' => i += 2,
            b'\'' => i = b[i + 1..].iter().position(|&c| c == b'\'').map_or(b.len(), |n| i + n + 2),
            b'"' => i = skip_double(b, i + 1),
            b'`' => i = skip_backquote(b, i + 1),
            b'$' if next == Some(b'(') => i = skip_nested(b, i + 2, b'(', b')'),
            b'$' if next == Some(b'{') => i = skip_nested(b, i + 2, b'{', b'}'),
            // `2>&1`, `<&3`: a redirection, not a background `&`.
            b'>' | b'<' if next == Some(b'&') => i += 2,
            b'<' if next == Some(b'<') => {
                if b.get(i + 2) == Some(&b'<') {
                    i += 3;
                } else {
                    heredoc.get_or_insert(i);
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    i.min(b.len())
}

/// Past the `"` that closes a double-quoted string whose content starts at `i`.
fn skip_double(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            b'`' => i = skip_backquote(b, i + 1),
            b'$' if b.get(i + 1) == Some(&b'(') => i = skip_nested(b, i + 2, b'(', b')'),
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the closing backquote of a command substitution starting at `i`.
fn skip_backquote(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'`' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the `close` that matches an `open` just before `i`, skipping quotes.
fn skip_nested(b: &[u8], mut i: usize, open: u8, close: u8) -> usize {
    let mut depth = 1;
    while i < b.len() {
        match b[i] {
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
                i += 1;
            }
            c if c == open => {
                depth += 1;
                i += 1;
            }
            b'\\' => i += 2,
            b'\'' => i = b[i + 1..].iter().position(|&c| c == b'\'').map_or(b.len(), |n| i + n + 2),
            b'"' => i = skip_double(b, i + 1),
            b'`' => i = skip_backquote(b, i + 1),
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the body of a heredoc that starts at `i`: up to its delimiter line.
fn skip_heredoc(text: &str, mut i: usize, delimiter: &str, tabs: bool) -> usize {
    while i < text.len() {
        let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
        let line = &text[i..end];
        let line = if tabs { line.trim_start_matches('\t') } else { line };
        i = (end + 1).min(text.len());
        if line.trim_end_matches('\r') == delimiter {
            return i;
        }
    }
    text.len()
}

/// A heredoc delimiter as sh compares it: quotes and backslashes removed.
fn unquoted(word: &str) -> String {
    word.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<&str> {
        tokens(script).iter().map(|t| t.text).collect()
    }

    #[test]
    fn words_and_operators() {
        assert_eq!(
            texts("[ -n \"$A b\" ] && X=$(cat 'a b' | tr a b)||Y=1;f() { :; } 2>&1 &>/dev/null &"),
            [
                "[",
                "-n",
                "\"$A b\"",
                "]",
                "&&",
                "X=$(cat 'a b' | tr a b)",
                "||",
                "Y=1",
                ";",
                "f",
                "(",
                ")",
                "{",
                ":",
                ";",
                "}",
                "2>&1",
                "&>/dev/null",
                "&"
            ]
        );
        assert_eq!(
            texts("case $x in a) X=1;; esac"),
            ["case", "$x", "in", "a", ")", "X=1", ";;", "esac"]
        );
    }

    #[test]
    fn quotes_span_lines_and_comments_continuations_and_heredocs_go() {
        assert_eq!(
            texts("A=\"1\n2\" # c\nB=`x\ny` \\\n C=${D:-}\n"),
            ["A=\"1\n2\"", "\n", "B=`x\ny`", "C=${D:-}", "\n"]
        );
        assert_eq!(
            texts("cat <<EOF; X=1\nY=2\nEOF\nZ=3"),
            ["cat", "<<EOF", ";", "X=1", "\n", "Z=3"]
        );
        assert_eq!(
            texts("cat << 'E F' >x\n\tY=2\nE F\ncat <<-E\n\tY=2\n\tE\nZ=3 <<<w"),
            ["cat", "<<", "'E F'", ">x", "\n", "cat", "<<-E", "\n", "Z=3", "<<<w"]
        );
    }

    #[test]
    fn unterminated_quotes_end_the_script_without_panicking() {
        for script in ["A='x", "A=\"x", "A=$(x", "A=${x", "A=`x", "A=\\", "cat <<E\nx", "é\\é"] {
            let all = tokens(script);
            assert!(all.iter().all(|t| script.get(t.start..).is_some()), "{script}");
        }
    }
}
