//! The command line: which command, with which options. Anything not
//! understood is refused, since pico-args leaves unknown flags to the caller.

use std::ffi::OsString;

use anyhow::Result;
use pico_args::Arguments;

use crate::commands::hook::Action;
use crate::commands::stages::Options;
use crate::commands::{dockerfile, hook, prune, stages, status, vendor, verify};
use crate::ops::session::BuildOptions;
use crate::util::exit::input_error;

pub(crate) const HELP: &str = "\
cargo xtask: build Docker images in stages

Usage: cargo xtask <command> [options]

Commands:
  dockerfile [--check] [--force]
                         regenerate ./Dockerfile and the stage chain from the snippets
  stages [STAGE...]      build stages (ids, names or ranges), after their missing ancestors
                         (taken by key from this engine or, with --pull, the registry);
                         no STAGE: every stage, then the full image
  stages --stale         build what `status` does not call fresh
                         (both: [--dry-run] [--push] [--pull] [--allow-secret-args] [-- ARGS])
  status [--registry]    show which stage images are fresh, stale or missing, and why
  prune [--dry-run]      remove the untagged images that earlier builds of this image left
  verify [--allow-secret-args] [-- ARGS]
                         build the chain and the main Dockerfile, and compare the two images
  vendor DIR             make the project in DIR use this xtask
  hook install|uninstall the git pre-commit hook that runs `cargo xtask dockerfile --check`

Run `cargo xtask <command> --help` for a command's options.

Settings (environment variables, else the team's .docker/stages.env: KEY=VALUE lines):
  STAGES_DIR         snippet folder relative to the project root (default .docker)
  DOCKER_IMAGE       image name, may carry a registry and a tag: host:5000/ns/app:v1
  DOCKER_IMAGE_TAG   tag when DOCKER_IMAGE has none (default latest)
  A_GIT_NAMESPACE, A_GIT_PROJECT
                     default image ns/project; else the git remote origin, else the folder name
  DOCKER_BUILD_ARGS  extra words for every build, split like a shell would (never run by one)
  A_ENV_NAME         passed to every build as --build-arg APP_ENV_NAME=...
  STAGES_TO_BUILD    stages to build when none are given (spaces or commas between them)
  NO_GEN, NO_STAGES_BUILD, NO_FULL_BUILD
                     skip generation / stage builds / the full build (any non-empty value)
  DOCKER             the engine program (default docker; podman works too)

Exit codes: 0 success, 1 a build, push, check or verify failed, 2 bad input or environment,
130 interrupted.
";

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Print this help text and stop.
    Help(&'static str),
    Dockerfile {
        check: bool,
        /// Replace a root Dockerfile the tool did not write.
        force: bool,
    },
    Stages(Options),
    Status {
        registry: bool,
    },
    Prune {
        dry_run: bool,
    },
    /// `verify` takes the build options of `stages` that make sense for it.
    Verify(BuildOptions),
    Vendor {
        dir: String,
    },
    Hook(Action),
}

pub(crate) fn parse(mut raw: Vec<OsString>) -> Result<Command> {
    // What follows `--` goes to docker untouched, so pico-args never sees it.
    let mut passthrough = match raw.iter().position(|a| a == "--") {
        Some(at) => {
            Some(raw.split_off(at).into_iter().skip(1).map(utf8).collect::<Result<Vec<_>>>()?)
        }
        None => None,
    };
    let mut args = Arguments::from_vec(raw);
    let help = args.contains(["-h", "--help"]);
    // No command shows the help, as `cargo` alone does; leftover flags are
    // still refused below.
    let Some(name) = args.subcommand().map_err(|err| usage_error(err.to_string(), None))? else {
        if let Some(left) = args.finish().into_iter().next() {
            let message = format!("unknown option `{}`", left.to_string_lossy());
            return Err(usage_error(message, None));
        }
        if passthrough.is_some() {
            return Err(usage_error("unexpected argument `--`".to_string(), None));
        }
        return Ok(Command::Help(HELP));
    };
    let command = match name.as_str() {
        "dockerfile" if help => Command::Help(dockerfile::HELP),
        "dockerfile" => {
            Command::Dockerfile { check: args.contains("--check"), force: args.contains("--force") }
        }
        "stages" if help => Command::Help(stages::HELP),
        "stages" => {
            let mut options = Options {
                build: BuildOptions {
                    dry_run: args.contains("--dry-run"),
                    push: args.contains("--push"),
                    pull: args.contains("--pull"),
                    stale: args.contains("--stale"),
                    allow_secret_args: args.contains("--allow-secret-args"),
                    docker_args: passthrough.take().unwrap_or_default(),
                },
                stages: Vec::new(),
            };
            options.stages = free_words(&mut args, &name)?;
            if options.build.stale && !options.stages.is_empty() {
                return Err(input_error(
                    format!(
                        "--stale chooses the stages itself, and stages were given too: {}",
                        options.stages.join(" ")
                    ),
                    "run `cargo xtask stages --stale`, or name the stages without --stale",
                ));
            }
            Command::Stages(options)
        }
        "status" if help => Command::Help(status::HELP),
        "status" => Command::Status { registry: args.contains("--registry") },
        "prune" if help => Command::Help(prune::HELP),
        "prune" => Command::Prune { dry_run: args.contains("--dry-run") },
        "verify" if help => Command::Help(verify::HELP),
        "verify" => Command::Verify(BuildOptions {
            allow_secret_args: args.contains("--allow-secret-args"),
            docker_args: passthrough.take().unwrap_or_default(),
            ..BuildOptions::default()
        }),
        "vendor" if help => Command::Help(vendor::HELP),
        "vendor" => {
            let mut words = free_words(&mut args, &name)?;
            if words.len() != 1 {
                return Err(usage_error(
                    "`cargo xtask vendor` takes one DIR".to_string(),
                    Some(&name),
                ));
            }
            Command::Vendor { dir: words.remove(0) }
        }
        "hook" if help => Command::Help(hook::HELP),
        "hook" => {
            let force = args.contains("--force");
            let words = free_words(&mut args, &name)?;
            match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["install"] => Command::Hook(Action::Install { force }),
                ["uninstall"] if !force => Command::Hook(Action::Uninstall),
                _ => {
                    return Err(usage_error(
                        "`cargo xtask hook` takes `install [--force]` or `uninstall`".to_string(),
                        Some(&name),
                    ))
                }
            }
        }
        "help" => Command::Help(HELP),
        other => {
            return Err(input_error(
                format!("unknown command `{other}`"),
                "run `cargo xtask --help` to see the commands",
            ))
        }
    };
    if passthrough.is_some() {
        return Err(usage_error(
            format!("unexpected argument `--` for `cargo xtask {name}`"),
            Some(&name),
        ));
    }
    finish(args, &name)?;
    Ok(command)
}

/// The positional words left once the flags are taken; a leftover flag is refused.
fn free_words(args: &mut Arguments, command: &str) -> Result<Vec<String>> {
    let rest = std::mem::replace(args, Arguments::from_vec(Vec::new())).finish();
    let mut words = Vec::new();
    for arg in rest {
        let arg = utf8(arg)?;
        if arg.starts_with('-') && arg.len() > 1 {
            return Err(usage_error(
                format!("unknown option `{arg}` for `cargo xtask {command}`"),
                Some(command),
            ));
        }
        words.push(arg);
    }
    Ok(words)
}

fn utf8(arg: OsString) -> Result<String> {
    arg.into_string().map_err(|arg| {
        input_error(
            format!("argument {arg:?} is not UTF-8"),
            "pass stage ids, names and options in UTF-8",
        )
    })
}

/// Refuses whatever pico-args did not consume.
fn finish(args: Arguments, command: &str) -> Result<()> {
    let Some(left) = args.finish().into_iter().next() else { return Ok(()) };
    let left = left.to_string_lossy();
    let what = if left.starts_with('-') { "unknown option" } else { "unexpected argument" };
    Err(usage_error(format!("{what} `{left}` for `cargo xtask {command}`"), Some(command)))
}

fn usage_error(message: String, command: Option<&str>) -> anyhow::Error {
    let help = match command {
        Some(command) => format!("run `cargo xtask {command} --help` for its usage"),
        None => "run `cargo xtask --help` for the usage".to_string(),
    };
    input_error(message, help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn commands_and_help() {
        assert_eq!(
            parse_str(&["dockerfile"]).unwrap(),
            Command::Dockerfile { check: false, force: false }
        );
        assert_eq!(
            parse_str(&["dockerfile", "--force"]).unwrap(),
            Command::Dockerfile { check: false, force: true }
        );
        assert_eq!(
            parse_str(&["dockerfile", "--check"]).unwrap(),
            Command::Dockerfile { check: true, force: false }
        );
        assert_eq!(parse_str(&["--help"]).unwrap(), Command::Help(HELP));
        assert_eq!(parse_str(&[]).unwrap(), Command::Help(HELP), "no command: the help");
        assert_eq!(parse_str(&["dockerfile", "-h"]).unwrap(), Command::Help(dockerfile::HELP));
    }

    #[test]
    fn stages_options_and_passthrough() {
        let Command::Stages(options) = parse_str(&[
            "stages",
            "3",
            "--dry-run",
            "stage1",
            "--pull",
            "--",
            "--no-cache",
            "--pull",
        ])
        .unwrap() else {
            panic!("not stages")
        };
        assert_eq!(options.stages, ["3", "stage1"]);
        assert!(options.build.dry_run && options.build.pull && !options.build.push);
        assert_eq!(options.build.docker_args, ["--no-cache", "--pull"]);
        let Command::Stages(options) = parse_str(&["stages", "--stale", "--dry-run"]).unwrap()
        else {
            panic!("not stages")
        };
        assert!(options.build.stale && options.build.dry_run && options.stages.is_empty());
        assert_eq!(parse_str(&["prune", "--dry-run"]).unwrap(), Command::Prune { dry_run: true });
    }

    #[test]
    fn refusals() {
        for (args, message) in [
            (&["dockerfile", "--chek"][..], "unknown option `--chek` for `cargo xtask dockerfile`"),
            (&["dockerfile", "extra"][..], "unexpected argument `extra`"),
            (&["build"][..], "unknown command `build`"),
            (&["--bogus"][..], "unknown option `--bogus`"),
            (&["stages", "--dry"][..], "unknown option `--dry` for `cargo xtask stages`"),
            (
                &["dockerfile", "--", "x"][..],
                "unexpected argument `--` for `cargo xtask dockerfile`",
            ),
            (&["status", "1"][..], "unexpected argument `1`"),
            (&["prune", "all"][..], "unexpected argument `all` for `cargo xtask prune`"),
            (&["stages", "--stale", "3"][..], "--stale chooses the stages itself"),
        ] {
            let err = parse_str(args).unwrap_err().to_string();
            assert!(err.contains(message), "{args:?}: {err}");
        }
    }
}
