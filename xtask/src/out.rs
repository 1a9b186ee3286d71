//! What the xtask writes goes through here. On stdout, a reader that stops
//! early (`cargo xtask stages --dry-run | head -1`) ends the run quietly and
//! successfully, as with ripgrep. On stderr, a closed pipe loses the lines
//! and nothing else. Rust ignores SIGPIPE, so a write fails with
//! `BrokenPipe` instead of killing us; `println!` would panic on it.

use std::fmt;
use std::io::{self, Write};

use crate::exit::stdout_closed;

/// Writes `text` to stdout as is; a closed stdout becomes [`stdout_closed`].
pub(crate) fn print(text: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Err(stdout_closed()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
    }
}

/// `println!` that returns the error instead of panicking: `out!("{x}")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use out;

/// Writes `text` to stderr. A stderr that was closed (`2>&1 | head -1`)
/// loses it and nothing else happens: a run that builds, pushes or removes
/// goes on to the end. `eprintln!` would panic there.
pub(crate) fn tell(text: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(text);
}

/// `eprintln!` that never panics: `say!("warning: {x}")`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::tell(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    #[test]
    fn writes_lines() {
        assert!(out!("{} {}", "a", 1).is_ok());
    }
}
