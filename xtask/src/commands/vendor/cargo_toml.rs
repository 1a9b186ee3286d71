//! Editing `Cargo.toml` and `.cargo/config.toml` by lines, without a TOML
//! crate: enough for the files people write by hand (finding tables and keys,
//! adding `"xtask"` to a workspace's members); anything unusual is left to
//! them, with the exact lines to add.

/// A TOML file cut into lines, enough to find tables and keys in the files
/// people write by hand; anything more unusual is left to them.
pub(crate) struct Toml<'a> {
    pub(crate) lines: Vec<&'a str>,
}

impl<'a> Toml<'a> {
    pub(crate) fn new(text: &'a str) -> Toml<'a> {
        Toml { lines: text.split_inclusive('\n').collect() }
    }

    /// The name of the table a header line opens (`[[bin]]` gives `[bin]`).
    fn header(line: &str) -> Option<String> {
        let line = strip_comment(line).trim();
        let inner = line.strip_prefix('[')?.strip_suffix(']')?;
        Some(inner.split('.').map(str::trim).collect::<Vec<_>>().join("."))
    }

    /// The range of lines of table `name` (its header excluded).
    pub(crate) fn table(&self, name: &str) -> Option<(usize, usize)> {
        let start = self.lines.iter().position(|l| Toml::header(l).as_deref() == Some(name))?;
        let end = (start + 1..self.lines.len())
            .find(|&i| Toml::header(self.lines[i]).is_some())
            .unwrap_or(self.lines.len());
        Some((start + 1, end))
    }

    /// Lines before the first table, where dotted keys such as `alias.x` live.
    pub(crate) fn root(&self) -> (usize, usize) {
        (0, self.lines.iter().position(|l| Toml::header(l).is_some()).unwrap_or(self.lines.len()))
    }

    /// Lines in `range` that set `key` (bare or quoted).
    pub(crate) fn keys(&self, (start, end): (usize, usize), key: &str) -> Vec<usize> {
        (start..end).filter(|&i| line_key(self.lines[i]).as_deref() == Some(key)).collect()
    }
}

/// The key a `key = value` line sets, quotes removed; `None` for other lines.
pub(crate) fn line_key(line: &str) -> Option<String> {
    let (key, _) = strip_comment(line).split_once('=')?;
    let key: Vec<&str> = key.split('.').map(|k| k.trim().trim_matches('"')).collect();
    key.iter().all(|k| !k.is_empty() && !k.contains(char::is_whitespace)).then(|| key.join("."))
}

/// `line` without a trailing `# comment` (a `#` inside quotes stays).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// What to do with a project's Cargo.toml.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Members {
    AlreadyThere,
    Edited(String),
    /// Not safe to edit: the exact lines to add, and where.
    ByHand(String),
}

/// Adds `"xtask"` to the workspace members of a Cargo.toml, when the file is
/// shaped the common way: a `[workspace]` table with a `members` array of
/// plain strings, on one line or one element per line.
pub(crate) fn add_member(text: &str) -> Members {
    let toml = Toml::new(text);
    let Some(range) = toml.table("workspace") else {
        let what = if toml.table("package").is_some() {
            "Cargo.toml is a package, not a workspace"
        } else {
            "Cargo.toml has no [workspace] table"
        };
        return Members::ByHand(format!(
            "{what}; add these lines to it, so that `cargo xtask` finds the xtask:\n\n\
             [workspace]\nmembers = [\"xtask\"]"
        ));
    };
    let by_hand = |why: &str| {
        Members::ByHand(format!(
            "Cargo.toml: {why}; add \"xtask\" to the members of its [workspace] table:\n\n\
             members = [\"xtask\"]   # with the members it already has"
        ))
    };
    if toml.keys(range, "exclude").iter().any(|&i| toml.lines[i].contains("xtask")) {
        return by_hand("its workspace excludes xtask");
    }
    let members = toml.keys(range, "members");
    let &[line] = &members[..] else {
        if members.is_empty() {
            // A workspace without members (a root package alone): the root
            // package stays a member when the key is added.
            let offset: usize = toml.lines[..range.0].iter().map(|l| l.len()).sum();
            let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
            let before = if text[..offset].ends_with('\n') { "" } else { newline };
            let mut new = text.to_string();
            new.insert_str(offset, &format!("{before}members = [\"xtask\"]{newline}"));
            return Members::Edited(new);
        }
        return by_hand("it sets members more than once");
    };
    let offset: usize = toml.lines[..line].iter().map(|l| l.len()).sum();
    let Some(open) = toml.lines[line].find('[').map(|i| offset + i + 1) else {
        return by_hand("its members are not an array");
    };
    let Some(array) = parse_array(text, open) else {
        return by_hand("its members array is not a list of plain strings");
    };
    let is_xtask = |member: &str| {
        let member = member.trim_start_matches("./").trim_end_matches('/');
        glob::Pattern::new(member).is_ok_and(|p| p.matches("xtask"))
    };
    if array.elements.iter().any(|e| is_xtask(&text[e.start + 1..e.end - 1])) {
        return Members::AlreadyThere;
    }
    match insert_member(text, &array) {
        Some(new) => Members::Edited(new),
        None => by_hand("its members array is laid out in an unusual way"),
    }
}

/// A TOML array of plain strings: each element's byte range (quotes
/// included), whether a comma follows it, and where `]` is.
struct Array {
    open: usize,
    elements: Vec<Element>,
    close: usize,
}

struct Element {
    start: usize,
    end: usize,
    comma: bool,
}

/// Reads the array whose `[` is just before `from`; `None` when it holds
/// anything but plain strings, comments and commas, or what follows `]`.
fn parse_array(text: &str, from: usize) -> Option<Array> {
    let bytes = text.as_bytes();
    let mut elements: Vec<Element> = Vec::new();
    let mut i = from;
    loop {
        match *bytes.get(i)? {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => i += text[i..].find('\n')?,
            b',' => {
                let last = elements.last_mut().filter(|e| !e.comma)?;
                last.comma = true;
                i += 1;
            }
            quote @ (b'"' | b'\'') => {
                if elements.last().is_some_and(|e| !e.comma) {
                    return None;
                }
                let len = text[i + 1..].find(quote as char)?;
                let value = &text[i + 1..i + 1 + len];
                if value.contains(['\\', '\n']) || text[i..].starts_with("\"\"\"") {
                    return None;
                }
                elements.push(Element { start: i, end: i + len + 2, comma: false });
                i += len + 2;
            }
            b']' => break,
            _ => return None,
        }
    }
    // Nothing but a comment may follow the array on its line.
    let rest = text[i + 1..].split('\n').next().unwrap_or("");
    strip_comment(rest).trim().is_empty().then_some(Array { open: from - 1, elements, close: i })
}

fn insert_member(text: &str, array: &Array) -> Option<String> {
    let mut new = text.to_string();
    let Some(last) = array.elements.last() else {
        // `members = []`: only the one-line form is simple enough.
        if text[array.open..array.close].contains('\n') {
            return None;
        }
        new.replace_range(array.open + 1..array.close, "\"xtask\"");
        return Some(new);
    };
    let one_line = !text[array.open..array.close].contains('\n');
    if one_line {
        // `["app", "lib"]` gets `, "xtask"`; `["app",]` gets ` "xtask",`.
        match last.comma {
            true => {
                let comma = last.end + text[last.end..].find(',')?;
                new.insert_str(comma + 1, " \"xtask\",");
            }
            false => new.insert_str(last.end, ", \"xtask\""),
        }
        return Some(new);
    }
    // One element per line: a new line after the last one, indented alike,
    // keeping whether elements end with a comma; `"app"]` is too unusual.
    let line_start = text[..last.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = last.end + text[last.end..].find('\n')?;
    if array.close < line_end {
        return None;
    }
    let line_end = if text[..line_end].ends_with('\r') { line_end - 1 } else { line_end };
    let indent: String =
        text[line_start..last.start].chars().take_while(|c| c.is_whitespace()).collect();
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let comma = if last.comma { "," } else { "" };
    new.insert_str(line_end, &format!("{newline}{indent}\"xtask\"{comma}"));
    if !last.comma {
        new.insert(last.end, ',');
    }
    Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(text: &str) -> String {
        match add_member(text) {
            Members::Edited(new) => new,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn members_on_one_line() {
        assert_eq!(
            edited("[workspace]\nmembers = [\"app\", 'lib'] # ours\n"),
            "[workspace]\nmembers = [\"app\", 'lib', \"xtask\"] # ours\n"
        );
        assert_eq!(
            edited("[workspace]\nmembers = [\"a\",]\n"),
            "[workspace]\nmembers = [\"a\", \"xtask\",]\n"
        );
        assert_eq!(edited("[workspace]\nmembers = [ ]\n"), "[workspace]\nmembers = [\"xtask\"]\n");
    }

    #[test]
    fn members_one_per_line() {
        let text = "[package]\nname = \"x\"\n\n[workspace]\nmembers = [\n    \"app\", # main\n    \
                    # \"old\",\n]\nresolver = \"2\"\n";
        assert_eq!(
            edited(text),
            "[package]\nname = \"x\"\n\n[workspace]\nmembers = [\n    \"app\", # main\n    \
             \"xtask\",\n    # \"old\",\n]\nresolver = \"2\"\n"
        );
        assert_eq!(
            edited("[workspace]\r\nmembers = [\r\n  \"a\"\r\n]\r\n"),
            "[workspace]\r\nmembers = [\r\n  \"a\",\r\n  \"xtask\"\r\n]\r\n"
        );
    }

    #[test]
    fn members_added_to_a_workspace_without_them() {
        assert_eq!(
            edited("[package]\nname = \"x\"\n[workspace]\n[dependencies]\n"),
            "[package]\nname = \"x\"\n[workspace]\nmembers = [\"xtask\"]\n[dependencies]\n"
        );
        assert_eq!(edited("[workspace]"), "[workspace]\nmembers = [\"xtask\"]\n");
    }

    #[test]
    fn members_already_there_or_by_hand() {
        for text in [
            "[workspace]\nmembers = [\"xtask\"]\n",
            "[workspace]\nmembers = [\"crates/*\", \"./xtask/\"]\n",
            "[workspace]\nmembers = [\"*\"]\n",
        ] {
            assert_eq!(add_member(text), Members::AlreadyThere, "{text}");
        }
        for text in [
            "[package]\nname = \"x\"\n",
            "[workspace]\nmembers = [\"a\", \"b\"]\nexclude = [\"xtask\"]\n",
            "[workspace]\nmembers = [\n  \"a\"]\n",
            "[workspace]\nmembers = [\"a\\u0041\"]\n",
            "[workspace]\nmembers = [\"a\"] + x\n",
            "[workspace]\nmembers = [\"a\", [\"b\"]]\n",
            "[workspace]\nmembers = [\"a\"]\nmembers = [\"b\"]\n",
            "workspace = { members = [\"a\"] }\n",
        ] {
            assert!(matches!(add_member(text), Members::ByHand(_)), "{text}");
        }
    }
}
