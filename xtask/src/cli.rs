//! The command line: which command, with which options. Anything not
//! understood is refused, since pico-args leaves unknown flags to the caller.

use std::ffi::OsString;

use anyhow::Result;
use pico_args::Arguments;

use crate::dockerfile;
use crate::exit::input_error;

pub(crate) const HELP: &str = "\
cargo xtask: build Docker images in stages

Usage: cargo xtask <command> [options]

Commands:
  dockerfile [--check]   regenerate ./Dockerfile and the stage chain from the snippets

Run `cargo xtask <command> --help` for a command's options.

Settings (environment variables):
  STAGES_DIR         snippet folder relative to the project root (default .docker)
  DOCKER_IMAGE       image name, may carry a registry and a tag: host:5000/ns/app:v1
  DOCKER_IMAGE_TAG   tag when DOCKER_IMAGE has none (default latest)
  A_GIT_NAMESPACE, A_GIT_PROJECT
                     default image ns/project; else the git remote origin, else the folder name
";

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Print this help text and stop.
    Help(&'static str),
    Dockerfile {
        check: bool,
    },
}

pub(crate) fn parse(raw: Vec<OsString>) -> Result<Command> {
    let mut args = Arguments::from_vec(raw);
    let help = args.contains(["-h", "--help"]);
    let Some(name) = args.subcommand().map_err(|err| usage_error(err.to_string(), None))? else {
        if help {
            return Ok(Command::Help(HELP));
        }
        return Err(input_error(
            "no command given",
            "run `cargo xtask --help` to see the commands",
        ));
    };
    let command = match name.as_str() {
        "dockerfile" if help => Command::Help(dockerfile::HELP),
        "dockerfile" => Command::Dockerfile { check: args.contains("--check") },
        "help" => Command::Help(HELP),
        other => {
            return Err(input_error(
                format!("unknown command `{other}`"),
                "run `cargo xtask --help` to see the commands",
            ))
        }
    };
    finish(args, &name)?;
    Ok(command)
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
        assert_eq!(parse_str(&["dockerfile"]).unwrap(), Command::Dockerfile { check: false });
        assert_eq!(
            parse_str(&["dockerfile", "--check"]).unwrap(),
            Command::Dockerfile { check: true }
        );
        assert_eq!(parse_str(&["--help"]).unwrap(), Command::Help(HELP));
        assert_eq!(parse_str(&["dockerfile", "-h"]).unwrap(), Command::Help(dockerfile::HELP));
    }

    #[test]
    fn refusals() {
        for (args, message) in [
            (&["dockerfile", "--chek"][..], "unknown option `--chek` for `cargo xtask dockerfile`"),
            (&["dockerfile", "extra"][..], "unexpected argument `extra`"),
            (&["build"][..], "unknown command `build`"),
            (&[][..], "no command given"),
        ] {
            let err = parse_str(args).unwrap_err().to_string();
            assert!(err.contains(message), "{args:?}: {err}");
        }
    }
}
