//! What the xtask writes on stdout goes through here, so that a reader that
//! stops early (`cargo xtask stages --dry-run | head -1`) ends the run quietly
//! and successfully, as with ripgrep. Rust ignores SIGPIPE, so the write fails
//! with `BrokenPipe` instead of killing us; `println!` would panic on it.

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

#[cfg(test)]
mod tests {
    #[test]
    fn writes_lines() {
        assert!(out!("{} {}", "a", 1).is_ok());
    }
}
