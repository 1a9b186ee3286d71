//! Small helpers every layer uses: exit codes and errors, printing, signals,
//! files written whole, digests, shell words, byte sizes. They know nothing of
//! Dockerfiles, engines or commands: nothing here imports from outside `util`.

pub(crate) mod atomic_file;
pub(crate) mod byte_size;
pub(crate) mod exit;
pub(crate) mod print;
pub(crate) mod sha256;
pub(crate) mod shell_words;
pub(crate) mod signals;
