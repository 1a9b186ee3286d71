//! The end-to-end tests, in one binary as ripgrep keeps them: one link step,
//! and tests that run side by side. One module per feature; each test runs
//! the real `xtask` binary in a temp folder of its own. The tests that build
//! run on every engine and builder (see `support::docker::Builder`).

#[macro_use]
mod support;

mod bad_input;
mod concurrency;
mod dockerfile;
mod engine_failures;
mod engines;
mod hook;
mod interrupted_writes;
mod no_shell;
mod podman;
mod prune;
mod registry;
mod review;
mod settings_file;
mod stages;
mod stages_args;
mod stale;
mod status;
mod team_cache;
mod vendor;
mod verify;
