//! The model: Dockerfiles, stages, keys, labels and image names as values.
//! Pure: text in, text out; no engine, no process, no file system beyond
//! the paths it is handed as names. It imports `util` and `settings` only,
//! never `engine`, `ops` or `commands`.

pub(crate) mod freshness;
pub(crate) mod generate;
pub(crate) mod image;
pub(crate) mod keys;
pub(crate) mod labels;
pub(crate) mod lexer;
#[cfg(test)]
mod lexer_fuzz;
pub(crate) mod plan;
pub(crate) mod secrets;
pub(crate) mod selection;
pub(crate) mod snippets;
