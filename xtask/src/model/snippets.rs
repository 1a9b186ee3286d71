//! The stage snippets by their names: which file names are snippets (those
//! starting with `Dockerfile`), in natural order (stage2 < stage10), each
//! stage's id being its position. Listing the stages dir is the project's
//! (`ops::project::discover_snippets`): this module sees names only.

use std::cmp::Ordering;

use anyhow::Result;

use crate::util::exit::input_error;

/// Editor and merge leftovers that are never snippets.
const LEFTOVERS: [&str; 5] = ["*~", "*.swp", "*.orig", "*.rej", "*.bak"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snippet {
    pub(crate) id: usize,
    /// The file name: `Dockerfile.stage2`.
    pub(crate) file_name: String,
    /// How a user addresses it: the part after `Dockerfile.` (`stage2`).
    pub(crate) name: String,
    /// Its path from the project root, as shown to users: `.docker/Dockerfile.stage2`.
    pub(crate) display: String,
}

/// Whether a file of the stages dir named `name` is a snippet: its name
/// starts with `Dockerfile` and it is no editor or merge leftover. When the
/// stages dir is the project root (`in_root`), `Dockerfile` itself is the
/// main Dockerfile: an output, not a snippet.
pub(crate) fn is_snippet(name: &str, in_root: bool) -> bool {
    let snippet = glob::Pattern::new("Dockerfile*").expect("valid snippet pattern");
    let leftover = |p: &&str| glob::Pattern::new(p).expect("valid leftover pattern").matches(name);
    snippet.matches(name) && !LEFTOVERS.iter().any(leftover) && !(in_root && name == "Dockerfile")
}

/// Sorts file names into stage order and checks what their names claim.
pub(crate) fn order(mut names: Vec<String>, stages_dir: &str) -> Result<Vec<Snippet>> {
    names.sort_by(|a, b| natural_cmp(a, b).then_with(|| a.cmp(b)));
    let snippets: Vec<Snippet> = names
        .into_iter()
        .enumerate()
        .map(|(id, file_name)| Snippet {
            id,
            name: file_name.strip_prefix("Dockerfile.").unwrap_or(&file_name).to_string(),
            display: format!("{stages_dir}/{file_name}"),
            file_name,
        })
        .collect();

    let claims: Vec<(&Snippet, u128)> =
        snippets.iter().filter_map(|s| Some((s, claimed_number(&s.name)?))).collect();
    for (i, (a, number)) in claims.iter().enumerate() {
        if let Some((b, _)) = claims[i + 1..].iter().find(|(_, other)| other == number) {
            return Err(input_error(
                format!("{} and {} both say they are stage {number}", a.display, b.display),
                "rename one of them: each stage has one snippet",
            ));
        }
    }
    for (snippet, number) in claims {
        if number != snippet.id as u128 {
            return Err(input_error(
                format!(
                    "{} says it is stage {number} but it is stage {} in natural order of the snippets",
                    snippet.display, snippet.id
                ),
                format!("rename it Dockerfile.stage{}, or add or rename the snippets before it", snippet.id),
            ));
        }
    }
    Ok(snippets)
}

/// The number in a name that is exactly `stage<digits>`.
fn claimed_number(name: &str) -> Option<u128> {
    let digits = name.strip_prefix("stage")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A number too big for u128 cannot be anyone's position either.
    Some(digits.parse().unwrap_or(u128::MAX))
}

/// Natural order: runs of digits compare as numbers, everything else byte by byte.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (na, nb) = (trim_zeros(da), trim_zeros(db));
                let by_value = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let n = digits.iter().take_while(|&&b| b == b'0').count();
    &digits[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(names: &[&str]) -> Result<Vec<String>> {
        let names = names.iter().map(|s| s.to_string()).collect();
        Ok(order(names, ".docker")?.into_iter().map(|s| s.file_name).collect())
    }

    #[test]
    fn natural_order() {
        let names =
            ["Dockerfile.stage10", "Dockerfile.stage2", "Dockerfile.stage1", "Dockerfile.stage0"];
        let mut more: Vec<String> = (3..10).map(|n| format!("Dockerfile.stage{n}")).collect();
        more.extend(names.iter().map(|s| s.to_string()));
        let sorted = ordered(&more.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        let expected: Vec<String> = (0..=10).map(|n| format!("Dockerfile.stage{n}")).collect();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn ties_break_by_bytes() {
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Equal);
        assert_eq!(
            ordered(&["Dockerfile.a1", "Dockerfile.a01"]).unwrap(),
            ["Dockerfile.a01", "Dockerfile.a1"]
        );
        assert_eq!(
            natural_cmp("x99999999999999999999999999999999999999999", "x2"),
            Ordering::Greater
        );
    }

    #[test]
    fn names_and_ids() {
        let s = order(vec!["Dockerfile.base".into(), "Dockerfile".into()], ".docker").unwrap();
        assert_eq!((s[0].id, s[0].name.as_str()), (0, "Dockerfile"));
        assert_eq!(
            (s[1].id, s[1].name.as_str(), s[1].display.as_str()),
            (1, "base", ".docker/Dockerfile.base")
        );
    }

    #[test]
    fn claimed_numbers_must_match_positions() {
        let err = ordered(&["Dockerfile.stage0", "Dockerfile.stage2"]).unwrap_err().to_string();
        assert!(
            err.contains(".docker/Dockerfile.stage2 says it is stage 2 but it is stage 1"),
            "{err}"
        );
        let err = ordered(&["Dockerfile.stage1", "Dockerfile.stage01", "Dockerfile.stage0"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "Dockerfile.stage01 and .docker/Dockerfile.stage1 both say they are stage 1"
            ),
            "{err}"
        );
        assert!(ordered(&["Dockerfile.stage0", "Dockerfile.stage1x", "Dockerfile.stage2"]).is_ok());
    }
}
