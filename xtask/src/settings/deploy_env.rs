//! Reading the settings out of corpusops' deploy env scripts
//! (`.ansible/scripts/ansible_deploy_env(.local)`) for `vendor`, without ever
//! running them: only assignments whose value is known without a shell are
//! taken; everything else is named with why it was skipped. The script is
//! split into commands as sh would split it (quotes, `$(...)`, operators,
//! heredocs, `if`/loop/function blocks), so an assignment that may not run,
//! or may run in a subshell, is never read as if it always ran.

use std::collections::BTreeMap;

use crate::settings::sh_tokens::{tokens, Token};
use crate::settings::NAMES;

/// One assignment (or `unset`) of a known setting in a deploy env script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) key: String,
    pub(crate) line: usize,
    /// What it does to the setting, or why that is not known without
    /// running the script.
    pub(crate) value: Result<Value, String>,
}

/// What an assignment that is read does to its setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `KEY=literal`.
    Literal(String),
    /// `KEY=${KEY:-literal}` (`if_empty`) or `KEY=${KEY-literal}`: the
    /// literal only when the setting is unset (or, with `:-`, empty).
    Default { literal: String, if_empty: bool },
    /// `unset KEY`.
    Unset,
}

/// What a setting holds once the script has run, for a user with none of
/// them in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// This value (empty: set, but empty), from the assignment on this line.
    Known(String, usize),
    /// Not known without running the script, because of the assignment on
    /// this line.
    Unknown(usize),
}

/// What one script gives: the assignments of known settings, in order, what
/// each setting ends up as, and the other names it assigns (not settings of
/// this tool).
#[derive(Debug, Default)]
pub(crate) struct Script {
    pub(crate) assignments: Vec<Assignment>,
    pub(crate) settled: BTreeMap<String, Settled>,
    pub(crate) others: Vec<String>,
}

/// The assignments in a deploy env script's `text`.
pub(crate) fn read(text: &str) -> Script {
    let mut script = Script::default();
    let tokens = tokens(text);
    let mut reader = Reader { text, script: &mut script, blocks: Vec::new() };
    let mut words: Vec<&Token<'_>> = Vec::new();
    let mut before: Option<&str> = None;
    for token in &tokens {
        if !token.operator {
            words.push(token);
            continue;
        }
        // `a &&`, `a ||` and `a |` go on with the command on the next line.
        if token.text == "\n" && words.is_empty() && matches!(before, Some("&&" | "||" | "|")) {
            continue;
        }
        reader.command(&words, before, Some(token.text));
        words.clear();
        reader.operator(token);
        before = Some(token.text);
    }
    reader.command(&words, before, None);
    settle(&mut script);
    script
}

/// Plays the assignments in order, as sh would: a literal sets the setting,
/// a default sets it only when unset, and a skipped assignment leaves it
/// unknown. A default after a skipped assignment is skipped too (the script
/// may already have set it), and so is an assignment whose value a later
/// skipped one may replace: each is named, none is guessed.
fn settle(script: &mut Script) {
    let mut settled: BTreeMap<String, Settled> = BTreeMap::new();
    for a in &mut script.assignments {
        let now = settled.get(&a.key);
        let next = match (&a.value, now) {
            (Err(_), _) => Some(Settled::Unknown(a.line)),
            (Ok(Value::Literal(value)), _) => Some(Settled::Known(value.clone(), a.line)),
            (Ok(Value::Unset), _) => None,
            (Ok(Value::Default { .. }), Some(Settled::Unknown(at))) => {
                a.value = Err(format!(
                    "a default, and line {at} may already set it to a value not known without running the script"
                ));
                Some(Settled::Unknown(*at))
            }
            (Ok(Value::Default { literal, if_empty }), now) => match now {
                Some(Settled::Known(value, line)) if !value.is_empty() || !if_empty => {
                    Some(Settled::Known(value.clone(), *line))
                }
                _ => Some(Settled::Known(literal.clone(), a.line)),
            },
        };
        match next {
            Some(next) => settled.insert(a.key.clone(), next),
            None => settled.remove(&a.key),
        };
    }
    for a in &mut script.assignments {
        let Some(Settled::Unknown(at)) = settled.get(&a.key) else { continue };
        if a.line < *at && matches!(a.value, Ok(Value::Literal(_) | Value::Default { .. })) {
            a.value = Err(format!(
                "line {at} may set it afterwards, to a value not known without running the script"
            ));
        }
    }
    script.settled = settled;
}

/// A block that sh opened and has not closed yet: its keyword and line.
struct Block<'a> {
    keyword: &'a str,
    line: usize,
}

struct Reader<'t, 's> {
    text: &'t str,
    script: &'s mut Script,
    blocks: Vec<Block<'t>>,
}

impl<'t> Reader<'t, '_> {
    /// Opens or closes the block an operator token starts or ends.
    fn operator(&mut self, operator: &Token<'t>) {
        match operator.text {
            "(" => {
                let line = line_of(self.text, operator.start);
                self.blocks.push(Block { keyword: "(", line });
            }
            // In a `case`, `)` ends a pattern.
            ")" if self.blocks.last().is_some_and(|b| b.keyword == "(") => {
                self.blocks.pop();
            }
            _ => {}
        }
    }

    /// One simple command: `words` between the operator `before` it and
    /// the operator `after` it (`None` at the start and end of the script).
    fn command(&mut self, words: &[&Token<'t>], before: Option<&str>, after: Option<&str>) {
        let mut words = words;
        // Reserved words open and close blocks; a command may follow them.
        while let Some(first) = words.first() {
            let line = line_of(self.text, first.start);
            match first.text {
                "if" | "while" | "until" | "{" => {
                    self.blocks.push(Block { keyword: first.text, line });
                }
                // What follows these is a list of words, not a command.
                "for" | "select" | "case" => {
                    self.blocks.push(Block { keyword: first.text, line });
                    return;
                }
                "fi" | "done" | "esac" | "}" => {
                    self.blocks.pop();
                }
                "then" | "else" | "elif" | "do" | "!" => {}
                // `function NAME {`: the name is no command either.
                "function" => words = &words[1..],
                _ => break,
            }
            words = words.get(1..).unwrap_or_default();
        }
        let builtin = words
            .first()
            .map(|w| w.text)
            .filter(|w| ["export", "declare", "typeset", "local", "readonly", "unset"].contains(w));
        let args = if builtin.is_some() { &words[1..] } else { words };
        for word in args {
            if builtin.is_some() && word.text.starts_with(['-', '+']) {
                continue;
            }
            let (key, value_at) = match (builtin, word.text.split_once('=')) {
                (Some("unset"), _) => (word.text, None),
                (_, Some((key, _))) => (key, Some(key.len() + 1)),
                // `export KEY`, `readonly KEY`: no value given.
                (Some(_), None) => continue,
                // Assignments lead a command; the first other word is the
                // command they are for (`literal` says so).
                (None, None) => break,
            };
            let name = key.strip_suffix('+').unwrap_or(key);
            if !is_name(name) {
                match builtin {
                    Some(_) => continue,
                    None => break,
                }
            }
            if !NAMES.contains(&name) {
                if value_at.is_some() && !self.script.others.iter().any(|o| o == name) {
                    self.script.others.push(name.to_string());
                }
                continue;
            }
            let line = line_of(self.text, word.start);
            let value = match self.unsure(builtin, before, after, line, key != name) {
                Some(why) => Err(why),
                None => match value_at {
                    None => Ok(Value::Unset),
                    Some(at) => {
                        literal(name, &word.text[at..], rest_of_line(self.text, word.start + at))
                    }
                },
            };
            self.script.assignments.push(Assignment { key: name.to_string(), line, value });
        }
    }

    /// Why an assignment in this place may not do what it says, if it may not.
    fn unsure(
        &self,
        builtin: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
        line: usize,
        appends: bool,
    ) -> Option<String> {
        if let Some(block) = self.blocks.last() {
            let (keyword, at) = (block.keyword, block.line);
            return Some(match keyword {
                "if" => format!("inside the `if` of line {at}: whether it runs depends on that condition"),
                "case" => format!("inside the `case` of line {at}: it runs only for one of its patterns"),
                "{" => format!(
                    "inside the `{{` of line {at} (a function or a group): it runs only when that runs"
                ),
                "(" => format!("inside the `(` of line {at}: a subshell sets its own copy, not the script's"),
                loop_word => {
                    format!("inside the `{loop_word}` loop of line {at}: it runs once per turn, if at all")
                }
            });
        }
        let why = match (before, after) {
            (Some("&&"), _) => "behind `&&`: it runs only when the command before it succeeds",
            (Some("||"), _) => "behind `||`: it runs only when the command before it fails",
            (Some("|"), _) | (_, Some("|")) => "in a pipeline: a subshell sets its own copy, not the script's",
            (_, Some("&")) => "in the background (`&`): a subshell sets its own copy, not the script's",
            _ => match builtin {
                Some(word @ ("declare" | "typeset")) => {
                    return Some(format!(
                        "set with `{word}`, whose options may change the value (-i, -l, -u) and which keeps it local inside a function"
                    ))
                }
                Some("local") => "set with `local`: it belongs to a function",
                Some("readonly") => {
                    "set with `readonly`, which makes any later assignment of it fail: only `KEY=VALUE` and `export KEY=VALUE` lines are read"
                }
                _ if appends => "`+=` appends to the value it had before",
                _ if line_text(self.text, line).starts_with([' ', '\t']) => {
                    "indented, so it may sit in an `if` or a function: set it in .docker/stages.env by hand if it always applies"
                }
                _ => return None,
            },
        };
        Some(why.to_string())
    }
}

/// The value of `key=rest` when it is known without a shell: `rest` runs to
/// the end of the line, and the value must be alone there; `value` is the
/// shell word that follows `=`.
fn literal(key: &str, value: &str, rest: &str) -> Result<Value, String> {
    if substitutes(value) {
        return Err(format!("`{value}` runs a command"));
    }
    let (value, quoting, after) = word(rest)?;
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(format!("`{after}` follows the value: only a lone value is read"));
    }
    if quoting == Quoting::Single {
        return Ok(Value::Literal(value));
    }
    // `${KEY:-literal}`: the script's default, which the environment overrides,
    // as it does any setting.
    if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        let default = inner.strip_prefix(key).and_then(|r| {
            r.strip_prefix(":-")
                .map(|d| (d, true))
                .or_else(|| r.strip_prefix('-').map(|d| (d, false)))
        });
        return match default {
            Some((d, if_empty)) if !d.contains(['$', '`', '}', '\\', '"', '\'']) => {
                Ok(Value::Default { literal: d.to_string(), if_empty })
            }
            _ => Err(format!("`{value}` is built from other variables")),
        };
    }
    if value.contains('`') || value.contains("$(") {
        return Err(format!("`{value}` runs a command"));
    }
    if value.contains('$') {
        return Err(format!("`{value}` is built from other variables"));
    }
    Ok(Value::Literal(value))
}

#[derive(Debug, PartialEq, Eq)]
enum Quoting {
    Bare,
    Single,
    Double,
}

/// The first shell word of `rest` when it is bare, single-quoted or
/// double-quoted, and what follows it. `$` is kept, for the caller to judge.
fn word(rest: &str) -> Result<(String, Quoting, &str), String> {
    let unsure = || format!("`{rest}` is not a plain value");
    match rest.chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let end = rest[1..].find(quote).ok_or_else(unsure)? + 1;
            let inner = &rest[1..end];
            if quote == '"' && inner.contains('\\') {
                return Err(unsure());
            }
            let quoting = if quote == '"' { Quoting::Double } else { Quoting::Single };
            Ok((inner.to_string(), quoting, &rest[end + 1..]))
        }
        _ => {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let value = &rest[..end];
            if value.contains("$(") || value.contains('`') {
                return Err(format!("`{rest}` runs a command"));
            }
            let special = ['\'', '"', '\\', ';', '&', '|', '<', '>', '(', ')', '*', '?', '[', '~'];
            // Inside `${...}` sh reads these as part of the default.
            if value.contains(special) && !value.starts_with("${") {
                return Err(unsure());
            }
            Ok((value.to_string(), Quoting::Bare, &rest[end..]))
        }
    }
}

/// Whether the shell word `word` holds a command substitution: `$(...)` or
/// backquotes outside single quotes.
fn substitutes(word: &str) -> bool {
    let b = word.as_bytes();
    let (mut i, mut double) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => {
                double = !double;
                i += 1;
            }
            b'\'' if !double => {
                i = b[i + 1..].iter().position(|&c| c == b'\'').map_or(b.len(), |n| i + n + 2);
            }
            b'`' => return true,
            b'$' if b.get(i + 1) == Some(&b'(') => return true,
            _ => i += 1,
        }
    }
    false
}

fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The text of 1-based line `line`.
fn line_text(text: &str, line: usize) -> &str {
    text.split('\n').nth(line - 1).unwrap_or_default()
}

/// From `offset` to the end of its line.
fn rest_of_line(text: &str, offset: usize) -> &str {
    let rest = &text[offset..];
    rest.split('\n').next().unwrap_or_default().trim_end_matches('\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the one known assignment of `line`: a literal or a
    /// default's literal, or why it was skipped.
    fn value(line: &str) -> Result<String, String> {
        let script = read(line);
        assert_eq!(script.assignments.len(), 1, "{line}: {:?}", script.assignments);
        match script.assignments[0].value.clone()? {
            Value::Literal(v) | Value::Default { literal: v, .. } => Ok(v),
            Value::Unset => Ok("(unset)".into()),
        }
    }

    /// Why each assignment of `text` was skipped, by line.
    fn skipped(text: &str) -> Vec<(usize, String)> {
        let script = read(text);
        script.assignments.iter().filter_map(|a| Some((a.line, a.value.clone().err()?))).collect()
    }

    fn settled(text: &str, key: &str) -> Option<Settled> {
        read(text).settled.get(key).cloned()
    }

    #[test]
    fn literal_values_are_taken() {
        assert_eq!(value("DOCKER_IMAGE=ns/app"), Ok("ns/app".into()));
        assert_eq!(value("export DOCKER_IMAGE=ns/app # ours"), Ok("ns/app".into()));
        assert_eq!(value("DOCKER_BUILD_ARGS='--network host $x'"), Ok("--network host $x".into()));
        assert_eq!(value("A_ENV_NAME=\"prod env\""), Ok("prod env".into()));
        assert_eq!(value("A_ENV_NAME="), Ok(String::new()));
        assert_eq!(value("FOO=1; DOCKER_IMAGE=ns/app"), Ok("ns/app".into()));
        assert_eq!(value("export FOO=1 DOCKER_IMAGE=ns/app\r"), Ok("ns/app".into()));
        assert_eq!(value("DOCKER_IMAGE='$(not run)'"), Ok("$(not run)".into()));
    }

    #[test]
    fn the_default_form_of_the_same_key_gives_its_default() {
        let line = "export A_GIT_PROJECT=${A_GIT_PROJECT:-setups.djangoproject}";
        assert_eq!(value(line), Ok("setups.djangoproject".into()));
        assert_eq!(value("A_GIT_PROJECT=${A_GIT_PROJECT-app}"), Ok("app".into()));
        assert_eq!(value("A_GIT_PROJECT=\"${A_GIT_PROJECT:-my app}\""), Ok("my app".into()));
    }

    #[test]
    fn values_built_by_the_shell_are_skipped_with_why() {
        for (line, why) in [
            ("A_GIT_PROJECT=${OTHER:-x}", "built from other variables"),
            ("A_GIT_PROJECT=${A_GIT_PROJECT:-$OTHER}", "built from other variables"),
            ("DOCKER_IMAGE=${A_GIT_NAMESPACE}/${A_GIT_PROJECT}", "built from other variables"),
            ("DOCKER_IMAGE=\"$NS/app\"", "built from other variables"),
            ("DOCKER_IMAGE_TAG=$(git rev-parse HEAD)", "`$(git rev-parse HEAD)` runs a command"),
            ("DOCKER_IMAGE_TAG=\"$(date +%F)\"", "runs a command"),
            ("DOCKER_IMAGE_TAG=`date`", "runs a command"),
            ("DOCKER_IMAGE=$(cat .ansible/image_name)", "runs a command"),
            ("export DOCKER_IMAGE=\"$(cat \"a b\")\"", "runs a command"),
            ("DOCKER_IMAGE=\"it's $(id -un)\"", "runs a command"),
            ("DOCKER_IMAGE=a b", "follows the value"),
            ("DOCKER_IMAGE=a;touch pwned", "not a plain value"),
            ("DOCKER_IMAGE='open", "not a plain value"),
            ("DOCKER_IMAGE=(a b)", "not a plain value"),
            ("DOCKER_IMAGE=x && true", "`&& true` follows the value"),
            ("  DOCKER_IMAGE=ns/app", "indented"),
        ] {
            let got = value(line).expect_err(line);
            assert!(got.contains(why), "{line}: {got}");
        }
    }

    #[test]
    fn assignments_that_may_not_run_are_skipped_with_why() {
        for (line, why) in [
            ("[ -n \"$CI\" ] && DOCKER_IMAGE=ci/app", "behind `&&`: it runs only when"),
            ("[ -n \"$CI\" ] &&\n\nDOCKER_IMAGE=ci/app", "behind `&&`"),
            ("test -f x || export DOCKER_IMAGE=ci/app", "behind `||`"),
            ("if [ -n \"$CI\" ]; then DOCKER_IMAGE=ci/app; fi", "inside the `if` of line 1"),
            ("if true; then :; else export DOCKER_IMAGE=ci/app; fi", "inside the `if` of line 1"),
            ("while read l; do DOCKER_IMAGE=$l; done < f", "inside the `while` loop of line 1"),
            ("for x in a; do DOCKER_IMAGE=a; done", "inside the `for` loop of line 1"),
            ("case $x in a) DOCKER_IMAGE=a;; esac", "inside the `case` of line 1"),
            ("f() { DOCKER_IMAGE=a; }", "inside the `{` of line 1"),
            ("( DOCKER_IMAGE=a )", "inside the `(` of line 1"),
            ("echo | DOCKER_IMAGE=a", "in a pipeline"),
            ("DOCKER_IMAGE=a &", "in the background"),
            ("declare -x DOCKER_IMAGE=ns/app", "set with `declare`, whose options"),
            ("declare DOCKER_IMAGE=ns/app", "set with `declare`"),
            ("typeset -l DOCKER_IMAGE=NS/App", "set with `typeset`"),
            ("readonly DOCKER_IMAGE=ns/app", "set with `readonly`, which makes"),
            ("local DOCKER_IMAGE=ns/app", "set with `local`"),
            ("DOCKER_BUILD_ARGS+=' --pull'", "`+=` appends"),
        ] {
            let got = value(line).expect_err(line);
            assert!(got.contains(why), "{line}: {got}");
        }
    }

    #[test]
    fn blocks_over_several_lines_are_followed() {
        let text = "if [ -z \"$CI\" ]; then\nDOCKER_IMAGE=dev/app\nelse\n  \
                    DOCKER_IMAGE=ci/app\nfi\nset_image() {\nA_ENV_NAME=dev\n}\n\
                    while false; do\nNO_GEN=1\ndone\nDOCKER_IMAGE_TAG=v1\n";
        assert_eq!(
            skipped(text),
            [
                (2, "inside the `if` of line 1: whether it runs depends on that condition".into()),
                (4, "inside the `if` of line 1: whether it runs depends on that condition".into()),
                (
                    7,
                    "inside the `{` of line 6 (a function or a group): it runs only when that runs"
                        .into()
                ),
                (10, "inside the `while` loop of line 9: it runs once per turn, if at all".into()),
            ]
        );
        assert_eq!(settled(text, "DOCKER_IMAGE_TAG"), Some(Settled::Known("v1".into(), 12)));
    }

    #[test]
    fn quotes_comments_and_heredocs_hide_no_assignment_and_make_none() {
        let text = "cat <<EOF\nDOCKER_IMAGE=in/heredoc\nEOF\nFOO=\"a\nDOCKER_IMAGE=in/quotes\"\n\
                    # DOCKER_IMAGE=commented\necho DOCKER_IMAGE=an/argument 2>&1\n\
                    cat <<-'END' > x\n\tA_ENV_NAME=in/heredoc\n\tEND\nDOCKER_IMAGE=ns/app\n";
        let script = read(text);
        assert_eq!(script.assignments.len(), 1, "{:?}", script.assignments);
        assert_eq!(script.settled["DOCKER_IMAGE"], Settled::Known("ns/app".into(), 11));
        assert_eq!(script.others, ["FOO"]);
    }

    #[test]
    fn other_names_are_listed_not_read() {
        let script = read(
            "#!/usr/bin/env bash\n# export DOCKER_IMAGE=commented\n\
             export A_GIT_SERVER=${A_GIT_SERVER:-https://github.com}\n\
             export A_GIT_PROJECT=${A_GIT_PROJECT:-setups.djangoproject}\n\
             export A_GIT_URL=${A_GIT_SERVER}/$A_GIT_NAMESPACE/$A_GIT_PROJECT\n\
             if [ x ]; then\nfi\n",
        );
        assert_eq!(script.others, ["A_GIT_SERVER", "A_GIT_URL"]);
        assert_eq!(script.assignments.len(), 1);
        assert_eq!(script.assignments[0].line, 4);
    }

    #[test]
    fn sh_decides_which_assignment_wins() {
        let text = "DOCKER_IMAGE=${DOCKER_IMAGE:-first}\nDOCKER_IMAGE=${DOCKER_IMAGE:-second}\n\
                    A_ENV_NAME=dev\nA_ENV_NAME=prod\nA_GIT_PROJECT=${A_GIT_PROJECT:-x}\nA_GIT_PROJECT=y\n\
                    DOCKER_IMAGE_TAG=\nDOCKER_IMAGE_TAG=${DOCKER_IMAGE_TAG-kept-empty}\n\
                    NO_GEN=\nNO_GEN=${NO_GEN:-1}\nSTAGES_DIR=ops\nunset STAGES_DIR\n";
        let script = read(text);
        let known = |v: &str, line| Some(Settled::Known(v.to_string(), line));
        let got = |key: &str| script.settled.get(key).cloned();
        assert_eq!(got("DOCKER_IMAGE"), known("first", 1));
        assert_eq!(got("A_ENV_NAME"), known("prod", 4));
        assert_eq!(got("A_GIT_PROJECT"), known("y", 6));
        assert_eq!(got("DOCKER_IMAGE_TAG"), known("", 7));
        assert_eq!(got("NO_GEN"), known("1", 10));
        assert_eq!(got("STAGES_DIR"), None);
        assert_eq!(skipped(text), []);
    }

    /// bash would keep what `$(cat ...)` printed: the default never applies.
    #[test]
    fn a_default_after_a_skipped_assignment_is_skipped_too() {
        let text = "DOCKER_IMAGE=$(cat .ansible/image_name)\n\
                    export DOCKER_IMAGE=${DOCKER_IMAGE:-corpusops/fallback}\n";
        assert_eq!(settled(text, "DOCKER_IMAGE"), Some(Settled::Unknown(1)));
        let why = skipped(text);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].1.contains("runs a command"), "{why:?}");
        assert_eq!(
            why[1],
            (
                2,
                "a default, and line 1 may already set it to a value not known without running the script"
                    .into()
            )
        );
        // Whatever the first one is skipped for.
        for first in [
            "[ -e .ansible/image_name ] && DOCKER_IMAGE=ns/app",
            "if [ -e .ansible/image_name ]; then DOCKER_IMAGE=ns/app; fi",
            "declare -x DOCKER_IMAGE=ns/app",
            "declare DOCKER_IMAGE=ns/app",
            "readonly DOCKER_IMAGE=ns/app",
            "DOCKER_IMAGE=`cat .ansible/image_name`",
            "DOCKER_IMAGE=${A_GIT_NAMESPACE}/app",
        ] {
            let text = format!("{first}\nDOCKER_IMAGE=${{DOCKER_IMAGE-corpusops/fallback}}\n");
            assert_eq!(settled(&text, "DOCKER_IMAGE"), Some(Settled::Unknown(1)), "{first}");
            let why = skipped(&text);
            assert!(why.len() == 2 && why[1].1.contains("line 1 may already set it"), "{why:?}");
        }
        // A literal after it is what sh leaves, again.
        let text = format!("{text}DOCKER_IMAGE=ns/app\n");
        assert_eq!(settled(&text, "DOCKER_IMAGE"), Some(Settled::Known("ns/app".into(), 3)));
    }

    #[test]
    fn a_value_that_a_later_skipped_assignment_may_change_is_not_taken() {
        let text = "A_ENV_NAME=dev\nA_ENV_NAME=${A_ENV_NAME:-x}\n[ -n \"$CI\" ] && A_ENV_NAME=ci\n";
        assert_eq!(settled(text, "A_ENV_NAME"), Some(Settled::Unknown(3)));
        let why = skipped(text);
        let later = "line 3 may set it afterwards, to a value not known without running the script";
        assert_eq!(why[0], (1, later.to_string()));
        assert_eq!(why[1], (2, later.to_string()));
        assert!(why[2].1.contains("behind `&&`"), "{why:?}");
    }
}
