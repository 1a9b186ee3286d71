//! The commands, one file each: its help text, its options, and a `run`
//! that puts the operations of `ops` together and prints what they did.
//! A command may import any layer below it (`ops`, `engine`, `model`,
//! `settings`, `util`) and never another command: what two commands share
//! moves down into `ops`.

pub(crate) mod dockerfile;
pub(crate) mod hook;
pub(crate) mod prune;
pub(crate) mod stages;
pub(crate) mod status;
pub(crate) mod vendor;
pub(crate) mod verify;
