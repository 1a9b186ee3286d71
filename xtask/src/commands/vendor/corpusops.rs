//! What vendor takes from a corpusops project: the settings its deploy env
//! scripts assign literally (read by `settings::deploy_env`, never run),
//! written as `.docker/stages.env`; and the two-line wrapper that makes its
//! build script run the xtask, printed, never written.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::Report;
use crate::settings::{self, deploy_env, env_file};

/// The corpusops scripts vendor reads settings from, the one that wins first.
const DEPLOY_ENVS: [&str; 2] =
    [".ansible/scripts/ansible_deploy_env.local", ".ansible/scripts/ansible_deploy_env"];

/// The corpusops build script the xtask replaces.
const BUILD_SCRIPT: &str = ".ansible/scripts/docker_build_stages.sh";

/// What vendor takes from the deploy env: the settings file's text and values.
pub(super) struct Migrated {
    pub(super) text: String,
    pub(super) values: BTreeMap<String, String>,
}

/// Reads the known settings that the corpusops deploy env scripts assign
/// literally, never running them; notes what it took, what it skipped and
/// why. None when there is no script, or nothing to take.
pub(super) fn migrate_deploy_env(dir: &Path, report: &mut Report) -> Option<Migrated> {
    // Per setting: its value when known, and the file and line that decide it.
    let mut decided: BTreeMap<String, (Option<String>, &str, usize)> = BTreeMap::new();
    let mut others: Vec<String> = Vec::new();
    let (mut skipped, mut notes) = (Vec::new(), Vec::new());
    for rel in DEPLOY_ENVS {
        let path = dir.join(rel);
        if path.symlink_metadata().is_err() {
            continue;
        }
        let text = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                let link = fs::read_link(&path)
                    .map(|to| format!("; it links to {}", to.display()))
                    .unwrap_or_default();
                notes.push(format!("  unreadable {rel}: skipped ({err}{link})"));
                continue;
            }
        };
        let script = deploy_env::read(&text);
        for a in &script.assignments {
            if let Err(why) = &a.value {
                skipped.push(format!("  skipped    {} ({rel}:{}): {why}", a.key, a.line));
            }
        }
        for (key, settled) in script.settled {
            let (value, line) = match settled {
                // Set but empty is no setting: as if the script left it unset.
                deploy_env::Settled::Known(value, _) if value.is_empty() => continue,
                deploy_env::Settled::Known(value, line) => (Some(value), line),
                // Named above, with why; it still wins over the next file.
                deploy_env::Settled::Unknown(line) => (None, line),
            };
            match decided.get(&key) {
                Some((_, winner, at)) => {
                    if value.is_some() {
                        skipped.push(format!(
                            "  skipped    {key} ({rel}:{line}): {winner}:{at} sets it too, and wins"
                        ));
                    }
                }
                None => {
                    decided.insert(key, (value, rel, line));
                }
            }
        }
        others
            .extend(script.others.into_iter().filter(|o| !others.contains(o)).collect::<Vec<_>>());
    }
    let taken: BTreeMap<String, (String, &str, usize)> = decided
        .into_iter()
        .filter_map(|(key, (value, rel, line))| Some((key, (value?, rel, line))))
        .collect();
    if !others.is_empty() {
        notes.push(format!("  ignored    {} (not settings of the xtask)", others.join(", ")));
    }
    for (key, (value, rel, line)) in &taken {
        let value = env_file::quote(value);
        report.migration.push(format!("  took       {key}={value} ({rel}:{line})"));
    }
    report.migration.extend(skipped);
    report.migration.extend(notes);
    if taken.is_empty() {
        if !report.migration.is_empty() {
            report.migration.push(format!("  nothing to take: {} not written", settings::FILE));
        }
        return None;
    }
    let mut text = String::from(SETTINGS_HEADER);
    for rel in DEPLOY_ENVS {
        let from: Vec<_> = taken.iter().filter(|(_, (_, r, _))| *r == rel).collect();
        if from.is_empty() {
            continue;
        }
        text.push_str(&format!("\n# Taken by `cargo xtask vendor` from {rel}:\n"));
        for (key, (value, _, line)) in from {
            text.push_str(&format!("{key}={}  # line {line}\n", env_file::quote(value)));
        }
    }
    let values = taken.into_iter().map(|(k, (v, _, _))| (k, v)).collect();
    Some(Migrated { text, values })
}

const SETTINGS_HEADER: &str = "\
# Settings of `cargo xtask` that the whole team shares (committed).
# The environment overrides them: DOCKER_IMAGE=ns/app:dev cargo xtask stages
# Syntax of docker compose's env files; nothing in here is expanded or run.
# Accepted names: see `cargo xtask --help`.
";

/// The settings the deploy env computes (a value only running it tells, as
/// `DOCKER_IMAGE_TAG=$(git rev-parse --short HEAD)`), which a settings file
/// cannot hold: `KEY (file:line)`, in the order the scripts decide them.
pub(super) fn computed_settings(dir: &Path) -> Vec<String> {
    let mut decided: BTreeMap<String, Option<String>> = BTreeMap::new();
    for rel in DEPLOY_ENVS {
        let Ok(bytes) = fs::read(dir.join(rel)) else { continue };
        let script = deploy_env::read(&String::from_utf8_lossy(&bytes));
        for (key, settled) in script.settled {
            let computed = match settled {
                deploy_env::Settled::Unknown(line) => Some(format!("{key} ({rel}:{line})")),
                deploy_env::Settled::Known(..) => None,
            };
            decided.entry(key).or_insert(computed);
        }
    }
    decided.into_values().flatten().collect()
}

/// corpusops' build script stays (other scripts and habits call it): the
/// lines that make it run the xtask are printed, never written. Where the
/// deploy env computes settings (`computed`), the wrapper runs the deploy env
/// first, as the old script did, so that whatever calls it keeps its tags.
pub(super) fn build_script(dir: &Path, report: &mut Report, computed: &[String]) {
    let path = dir.join(BUILD_SCRIPT);
    if path.symlink_metadata().is_err() {
        return;
    }
    if fs::read_to_string(&path).is_ok_and(|text| text.contains("exec cargo xtask stages")) {
        report.file("unchanged", BUILD_SCRIPT, "runs the xtask");
        return;
    }
    report.file("unchanged", BUILD_SCRIPT, "left as it is: see below");
    report.by_hand.push(wrapper(computed));
}

/// The wrapper that replaces the build script, as printed.
fn wrapper(computed: &[String]) -> String {
    if computed.is_empty() {
        return format!(
            "replace {BUILD_SCRIPT} with this two-line wrapper, so whatever calls it runs the xtask:\n\n\
             #!/bin/sh\ncd \"$(dirname \"$0\")/../..\" && exec cargo xtask stages \"$@\""
        );
    }
    let sources: String = DEPLOY_ENVS
        .iter()
        .rev()
        .map(|rel| format!("if [ -r {rel} ]; then . ./{rel}; fi\n"))
        .collect();
    format!(
        "replace {BUILD_SCRIPT} with this wrapper, so whatever calls it runs the xtask with \
         what the deploy env computes ({}), as it did:\n\n\
         #!/bin/sh\ncd \"$(dirname \"$0\")/../..\" || exit\n{sources}exec cargo xtask stages \"$@\"",
        computed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_runs_the_deploy_env_when_it_computes_settings() {
        let plain = wrapper(&[]);
        assert!(plain.ends_with(
            "#!/bin/sh\ncd \"$(dirname \"$0\")/../..\" && exec cargo xtask stages \"$@\""
        ));
        let computed =
            wrapper(&["DOCKER_IMAGE_TAG (.ansible/scripts/ansible_deploy_env.local:8)".into()]);
        assert!(
            computed.contains("(DOCKER_IMAGE_TAG (.ansible/scripts/ansible_deploy_env.local:8))"),
            "{computed}"
        );
        assert!(computed.ends_with(
            "#!/bin/sh\ncd \"$(dirname \"$0\")/../..\" || exit\n\
             if [ -r .ansible/scripts/ansible_deploy_env ]; then . ./.ansible/scripts/ansible_deploy_env; fi\n\
             if [ -r .ansible/scripts/ansible_deploy_env.local ]; then . ./.ansible/scripts/ansible_deploy_env.local; fi\n\
             exec cargo xtask stages \"$@\""
        ), "{computed}");
    }
}
