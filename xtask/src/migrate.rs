//! Reading the settings out of corpusops' deploy env scripts
//! (`.ansible/scripts/ansible_deploy_env(.local)`) for `vendor`, without ever
//! running them: only assignments whose value is known without a shell are
//! taken; everything else is named with why it was skipped.

use std::collections::BTreeMap;

use crate::settings::NAMES;

/// One assignment of a known setting in a deploy env script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) key: String,
    pub(crate) line: usize,
    /// The literal value and whether it is the `${KEY:-literal}` form, or
    /// why there is none without running the script.
    pub(crate) value: Result<(String, bool), String>,
}

/// What one script gives: the assignments of known settings, in order, and
/// the other names it assigns (not settings of this tool).
#[derive(Debug, Default)]
pub(crate) struct Script {
    pub(crate) assignments: Vec<Assignment>,
    pub(crate) others: Vec<String>,
}

impl Script {
    /// The value each setting ends up with, as sh would leave it for a user
    /// with none of them in the environment: a plain assignment sets it, the
    /// `${KEY:-literal}` form only when it is not set yet. The line is kept.
    pub(crate) fn values(&self) -> BTreeMap<String, (String, usize)> {
        let mut values: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for a in &self.assignments {
            let Ok((value, default)) = &a.value else { continue };
            if *default && values.contains_key(&a.key) {
                continue;
            }
            if value.is_empty() {
                values.remove(&a.key);
            } else {
                values.insert(a.key.clone(), (value.clone(), a.line));
            }
        }
        values
    }
}

/// The assignments in a deploy env script's `text`.
pub(crate) fn read(text: &str) -> Script {
    let mut script = Script::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let indented = raw.starts_with([' ', '\t']);
        let content = raw.trim();
        let assignment = content.strip_prefix("export ").map_or(content, str::trim_start);
        let Some((key, rest)) = assignment.split_once('=') else { continue };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if !NAMES.contains(&key) {
            if !script.others.iter().any(|o| o == key) {
                script.others.push(key.to_string());
            }
            continue;
        }
        let value = if indented {
            Err("indented, so it may sit in an `if` or a function: set it in .docker/stages.env by hand if it always applies".to_string())
        } else {
            literal(key, rest)
        };
        script.assignments.push(Assignment { key: key.to_string(), line, value });
    }
    script
}

/// The value of `key=rest` when it is known without a shell, and whether it
/// is the `${KEY:-literal}` form.
fn literal(key: &str, rest: &str) -> Result<(String, bool), String> {
    let (value, quoting, after) = word(rest)?;
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(format!("`{after}` follows the value: only a lone value is read"));
    }
    if quoting == Quoting::Single {
        return Ok((value, false));
    }
    // `${KEY:-literal}`: the script's default, which the environment overrides,
    // as it does any setting.
    if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        let default = inner
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(":-").or_else(|| r.strip_prefix('-')));
        return match default {
            Some(d) if !d.contains(['$', '`', '}', '\\', '"', '\'']) => Ok((d.to_string(), true)),
            _ => Err(format!("`{value}` is built from other variables")),
        };
    }
    if value.contains('`') || value.contains("$(") {
        return Err(format!("`{value}` runs a command"));
    }
    if value.contains('$') {
        return Err(format!("`{value}` is built from other variables"));
    }
    Ok((value, false))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value(line: &str) -> Result<String, String> {
        let script = read(line);
        assert_eq!(script.assignments.len(), 1, "{line}");
        script.assignments[0].value.clone().map(|(v, _)| v)
    }

    #[test]
    fn literal_values_are_taken() {
        assert_eq!(value("DOCKER_IMAGE=ns/app"), Ok("ns/app".into()));
        assert_eq!(value("export DOCKER_IMAGE=ns/app # ours"), Ok("ns/app".into()));
        assert_eq!(value("DOCKER_BUILD_ARGS='--network host $x'"), Ok("--network host $x".into()));
        assert_eq!(value("A_ENV_NAME=\"prod env\""), Ok("prod env".into()));
        assert_eq!(value("A_ENV_NAME="), Ok(String::new()));
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
            ("DOCKER_IMAGE_TAG=$(git rev-parse HEAD)", "runs a command"),
            ("DOCKER_IMAGE_TAG=\"$(date +%F)\"", "runs a command"),
            ("DOCKER_IMAGE_TAG=`date`", "runs a command"),
            ("DOCKER_IMAGE=a b", "follows the value"),
            ("DOCKER_IMAGE=a;touch pwned", "not a plain value"),
            ("DOCKER_IMAGE='open", "not a plain value"),
            ("  DOCKER_IMAGE=ns/app", "indented"),
        ] {
            let got = value(line).expect_err(line);
            assert!(got.contains(why), "{line}: {got}");
        }
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
        let script = read(
            "DOCKER_IMAGE=${DOCKER_IMAGE:-first}\nDOCKER_IMAGE=${DOCKER_IMAGE:-second}\n\
             A_ENV_NAME=dev\nA_ENV_NAME=prod\nA_GIT_PROJECT=${A_GIT_PROJECT:-x}\nA_GIT_PROJECT=y\n",
        );
        let values = script.values();
        assert_eq!(values["DOCKER_IMAGE"], ("first".to_string(), 1));
        assert_eq!(values["A_ENV_NAME"], ("prod".to_string(), 4));
        assert_eq!(values["A_GIT_PROJECT"], ("y".to_string(), 6));
    }
}
