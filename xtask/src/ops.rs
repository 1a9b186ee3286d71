//! The operations the commands share, on top of the engine and the model:
//! the project on disk, what the engine holds for each stage, carrying out a
//! build plan, build-context hygiene. An operation may use `engine`, `model`,
//! `settings` and `util`; it never imports a command (`commands`), and a
//! command's own options reach it as plain values.

pub(crate) mod compare;
pub(crate) mod dockerignore;
pub(crate) mod leftovers;
pub(crate) mod project;
pub(crate) mod session;
pub(crate) mod survey;
