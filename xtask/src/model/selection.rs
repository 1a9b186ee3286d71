//! Which stages a user means: ids (`2`), names (`stage2`), inclusive ranges
//! (`1-3`, `stage1-stage3`) and open ranges through the last stage (`3-`,
//! `stage3-`), separated by spaces or commas.

use anyhow::Result;

use crate::model::snippets::Snippet;
use crate::util::exit::input_error;

/// The stage ids `words` select, ascending and without repeats.
pub(crate) fn select(words: &[String], snippets: &[Snippet]) -> Result<Vec<usize>> {
    let mut ids = Vec::new();
    for token in
        words.iter().flat_map(|w| w.split([',', ' ', '\t', '\n'])).filter(|t| !t.is_empty())
    {
        ids.extend(resolve_token(token, snippets)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn resolve_token(token: &str, snippets: &[Snippet]) -> Result<std::ops::RangeInclusive<usize>> {
    if let Some(id) = resolve_one(token, snippets) {
        return Ok(id..=id);
    }
    // A range: any `-` whose both sides name stages (names may hold dashes).
    for (at, _) in token.match_indices('-') {
        let (from, to) = (&token[..at], &token[at + 1..]);
        if let (Some(a), Some(b)) = (resolve_one(from, snippets), resolve_one(to, snippets)) {
            if a > b {
                return Err(input_error(
                    format!("stage range {token} is reversed"),
                    format!("write it {to}-{from}"),
                ));
            }
            return Ok(a..=b);
        }
    }
    let last = snippets.len().saturating_sub(1);
    if let Some(from) = token.strip_suffix('-').and_then(|from| resolve_one(from, snippets)) {
        return Ok(from..=last);
    }
    let names: Vec<&str> = snippets.iter().map(|s| s.name.as_str()).collect();
    Err(input_error(
        format!("unknown stage `{token}`"),
        format!(
            "stages are 0-{last} ({}), a range such as 0-{last} or {last}-, or their names",
            names.join(", ")
        ),
    ))
}

fn resolve_one(word: &str, snippets: &[Snippet]) -> Option<usize> {
    if let Some(s) = snippets.iter().find(|s| s.name == word) {
        return Some(s.id);
    }
    let is_id = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
    word.parse::<usize>().ok().filter(|&id| is_id && id < snippets.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snippets::order;

    fn stages(names: &[&str]) -> Vec<Snippet> {
        order(names.iter().map(|n| format!("Dockerfile.{n}")).collect(), ".docker").unwrap()
    }

    fn sel(words: &[&str], names: &[&str]) -> Result<Vec<usize>> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        select(&words, &stages(names))
    }

    #[test]
    fn ids_names_and_ranges() {
        let five = ["stage0", "stage1", "stage2", "stage3", "stage4"];
        assert_eq!(sel(&["3", "1"], &five).unwrap(), [1, 3]);
        assert_eq!(sel(&["stage2"], &five).unwrap(), [2]);
        assert_eq!(sel(&["1-3"], &five).unwrap(), [1, 2, 3]);
        assert_eq!(sel(&["stage1-stage2,4"], &five).unwrap(), [1, 2, 4]);
        assert_eq!(sel(&["0 2", "2"], &five).unwrap(), [0, 2]);
        assert_eq!(sel(&["base-my-app"], &["base", "my-app", "z"]).unwrap(), [0, 1]);
        assert_eq!(sel(&["my-app"], &["base", "my-app"]).unwrap(), [1]);
        assert_eq!(sel(&["3-"], &five).unwrap(), [3, 4]);
        assert_eq!(sel(&["stage3-"], &five).unwrap(), [3, 4]);
        assert_eq!(sel(&["4-", "0"], &five).unwrap(), [0, 4]);
        assert_eq!(sel(&["my-app-"], &["base", "my-app", "z"]).unwrap(), [1, 2]);
    }

    #[test]
    fn bad_addresses() {
        let three = ["stage0", "stage1", "stage2"];
        for (word, message) in [
            ("3", "unknown stage `3`"),
            ("x", "unknown stage `x`"),
            ("2-1", "stage range 2-1 is reversed"),
            ("1-5", "unknown stage `1-5`"),
            ("-1", "unknown stage `-1`"),
            ("+1", "unknown stage `+1`"),
            ("3-", "unknown stage `3-`"),
            ("-", "unknown stage `-`"),
        ] {
            let err = sel(&[word], &three).unwrap_err().to_string();
            assert!(err.contains(message), "{word}: {err}");
        }
    }
}
