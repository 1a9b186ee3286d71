//! Property tests of the snippet lexer and of generation on generated
//! Dockerfile-like text: no panic, no hang, nothing lost, nothing joined.
//!
//! A short run is part of `cargo test`. A long one:
//! `XTASK_FUZZ_SECONDS=600 cargo test -p xtask lexer_fuzz -- --nocapture`
//! (it prints the number of cases and the seed; `XTASK_FUZZ_SEED` replays one).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::generate::{self, Source};
use crate::lexer::{self, Kind, DEFAULT_ESCAPE};

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
const WORDS: [&str; 32] = [
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
    std::thread::spawn(move || {
        let mut rng = Rng(seed | 1);
        let started = Instant::now();
        let (mut cases, mut generated) = (0u64, 0u64);
        while started.elapsed() < budget {
            let case_seed = rng.next() | 1;
            let mut case = Rng(case_seed);
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
            generated += u64::from(check_generation(&snippets));
            cases += 1;
        }
        let _ = done.send((cases, generated));
    });
    let limit = budget + Duration::from_secs(30);
    match finished.recv_timeout(limit) {
        Ok(cases) => cases,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the lexer hung (seed {seed})"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("a property failed (seed {seed}), see above")
        }
    }
}

#[test]
fn lexer_and_generation_properties() {
    let seconds =
        std::env::var("XTASK_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let seed =
        std::env::var("XTASK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let (cases, generated) = fuzz(seed, Duration::from_secs(seconds));
    eprintln!("lexer fuzz: {cases} cases ({generated} accepted by generation) in {seconds} s (seed {seed})");
    assert!(cases > 100 && generated > cases / 20, "too few cases: {cases}, {generated}");
}
