//! Exit codes are decided here and nowhere else: 0 success (also when the
//! reader of stdout went away), 1 a build, push, check or verify failed, 2 the input or the environment is wrong, 130 the
//! user interrupted the run. Errors print as one `error: ...` line, then a line
//! saying what to do.

use std::fmt;
use std::process::ExitCode;

use crate::util::print::say;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    StdoutClosed = 0,
    Failed = 1,
    Input = 2,
    Interrupted = 130,
}

/// An error that knows its exit code and what the user can do about it.
#[derive(Debug)]
pub(crate) struct Exit {
    code: Code,
    message: String,
    hint: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn exit(code: Code, message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code, message: message.into(), hint: hint.into() })
}

/// The input or the environment is wrong (exit 2).
pub(crate) fn input_error(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    exit(Code::Input, message, hint)
}

/// A build, push, check or verify failed (exit 1).
pub(crate) fn failure(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    exit(Code::Failed, message, hint)
}

/// The user stopped the run (exit 130, as a shell reports SIGINT).
pub(crate) fn interrupted(message: impl Into<String>) -> anyhow::Error {
    exit(Code::Interrupted, message, "nothing after the interrupted step was built or tagged")
}

/// stdout was closed by whoever read it (`| head -1`): the run stops, and
/// that is a success with nothing more to say. An `Exit` like the others, so
/// code that passes on errors with a code of their own passes it on too.
pub(crate) fn stdout_closed() -> anyhow::Error {
    exit(Code::StdoutClosed, "stdout was closed", "")
}

/// The exit code `err` carries, if it carries one.
pub(crate) fn code(err: &anyhow::Error) -> Option<Code> {
    err.downcast_ref::<Exit>().map(|exit| exit.code)
}

/// Prints the error of a run, if any, and turns it into the process exit code.
pub(crate) fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else { return ExitCode::SUCCESS };
    // Errors without a code of their own come from the file system or another
    // program around us: the environment is wrong.
    let (code, hint) = match err.downcast_ref::<Exit>() {
        Some(exit) => (exit.code, exit.hint.as_str()),
        None => (Code::Input, "check the path or program named above"),
    };
    if code == Code::StdoutClosed {
        return ExitCode::SUCCESS;
    }
    let message = format!("{err:#}").replace('\n', " ");
    say!("error: {message}");
    if !hint.is_empty() {
        say!("{hint}");
    }
    ExitCode::from(code as u8)
}

/// Turns a panic into a short message instead of a backtrace invitation.
pub(crate) fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info.location().map(|l| format!(" ({l})")).unwrap_or_default();
        say!("error: internal error: {message}{location}");
        say!("this is a bug in the xtask: please report it with the command you ran");
    }));
}
