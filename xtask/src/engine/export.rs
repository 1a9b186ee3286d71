//! Every file of an image, read from `docker export` of a container made
//! for it: the container is held by a guard, so no exit path leaves it.

use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use xshell::cmd;

use super::{first_line, tar, Engine};
use crate::util::exit::interrupted;
use crate::util::signals;

impl Engine<'_> {
    /// Every file of `image`, from a container created (never started) for it
    /// and exported as a tar stream. The container is removed however this
    /// ends: an error, a panic, or a Ctrl-C (which stops the export).
    pub(crate) fn export(&self, image: &str, each: impl FnMut(tar::Entry)) -> Result<()> {
        let engine = &self.path;
        let created = cmd!(self.sh, "{engine} create {image} /xtask-export")
            .quiet()
            .read()
            .with_context(|| format!("cannot create a container of {image} to read its files"))?;
        let id = created.lines().last().unwrap_or_default().trim().to_string();
        let container = Container { engine: self, id };
        self.read_export(&container.id, each)
            .with_context(|| format!("cannot read the files of {image}"))
    }

    fn read_export(&self, container: &str, each: impl FnMut(tar::Entry)) -> Result<()> {
        let engine = &self.path;
        let mut command: Command = cmd!(self.sh, "{engine} export {container}").into();
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn()?;
        // A Ctrl-C sent to the xtask alone reaches the export too, which ends
        // the stream; the caller's guards then clean up.
        signals::set_child(Some(child.id()));
        let stdout = child.stdout.take().context("no stdout")?;
        // Read to the end, whatever the tar says, before waiting: an export
        // left writing into a full pipe would never end.
        let parsed = tar::read_stream(std::io::BufReader::new(stdout), each);
        let output = child.wait_with_output();
        signals::set_child(None);
        if signals::interrupted() {
            return Err(interrupted(format!("interrupted while reading the files of {container}")));
        }
        // A tar error says more than the export's broken pipe that follows it.
        parsed?;
        let output = output?;
        if !output.status.success() {
            anyhow::bail!("{} export failed: {}", self.program, first_line(&output.stderr));
        }
        Ok(())
    }
}

/// A container made for `docker export`; dropping it runs `rm -f`, so no
/// exit path (error, panic unwinding, Ctrl-C) leaves it behind.
struct Container<'a> {
    engine: &'a Engine<'a>,
    id: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let (engine, id) = (&self.engine.path, &self.id);
        let _ = cmd!(self.engine.sh, "{engine} rm -f {id}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
    }
}
