//! What the xtask writes goes through here. On stdout, a reader that stops
//! early (`cargo xtask stages --dry-run | head -1`) ends the run quietly and
//! successfully, as with ripgrep. On stderr, a closed pipe loses the lines
//! and nothing else. Rust ignores SIGPIPE, so a write fails with
//! `BrokenPipe` instead of killing us; `println!` would panic on it.

use std::fmt;
use std::io::{self, Write};

use crate::util::exit::stdout_closed;

/// Writes `text` to stdout as is; a closed stdout becomes [`stdout_closed`].
pub(crate) fn print(text: fmt::Arguments<'_>) -> anyhow::Result<()> {
    write_to(&mut io::stdout().lock(), text)
}

/// [`print`] to any writer: the text, flushed, and a closed pipe (on the
/// write or on the flush) as [`stdout_closed`].
fn write_to(out: &mut impl Write, text: fmt::Arguments<'_>) -> anyhow::Result<()> {
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Err(stdout_closed()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
    }
}

/// `println!` that returns the error instead of panicking: `out!("{x}")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::util::print::print(format_args!("{}\n", format_args!($($arg)*)))
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
        $crate::util::print::tell(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::exit::{code, Code};

    /// A writer whose write or flush fails with `kind`.
    struct Failing {
        kind: io::ErrorKind,
        on_flush: bool,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.on_flush {
                return Ok(buf.len());
            }
            Err(self.kind.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            if self.on_flush {
                return Err(self.kind.into());
            }
            Ok(())
        }
    }

    fn failing(kind: io::ErrorKind, on_flush: bool) -> anyhow::Error {
        let mut out = Failing { kind, on_flush };
        write_to(&mut out, format_args!("a line\n")).unwrap_err()
    }

    #[test]
    fn writes_the_text_as_is() {
        let mut out = Vec::new();
        write_to(&mut out, format_args!("{} {}\n", "a", 1)).unwrap();
        assert_eq!(out, b"a 1\n");
    }

    /// `| head -1`: the run ends with exit 0 and nothing on stderr,
    /// whether the write or the flush finds the pipe closed.
    #[test]
    fn a_closed_pipe_is_stdout_closed() {
        for on_flush in [false, true] {
            let err = failing(io::ErrorKind::BrokenPipe, on_flush);
            assert_eq!(code(&err), Some(Code::StdoutClosed), "{err:#}");
        }
    }

    /// Any other failure is an error that says where it happened.
    #[test]
    fn other_write_errors_are_errors() {
        for on_flush in [false, true] {
            let err = failing(io::ErrorKind::StorageFull, on_flush);
            assert_eq!(code(&err), None);
            assert!(format!("{err:#}").starts_with("cannot write to stdout: "), "{err:#}");
        }
    }
}
