//! Splits Dockerfile text into the pieces generation reasons about: parser
//! directives, blank lines, comments and instructions (with their continuation
//! lines and heredoc bodies), following BuildKit's parser so that a line inside a
//! heredoc or a continuation is never mistaken for an instruction.
//!
//! The lexer never fails: whatever it cannot make sense of is reported in the
//! result (an unterminated heredoc, a continuation at the end of the text) for
//! the caller to refuse. Concatenating the lines of all items gives the input back.

/// The parser directives BuildKit knows; other `# key=value` lines are comments.
const DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// The escape character when no `# escape=` directive says otherwise.
pub(crate) const DEFAULT_ESCAPE: char = '\\';

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A parser directive at the very top: `# syntax=...`, `# escape=...`, `# check=...`.
    Directive {
        name: String,
        value: String,
    },
    Blank,
    Comment,
    Instruction(Instruction),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// Upper-cased first word: `FROM`, `RUN`, `ARG`...
    pub(crate) keyword: String,
    /// The rest of the logical line: continuations joined, comment lines dropped.
    pub(crate) args: String,
    /// The text ended while the instruction still asked for a continuation line.
    pub(crate) dangling_continuation: bool,
    /// The name of a heredoc whose terminator never came.
    pub(crate) unterminated_heredoc: Option<String>,
    /// Its last line is a heredoc terminator.
    pub(crate) ends_with_heredoc: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) kind: Kind,
    /// Index of the item's first line in [`Lexed::lines`].
    pub(crate) start: usize,
    /// Index one past its last line.
    pub(crate) end: usize,
}

#[derive(Debug)]
pub(crate) struct Lexed<'a> {
    /// The physical lines, without line ends (a `\r` before `\n` is dropped).
    pub(crate) lines: Vec<&'a str>,
    pub(crate) items: Vec<Item>,
    /// The escape character in effect after the directives.
    pub(crate) escape: char,
}

impl Lexed<'_> {
    pub(crate) fn item_lines(&self, item: &Item) -> &[&str] {
        &self.lines[item.start..item.end]
    }
}

/// Splits `text` into lines, accepting LF and CRLF endings and a missing final
/// line end. A leading byte order mark is dropped, as BuildKit does.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).collect()
}

/// Lexes one Dockerfile (or snippet). `escape` is the escape character to use
/// unless the text's own `# escape=` directive changes it.
pub(crate) fn lex(text: &str, escape: char) -> Lexed<'_> {
    let lines = lines(text);
    let mut items = Vec::new();
    let mut escape = escape;
    let mut i = 0;

    while i < lines.len() {
        let Some((name, value)) = directive(lines[i]).filter(|(name, _)| is_known_directive(name))
        else {
            break;
        };
        if name == "escape" {
            if let Some(c) = escape_char(&value) {
                escape = c;
            }
        }
        items.push(Item { kind: Kind::Directive { name, value }, start: i, end: i + 1 });
        i += 1;
    }

    while i < lines.len() {
        let start = i;
        let trimmed = lines[i].trim_start();
        let kind = if trimmed.is_empty() {
            Kind::Blank
        } else if trimmed.starts_with('#') {
            Kind::Comment
        } else {
            let (instruction, last) = instruction(&lines, i, escape);
            i = last;
            Kind::Instruction(instruction)
        };
        i += 1;
        items.push(Item { kind, start, end: i });
    }

    Lexed { lines, items, escape }
}

/// Reads the instruction starting at line `first`; returns it and the index of
/// its last line (continuations and heredoc bodies included).
fn instruction(lines: &[&str], first: usize, escape: char) -> (Instruction, usize) {
    let mut logical = String::new();
    let mut i = first;
    let mut dangling_continuation = false;
    loop {
        match continuation(lines[i], escape) {
            None => {
                logical.push_str(lines[i]);
                break;
            }
            Some(cut) => logical.push_str(&lines[i][..cut]),
        }
        // BuildKit skips comment lines and empty lines inside a continuation.
        let next = (i + 1..lines.len()).find(|&j| {
            let t = lines[j].trim_start();
            !t.is_empty() && !t.starts_with('#')
        });
        match next {
            Some(j) => i = j,
            None => {
                // Trailing skipped lines still belong to the instruction.
                i = lines.len() - 1;
                dangling_continuation = true;
                break;
            }
        }
    }

    let logical = logical.trim_start();
    let (keyword, args) = match logical.find(char::is_whitespace) {
        Some(at) => (&logical[..at], logical[at..].trim()),
        None => (logical, ""),
    };
    let keyword = keyword.to_ascii_uppercase();

    let mut unterminated_heredoc = None;
    let mut ends_with_heredoc = false;
    // BuildKit also reads heredocs in the instruction an ONBUILD wraps.
    let (inner, inner_args) = match keyword.as_str() {
        "ONBUILD" => match args.find(char::is_whitespace) {
            Some(at) => (args[..at].to_ascii_uppercase(), &args[at..]),
            None => (args.to_ascii_uppercase(), ""),
        },
        _ => (keyword.clone(), args),
    };
    if !dangling_continuation && matches!(inner.as_str(), "RUN" | "COPY" | "ADD") {
        for heredoc in heredocs(inner_args, escape) {
            let end = (i + 1..lines.len()).find(|&j| {
                let line =
                    if heredoc.strip_tabs { lines[j].trim_start_matches('\t') } else { lines[j] };
                line == heredoc.name
            });
            match end {
                Some(j) => {
                    i = j;
                    ends_with_heredoc = true;
                }
                None => {
                    i = lines.len() - 1;
                    unterminated_heredoc = Some(heredoc.name);
                    break;
                }
            }
        }
    }

    let instruction = Instruction {
        keyword,
        args: args.to_string(),
        dangling_continuation,
        unterminated_heredoc,
        ends_with_heredoc,
    };
    (instruction, i)
}

/// When `line` ends with the escape character (trailing blanks allowed), the
/// byte offset where the continuation marker starts.
pub(crate) fn continuation(line: &str, escape: char) -> Option<usize> {
    let trimmed = line.trim_end_matches([' ', '\t']);
    trimmed.strip_suffix(escape).map(str::len)
}

/// `# name=value` at the start of a line, with the name lower-cased.
pub(crate) fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

pub(crate) fn is_known_directive(name: &str) -> bool {
    DIRECTIVES.contains(&name)
}

/// The escape character an `# escape=` value sets, when it is a valid one.
pub(crate) fn escape_char(value: &str) -> Option<char> {
    match value {
        "\\" => Some('\\'),
        "`" => Some('`'),
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Heredoc {
    name: String,
    strip_tabs: bool,
}

/// The heredocs an instruction opens, in order: words such as `<<EOF`,
/// `<<-EOF`, `<<"EOF"` or `3<<EOF` (BuildKit's `^\d*<<-?[^<]+$`).
fn heredocs(args: &str, escape: char) -> Vec<Heredoc> {
    words(args, escape)
        .iter()
        .filter_map(|word| {
            let rest = word.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<")?;
            let (strip_tabs, rest) = match rest.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, rest),
            };
            if rest.is_empty() || rest.contains('<') {
                return None;
            }
            let name: String = rest.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
            (!name.is_empty()).then_some(Heredoc { name, strip_tabs })
        })
        .collect()
}

/// Splits instruction arguments into words at unquoted whitespace, keeping
/// quotes and escapes as written (the way BuildKit reads flags and ARG pairs).
pub(crate) fn words(args: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match quote {
            _ if c == escape && quote != Some('\'') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                word.push(c);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<String> {
        let lexed = lex(text, DEFAULT_ESCAPE);
        lexed
            .items
            .iter()
            .map(|item| {
                let what = match &item.kind {
                    Kind::Directive { name, .. } => format!("directive {name}"),
                    Kind::Blank => "blank".to_string(),
                    Kind::Comment => "comment".to_string(),
                    Kind::Instruction(i) => format!("{} [{}]", i.keyword, i.args),
                };
                format!("{}-{} {what}", item.start + 1, item.end)
            })
            .collect()
    }

    #[test]
    fn directives_only_at_the_top() {
        let text =
            "# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\n\n# escape=\\\nFROM x\n";
        assert_eq!(
            kinds(text),
            [
                "1-1 directive syntax",
                "2-2 directive escape",
                "3-3 directive check",
                "4-4 blank",
                "5-5 comment",
                "6-6 FROM [x]",
            ]
        );
        assert_eq!(lex(text, DEFAULT_ESCAPE).escape, '`');
    }

    #[test]
    fn unknown_directive_ends_the_directives() {
        assert_eq!(
            kinds("# foo=bar\n# syntax=x\nFROM x"),
            ["1-1 comment", "2-2 comment", "3-3 FROM [x]"]
        );
    }

    #[test]
    fn continuation_lines_skip_comments_and_blanks() {
        let text = "RUN a \\\n# not an instruction\n\n  b \\  \n  c\nRUN d\n";
        assert_eq!(kinds(text), ["1-5 RUN [a   b   c]", "6-6 RUN [d]"]);
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let text = "# escape=`\nRUN dir c:\\ `\n  /b\nCOPY a b\n";
        assert_eq!(
            kinds(text),
            ["1-1 directive escape", "2-3 RUN [dir c:\\   /b]", "4-4 COPY [a b]"]
        );
    }

    #[test]
    fn continuation_at_the_end_is_reported() {
        let lexed = lex("RUN a \\\n\n# c\n", DEFAULT_ESCAPE);
        assert_eq!(lexed.items.len(), 1);
        assert_eq!(lexed.items[0].end, 3);
        let Kind::Instruction(i) = &lexed.items[0].kind else { panic!("{lexed:?}") };
        assert!(i.dangling_continuation);
    }

    #[test]
    fn heredoc_bodies_are_not_instructions() {
        let text =
            "RUN <<EOF cat <<-'END'\nFROM not-an-instruction\nEOF\n\t\tRUN no\n\tEND\n# after\n";
        assert_eq!(kinds(text), ["1-5 RUN [<<EOF cat <<-'END']", "6-6 comment"]);
    }

    #[test]
    fn heredocs_under_onbuild_are_heredocs() {
        let text = "FROM a\nONBUILD RUN <<EOF\nFROM x\nEOF\nonbuild copy <<A /a\nRUN no\nA\n";
        assert_eq!(
            kinds(text),
            ["1-1 FROM [a]", "2-4 ONBUILD [RUN <<EOF]", "5-7 ONBUILD [copy <<A /a]"]
        );
        assert_eq!(
            kinds("ONBUILD ENV a <<EOF\nRUN x\n"),
            ["1-1 ONBUILD [ENV a <<EOF]", "2-2 RUN [x]"]
        );
    }

    #[test]
    fn quoted_or_here_string_is_not_a_heredoc() {
        assert_eq!(kinds("RUN echo '<<EOF'\nRUN x\n"), ["1-1 RUN [echo '<<EOF']", "2-2 RUN [x]"]);
        assert_eq!(kinds("RUN cat <<<EOF\nRUN x\n"), ["1-1 RUN [cat <<<EOF]", "2-2 RUN [x]"]);
        assert_eq!(kinds("ENV a <<EOF\nRUN x\n"), ["1-1 ENV [a <<EOF]", "2-2 RUN [x]"]);
    }

    #[test]
    fn unterminated_heredoc_is_reported() {
        let lexed = lex("COPY <<EOF /a\nhello\n", DEFAULT_ESCAPE);
        let Kind::Instruction(i) = &lexed.items[0].kind else { panic!("{lexed:?}") };
        assert_eq!(i.unterminated_heredoc.as_deref(), Some("EOF"));
        assert_eq!(lexed.items[0].end, 2);
    }

    #[test]
    fn crlf_bom_and_missing_final_newline() {
        assert_eq!(lines("\u{feff}FROM x\r\nRUN y"), ["FROM x", "RUN y"]);
        assert_eq!(lines("a\n\n"), ["a", ""]);
        assert!(lines("").is_empty());
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(words(r#"A="a b" B=c\ d  'e f'"#, '\\'), [r#"A="a b""#, r"B=c\ d", "'e f'"]);
    }

    #[test]
    fn items_cover_every_line() {
        let text = "# syntax=x\n\nFROM a \\\n b\nRUN <<E\nx\nE\n# c\n\n";
        let lexed = lex(text, DEFAULT_ESCAPE);
        let mut next = 0;
        for item in &lexed.items {
            assert_eq!(item.start, next);
            assert!(item.end > item.start);
            next = item.end;
        }
        assert_eq!(next, lexed.lines.len());
    }
}
