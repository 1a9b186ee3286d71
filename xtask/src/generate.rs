//! Generation, pure: snippet texts in, the main Dockerfile and the chain files
//! out. Same snippets and settings, same bytes. Every refusal of the spec is
//! decided here, before anything is written.

use anyhow::Result;

use crate::exit::input_error;
use crate::lexer::{self, Item, Kind, Lexed};
use crate::secrets::looks_secret;

/// A snippet as generation sees it: how to name it, and its text.
pub(crate) struct Source<'a> {
    /// Its path from the project root, for messages and marker comments.
    pub(crate) display: &'a str,
    pub(crate) text: &'a str,
}

/// The snippets, checked and ready to render.
#[derive(Debug)]
pub(crate) struct Stages {
    header: String,
    /// Snippet 0's parser directives, as written.
    directives: Vec<String>,
    snippets: Vec<Body>,
    /// Things that build but may not do what the author expects.
    pub(crate) warnings: Vec<String>,
}

#[derive(Debug)]
struct Body {
    display: String,
    lines: Vec<String>,
    /// The ARGs in scope at the end of this snippet in the main Dockerfile.
    args_after: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Arg {
    name: String,
    /// The default as written (quotes kept), if any.
    default: Option<String>,
    /// For a bare `ARG X`: the default X had before it. BuildKit keeps that
    /// value, the legacy builder empties X, so the chain repeats both lines.
    earlier: Option<String>,
}

impl Arg {
    fn render(&self) -> String {
        match (&self.default, &self.earlier) {
            (Some(default), _) => format!("ARG {}={default}\n", self.name),
            (None, Some(earlier)) => format!("ARG {0}={earlier}\nARG {0}\n", self.name),
            (None, None) => format!("ARG {}\n", self.name),
        }
    }
}

/// Checks the snippets and prepares them for rendering. `stages_dir` names
/// their folder in the generated header.
pub(crate) fn analyze(sources: &[Source<'_>], stages_dir: &str) -> Result<Stages> {
    let Some(first) = sources.first() else {
        return Err(input_error(
            format!("no snippets in {stages_dir}"),
            format!("add {stages_dir}/Dockerfile.stage0 (base image + code injection), or set STAGES_DIR"),
        ));
    };
    let first_lexed = lexer::lex(first.text, lexer::DEFAULT_ESCAPE);
    let escape = first_lexed.escape;
    let mut lexed = vec![first_lexed];
    lexed.extend(sources[1..].iter().map(|s| lexer::lex(s.text, escape)));

    let directives = check_directives(sources, &lexed)?;
    let last = sources.len() - 1;
    let mut warnings = Vec::new();
    let mut build_stages = Vec::new();
    let mut globals: Vec<Arg> = Vec::new();
    let mut scope: Vec<Arg> = Vec::new();
    let mut seen_from = false;
    let mut snippets = Vec::with_capacity(sources.len());

    for (n, (source, lexed)) in sources.iter().zip(&lexed).enumerate() {
        for item in &lexed.items {
            let Kind::Instruction(ins) = &item.kind else { continue };
            let at = format!("{}:{}", source.display, item.start + 1);
            if let Some(name) = &ins.unterminated_heredoc {
                return Err(input_error(
                    format!("{at}: heredoc `{name}` is never terminated"),
                    format!("end it with a line that is exactly `{name}`"),
                ));
            }
            if ins.dangling_continuation {
                return Err(input_error(
                    format!("{at}: the snippet ends inside a continued {} instruction", ins.keyword),
                    format!(
                        "remove the trailing `{escape}`: the next snippet's first line would join this one"
                    ),
                ));
            }
            let words = lexer::words(&ins.args, escape);
            match ins.keyword.as_str() {
                "FROM" if n > 0 => {
                    return Err(input_error(
                        format!("{at}: FROM in stage {n}: the chain supplies it"),
                        format!(
                            "remove it: stage {n} continues the image of stage {} (put builder stages in {})",
                            n - 1,
                            sources[0].display
                        ),
                    ));
                }
                "FROM" => {
                    seen_from = true;
                    scope.clear();
                    build_stages.push(stage_name(&words));
                }
                "ARG" => {
                    for arg in parse_args(&words) {
                        if looks_secret(&arg.name) {
                            warnings.push(format!(
                                "{at}: ARG {} looks like a secret: build args are recorded in the image history; pass secrets at container start",
                                arg.name
                            ));
                        }
                        if seen_from {
                            declare(&mut scope, &globals, arg);
                        } else {
                            declare(&mut globals, &[], arg);
                        }
                    }
                }
                "ONBUILD" if n < last => warnings.push(format!(
                    "{at}: ONBUILD in stage {n} fires when the chain builds stage {} but not in the main Dockerfile",
                    n + 1
                )),
                _ => {}
            }
            if n > 0 {
                if let Some(from) = stage_reference(&ins.keyword, &words) {
                    if refers_to(&build_stages, &from) {
                        return Err(input_error(
                            format!(
                                "{at}: `{from}` names a build stage of {}, which the chain file of stage {n} does not have",
                                sources[0].display
                            ),
                            "copy what you need into the image in the snippet that declares the build stage",
                        ));
                    }
                }
            }
        }
        if n == 0 && !seen_from {
            return Err(input_error(
                format!("{} has no FROM", source.display),
                "the first snippet starts the image: add `FROM <base image>` to it",
            ));
        }
        snippets.push(Body {
            display: source.display.to_string(),
            lines: body_lines(lexed),
            args_after: scope.clone(),
        });
    }

    let header = format!(
        "# Generated by `cargo xtask dockerfile` from {stages_dir}/Dockerfile*: do not edit, edit the snippets and run it again."
    );
    Ok(Stages { header, directives, snippets, warnings })
}

impl Stages {
    pub(crate) fn len(&self) -> usize {
        self.snippets.len()
    }

    /// The main Dockerfile: every snippet, in order.
    pub(crate) fn main_dockerfile(&self) -> String {
        let mut out = self.preamble();
        for snippet in &self.snippets {
            push_snippet(&mut out, snippet);
        }
        out
    }

    /// The chain file of stage `n`; `parent` is the image reference of stage
    /// `n - 1` (unused for stage 0).
    pub(crate) fn chain_file(&self, n: usize, parent: &str) -> String {
        let mut out = self.preamble();
        if n > 0 {
            out.push('\n');
            out.push_str(&format!("FROM {parent}\n"));
            for arg in &self.snippets[n - 1].args_after {
                out.push_str(&arg.render());
            }
        }
        push_snippet(&mut out, &self.snippets[n]);
        out
    }

    fn preamble(&self) -> String {
        let mut out = String::new();
        for directive in &self.directives {
            out.push_str(directive);
            out.push('\n');
        }
        out.push_str(&self.header);
        out.push('\n');
        out
    }
}

/// One blank line, a marker naming the file, then the snippet's own lines.
fn push_snippet(out: &mut String, snippet: &Body) {
    out.push_str(&format!("\n# --- {} ---\n", snippet.display));
    for line in &snippet.lines {
        out.push_str(line);
        out.push('\n');
    }
}

/// Snippet 0's directives, after refusing misplaced, repeated or invalid ones.
fn check_directives(sources: &[Source<'_>], lexed: &[Lexed<'_>]) -> Result<Vec<String>> {
    let first = sources[0].display;
    let mut directives = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (n, (source, lexed)) in sources.iter().zip(lexed).enumerate() {
        for item in &lexed.items {
            let line = lexed.lines[item.start];
            let at = format!("{}:{}", source.display, item.start + 1);
            match &item.kind {
                Kind::Directive { name, value } if n == 0 => {
                    if seen.contains(&name.as_str()) {
                        return Err(input_error(
                            format!("{at}: parser directive `{name}` is given twice"),
                            "keep one of them",
                        ));
                    }
                    if name == "escape" && lexer::escape_char(value).is_none() {
                        return Err(input_error(
                            format!("{at}: invalid escape character `{value}`"),
                            "use `# escape=\\` or `# escape=``",
                        ));
                    }
                    seen.push(name);
                    directives.push(line.trim_end().to_string());
                }
                Kind::Directive { name, .. } => {
                    return Err(input_error(
                        format!("{at}: parser directive `{name}` in a snippet other than the first"),
                        format!("move `{}` to the top of {first}: directives apply to the whole Dockerfile", line.trim()),
                    ));
                }
                Kind::Comment => {
                    if let Some((name, _)) =
                        lexer::directive(line).filter(|(name, _)| lexer::is_known_directive(name))
                    {
                        return Err(input_error(
                            format!("{at}: parser directive `{name}` below the top of the file: docker would read it as a comment"),
                            format!("move `{}` to the very top of {first}, before any comment, blank line or instruction", line.trim()),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(directives)
}

/// A snippet's lines without its directives and its leading and trailing blank
/// lines, so that snippets are separated by exactly one blank line. A line right
/// after a heredoc terminator gets a blank line before it: hadolint's parser
/// rejects it otherwise, and docker ignores blank lines.
fn body_lines(lexed: &Lexed<'_>) -> Vec<String> {
    let items: Vec<&Item> =
        lexed.items.iter().filter(|item| !matches!(item.kind, Kind::Directive { .. })).collect();
    let first = items.iter().position(|item| item.kind != Kind::Blank);
    let last = items.iter().rposition(|item| item.kind != Kind::Blank);
    let (Some(first), Some(last)) = (first, last) else { return Vec::new() };
    let items = &items[first..=last];
    let mut lines = Vec::new();
    for (i, item) in items.iter().enumerate() {
        lines.extend(lexed.item_lines(item).iter().map(|line| line.to_string()));
        let after_heredoc = matches!(&item.kind, Kind::Instruction(ins) if ins.ends_with_heredoc);
        if after_heredoc && items.get(i + 1).is_some_and(|next| next.kind != Kind::Blank) {
            lines.push(String::new());
        }
    }
    lines
}

/// The name a `FROM ... AS name` gives its build stage, lower-cased as docker does.
fn stage_name(words: &[String]) -> Option<String> {
    match words {
        [.., as_, name] if words.len() >= 3 && as_.eq_ignore_ascii_case("as") => {
            Some(name.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// `ARG a=1 b` as name/default pairs.
fn parse_args(words: &[String]) -> Vec<Arg> {
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((name, default)) => {
                Arg { name: name.to_string(), default: Some(default.to_string()), earlier: None }
            }
            None => Arg { name: word.clone(), default: None, earlier: None },
        })
        .collect()
}

/// Declares `arg` in `scope`, where it takes the place of an earlier
/// declaration (moving to the end). A bare `ARG X` takes the global default
/// when there is one (as both builders do), else it remembers X's earlier default.
fn declare(scope: &mut Vec<Arg>, globals: &[Arg], mut arg: Arg) {
    let earlier = scope.iter().position(|a| a.name == arg.name).map(|at| scope.remove(at));
    if arg.default.is_none() {
        arg.default = globals.iter().find(|a| a.name == arg.name).and_then(|a| a.default.clone());
        if arg.default.is_none() {
            arg.earlier = earlier.and_then(|a| a.default.or(a.earlier));
        }
    }
    scope.push(arg);
}

/// The source a `COPY --from=` / `ADD --from=` / `RUN --mount=...from=` names.
fn stage_reference(keyword: &str, words: &[String]) -> Option<String> {
    let unquote = |s: &str| s.trim_matches(|c| c == '"' || c == '\'').to_string();
    match keyword {
        "COPY" | "ADD" => words.iter().find_map(|w| w.strip_prefix("--from=")).map(unquote),
        "RUN" => words
            .iter()
            .filter_map(|w| w.strip_prefix("--mount="))
            .flat_map(|mount| unquote(mount).split(',').map(str::to_string).collect::<Vec<_>>())
            .find_map(|field| {
                let (key, value) = field.split_once('=')?;
                key.trim().eq_ignore_ascii_case("from").then(|| value.trim().to_string())
            }),
        _ => None,
    }
}

/// Whether `from` is the name or the index of one of `stages`.
fn refers_to(stages: &[Option<String>], from: &str) -> bool {
    let by_index = from.parse::<usize>().is_ok_and(|i| i < stages.len());
    let from = from.to_ascii_lowercase();
    by_index || stages.iter().flatten().any(|name| *name == from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(texts: &[&str]) -> Result<Stages> {
        let names: Vec<String> =
            (0..texts.len()).map(|n| format!(".docker/Dockerfile.stage{n}")).collect();
        let sources: Vec<Source<'_>> =
            names.iter().zip(texts).map(|(display, text)| Source { display, text }).collect();
        analyze(&sources, ".docker")
    }

    fn error(texts: &[&str]) -> String {
        format!("{:#}", stages(texts).unwrap_err())
    }

    fn chain_args(texts: &[&str], n: usize) -> Vec<String> {
        let chain = stages(texts).unwrap().chain_file(n, "p:t_stage0");
        // The re-declarations sit between the FROM and the blank line before the snippet.
        let after_from = chain.split_once("\nFROM p:t_stage0\n").unwrap().1;
        after_from.lines().take_while(|l| !l.is_empty()).map(str::to_string).collect()
    }

    #[test]
    fn snippets_are_separated_by_one_blank_line() {
        let main =
            stages(&["\n\nFROM a\n\n\n", "RUN b", "\r\nRUN c\r\n\r\n"]).unwrap().main_dockerfile();
        let body = main.split_once("---\n").unwrap().1;
        assert_eq!(
            body,
            "FROM a\n\n# --- .docker/Dockerfile.stage1 ---\nRUN b\n\n# --- .docker/Dockerfile.stage2 ---\nRUN c\n"
        );
    }

    #[test]
    fn blank_line_after_a_heredoc_terminator() {
        let main = stages(&["FROM a\nRUN <<EOF\nx\nEOF\n# c\nRUN <<EOF\ny\nEOF\n\nRUN z"])
            .unwrap()
            .main_dockerfile();
        assert!(main.ends_with("RUN <<EOF\nx\nEOF\n\n# c\nRUN <<EOF\ny\nEOF\n\nRUN z\n"), "{main}");
    }

    #[test]
    fn directives_are_hoisted_above_the_header() {
        let s =
            stages(&["# syntax=docker/dockerfile:1\n# escape=`\nFROM a", "RUN b `\n  c"]).unwrap();
        for text in [s.main_dockerfile(), s.chain_file(1, "img:t_stage0")] {
            assert!(
                text.starts_with("# syntax=docker/dockerfile:1\n# escape=`\n# Generated by"),
                "{text}"
            );
        }
        assert!(s.chain_file(1, "img:t_stage0").contains("\nFROM img:t_stage0\n"));
    }

    #[test]
    fn chain_redeclares_args_in_scope() {
        let texts = [
            "ARG BASE=x\nARG G=global\nFROM $BASE AS build\nARG LOST=1\nFROM $BASE\nARG A=1 B\nARG G",
            "ARG C=3\nARG A=2",
            "ARG B\nARG C",
            "RUN d",
        ];
        assert_eq!(chain_args(&texts, 1), ["ARG A=1", "ARG B", "ARG G=global"]);
        assert_eq!(chain_args(&texts, 2), ["ARG B", "ARG G=global", "ARG C=3", "ARG A=2"]);
        assert_eq!(chain_args(&texts, 3), ["ARG G=global", "ARG A=2", "ARG B", "ARG C=3", "ARG C"]);
    }

    /// What both builders do with a bare re-declaration: the global default
    /// wins; without one BuildKit keeps the earlier default and the legacy
    /// builder empties the ARG, and the repeated pair gives each its own answer.
    #[test]
    fn bare_redeclaration_behaves_as_in_the_main_dockerfile() {
        let texts = ["ARG G=global\nFROM a\nARG G=local\nARG H=h1", "ARG G\nARG H", "RUN x"];
        assert_eq!(chain_args(&texts, 1), ["ARG G=local", "ARG H=h1"]);
        assert_eq!(chain_args(&texts, 2), ["ARG G=global", "ARG H=h1", "ARG H"]);
    }

    #[test]
    fn args_in_heredocs_and_continuations_are_not_declarations() {
        let texts = ["FROM a\nRUN <<EOF\nARG NO=1\nEOF\nRUN echo \\\nARG=x", "RUN b", "RUN c"];
        assert!(chain_args(&texts, 1).is_empty());
    }

    #[test]
    fn refusals() {
        assert!(error(&["FROM a", "FROM b"]).contains("Dockerfile.stage1:1: FROM in stage 1"));
        assert!(error(&["RUN a"]).contains("has no FROM"));
        assert!(
            error(&["FROM a", "# syntax=x\nRUN b"]).contains("stage1:1: parser directive `syntax`")
        );
        assert!(error(&["FROM a\n# escape=`"])
            .contains("stage0:2: parser directive `escape` below the top"));
        assert!(error(&["# escape=x\nFROM a"]).contains("invalid escape character"));
        assert!(error(&["# check=a\n# CHECK=b\nFROM a"]).contains("given twice"));
        assert!(error(&["FROM a AS Build\nFROM b", "COPY --from=build /a /b"])
            .contains("`build` names a build stage"));
        assert!(
            error(&["FROM a\nFROM b", "COPY --from=0 /a /b"]).contains("`0` names a build stage")
        );
        assert!(error(&["FROM a AS b\nFROM c", "RUN --mount=type=cache,from=b,target=/x true"])
            .contains("`b` names"));
        assert!(error(&["FROM a", "RUN x \\"]).contains("ends inside a continued RUN"));
        assert!(error(&["FROM a", "RUN <<EOF\nx"]).contains("heredoc `EOF` is never terminated"));
    }

    #[test]
    fn copy_from_an_image_is_fine() {
        assert!(stages(&["FROM a AS build\nFROM b", "COPY --from=nginx:1 /a /b"]).is_ok());
        assert!(stages(&["FROM a AS build\nCOPY --from=build /a /b\nFROM b", "RUN x"]).is_ok());
    }

    #[test]
    fn warnings() {
        let s = stages(&["FROM a\nONBUILD RUN x\nARG DB_PASSWORD", "ONBUILD RUN y"]).unwrap();
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("ONBUILD in stage 0"));
        assert!(s.warnings[1].contains("ARG DB_PASSWORD looks like a secret"));
    }
}
