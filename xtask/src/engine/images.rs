//! What the engine holds: the repository's tags (`image ls`), what an image
//! says of itself (`image inspect`), and removing images (`image rm`). One
//! engine call each, whatever the number of stages.

use std::collections::HashMap;

use anyhow::{Context, Result};
use xshell::cmd;

use super::Engine;
use crate::model::image;
use crate::model::labels::{Present, LABEL};
use crate::util::exit::input_error;

impl Engine<'_> {
    /// The tags of `repo` (in the form of [`image::canonical`], the one
    /// every engine's `image ls` filter understands) that exist locally, with
    /// their image ids (a
    /// [`Engine::listing`] without sizes and ages). This is also the check
    /// that the engine answers at all.
    pub(crate) fn local_tags(&self, repo: &str) -> Result<HashMap<String, String>> {
        let rows = self.list(repo, "{{.Repository}}\t{{.Tag}}\t{{.ID}}")?;
        Ok(rows.into_iter().map(|row| (row.tag, row.id)).collect())
    }

    /// The image id, creation time and value of [`LABEL`] of each of the
    /// existing images `refs`, in their order (one engine call for all).
    pub(crate) fn inspect(&self, refs: &[String]) -> Result<Vec<Present>> {
        let format = format!("{{{{.Id}}}}\t{{{{.Created}}}}\t{}", label_template(LABEL));
        let out = self.inspect_format(refs, &format)?;
        Ok(out.lines().filter(|line| !line.is_empty()).map(parse_present).collect())
    }

    /// Every tag of `repo` that exists locally, with the id, size and age
    /// the engine shows for it: one call, whatever the number of stages. An
    /// engine that does not answer is an environment error.
    pub(crate) fn listing(&self, repo: &str) -> Result<Vec<Listed>> {
        self.list(repo, "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.CreatedSince}}")
    }

    /// `image ls` of `repo`, printing the fields of [`parse_listing`].
    fn list(&self, repo: &str, format: &str) -> Result<Vec<Listed>> {
        let answer = self.image_ls(&["--no-trunc", "--format", format, repo])?;
        Ok(parse_listing(&answer, repo))
    }

    /// The ids of the untagged images (that carry label `label`, if given)
    /// on which no other image is built: what `image ls --filter
    /// dangling=true` shows.
    pub(crate) fn dangling(&self, label: Option<&str>) -> Result<Vec<String>> {
        let mut args = vec!["--no-trunc", "--quiet", "--filter", "dangling=true"];
        let filter = label.map(|label| format!("label={label}"));
        if let Some(filter) = &filter {
            args.extend(["--filter", filter.as_str()]);
        }
        let answer = self.image_ls(&args)?;
        let mut ids: Vec<String> = answer.lines().map(normalize_id).collect();
        ids.retain(|id| !id.is_empty());
        ids.dedup();
        Ok(ids)
    }

    /// `image ls <args>`; an engine that does not answer is an environment
    /// error. The containerd image store fails a listing when an image in it
    /// is removed meanwhile (by another project's run, say: "failed to
    /// calculate size of image ...", "content digest ...: not found"), and
    /// so does podman ("image not known", "layer not known": podman#24800):
    /// the listing is asked again.
    fn image_ls(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["image", "ls"];
        all.extend_from_slice(args);
        let mut attempts = 0;
        loop {
            let answer = self.query(&all)?;
            if answer.ok {
                return Ok(answer.stdout);
            }
            attempts += 1;
            let removed_meanwhile = answer.error.contains("failed to calculate size")
                || answer.error.contains("content digest")
                || answer.error.contains(" not known");
            if !removed_meanwhile || attempts == 5 {
                return Err(unreachable(&self.program, "image ls", &answer.error));
            }
        }
    }

    /// Removes the images (or tags) `refs` in one engine call; returns the
    /// engine's refusals (conflicts with an image built on one, say), one
    /// line each, which name the image they are about. An engine that does
    /// not answer is an environment error.
    pub(crate) fn remove_images(&self, refs: &[String]) -> Result<Vec<String>> {
        let engine = &self.path;
        let out = cmd!(self.sh, "{engine} image rm {refs...}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", self.program))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let refusals: Vec<String> =
            stderr.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        let removed_any = !out.stdout.is_empty();
        if !out.status.success() && !removed_any && refusals.len() == 1 && refs.len() > 1 {
            // One line for many images: the engine itself did not answer.
            return Err(unreachable(&self.program, "image rm", &refusals[0]));
        }
        Ok(refusals)
    }

    /// `image inspect --format <format>` of `images` (one line each, or more
    /// if the format prints more).
    pub(crate) fn inspect_format(&self, images: &[String], format: &str) -> Result<String> {
        let out = self.inspect_images(images, format, false)?;
        Ok(out.strip_suffix('\n').unwrap_or(&out).to_string())
    }

    /// [`Engine::inspect_format`] of images that may be removed meanwhile
    /// (by another run, say): those are left out of the answer, whose lines
    /// must then say which image each is about.
    pub(crate) fn inspect_present(&self, images: &[String], format: &str) -> Result<String> {
        self.inspect_images(images, format, true)
    }

    fn inspect_images(&self, images: &[String], format: &str, gone_ok: bool) -> Result<String> {
        if images.is_empty() {
            return Ok(String::new());
        }
        let mut args = vec!["image", "inspect", "--format", format];
        args.extend(images.iter().map(String::as_str));
        let answer = self.query(&args)?;
        let gone = gone_ok && is_gone(&answer.error);
        if !answer.ok && !gone {
            anyhow::bail!(
                "`{} image inspect {}` failed: {}",
                self.program,
                images.join(" "),
                answer.error
            );
        }
        Ok(answer.stdout)
    }
}

/// Whether an engine's error says the image is not there (docker: "No such
/// image", podman: "image not known").
pub(crate) fn is_gone(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("no such image") || error.contains("image not known")
}

/// Podman prints ids without the `sha256:` docker puts in front.
pub(crate) fn normalize_id(id: &str) -> String {
    let id = id.trim();
    if id.contains(':') || id.is_empty() {
        id.to_string()
    } else {
        format!("sha256:{id}")
    }
}

/// `sha256:0123456789abcdef...` as docker shows it: 12 hex digits.
pub(crate) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// The template that prints the value of label `label`, or nothing: `index`
/// alone fails the whole call on an image without any label (an imported
/// base, say).
pub(crate) fn label_template(label: &str) -> String {
    format!("{{{{with .Config.Labels}}}}{{{{index . \"{label}\"}}}}{{{{end}}}}")
}

/// A line of [`Engine::inspect`]: id, creation time, label (if any).
fn parse_present(line: &str) -> Present {
    let mut fields = line.splitn(3, '\t');
    let id = normalize_id(fields.next().unwrap_or(""));
    let created = fields.next().unwrap_or("").trim().to_string();
    let label = fields.next().map(str::trim).filter(|v| !v.is_empty() && *v != "<no value>");
    Present { id, created, label: label.map(str::to_string) }
}

/// One row of [`Engine::listing`]: a tag of the repository, as the engine shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) tag: String,
    pub(crate) id: String,
    pub(crate) size: String,
    pub(crate) age: String,
}

/// `image ls` rows of `repo`, whichever way the engine spells it (see
/// [`image::same_repository`]). Podman lists every name of an image that
/// matches, so rows of other repositories sharing an image id are dropped.
fn parse_listing(text: &str, repo: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let repository = fields.next()?;
            let (tag, id) = (fields.next()?, fields.next()?);
            let (size, age) = (fields.next().unwrap_or("-"), fields.next().unwrap_or("-"));
            let ours = image::same_repository(repository, repo);
            (ours && tag != "<none>").then(|| Listed {
                tag: tag.to_string(),
                id: normalize_id(id),
                size: size.to_string(),
                age: age.to_string(),
            })
        })
        .collect()
}

fn unreachable(program: &str, command: &str, error: &str) -> anyhow::Error {
    input_error(
        format!("the container engine is not reachable ({program} {command} failed: {error})"),
        "start it (`sudo systemctl start docker`, or `sudo dockerd &`), or set DOCKER to a running engine",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalized() {
        assert_eq!(normalize_id("abc\n"), "sha256:abc");
        assert_eq!(normalize_id("sha256:abc"), "sha256:abc");
    }

    fn parse_local_tags(text: &str, repo: &str) -> HashMap<String, String> {
        parse_listing(text, repo).into_iter().map(|row| (row.tag, row.id)).collect()
    }

    #[test]
    fn local_tags_of_one_repository() {
        let text = "ns/app\tv1_stage0\tsha256:a\nlocalhost/ns/app\tv1_stage1\tb\nlocalhost/other\tv1_stage2\tsha256:a\nns/app\t<none>\tsha256:c\n";
        let tags = parse_local_tags(text, "ns/app");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["v1_stage0"], "sha256:a");
        assert_eq!(tags["v1_stage1"], "sha256:b");
        assert!(parse_local_tags("127.0.0.1:5000/x\tt\tsha256:d\n", "127.0.0.1:5000/x")
            .contains_key("t"));
        // The containerd store and podman list Docker Hub names in full.
        let hub = "docker.io/library/app\tv1_stage0\tsha256:e\napp\tv1_stage1\tsha256:f\n";
        assert_eq!(parse_local_tags(hub, "app").len(), 2);
        assert_eq!(parse_local_tags(hub, "library/app").len(), 2);
    }

    #[test]
    fn listing_with_size_and_age() {
        let text =
            "ns/app\tv1_stage0\tsha256:a\t1.98MB\t2 minutes ago\nother\tv1\tsha256:b\t1MB\tnow\n";
        let rows = parse_listing(text, "ns/app");
        assert_eq!(
            rows,
            [Listed {
                tag: "v1_stage0".into(),
                id: "sha256:a".into(),
                size: "1.98MB".into(),
                age: "2 minutes ago".into()
            }]
        );
    }

    #[test]
    fn inspected_images_with_and_without_a_label() {
        assert_eq!(
            parse_present("sha256:a\t2026-12-01T10:00:00.1Z\tdockerfile=sha256:00;parent="),
            Present {
                id: "sha256:a".into(),
                created: "2026-12-01T10:00:00.1Z".into(),
                label: Some("dockerfile=sha256:00;parent=".into())
            }
        );
        // Podman prints ids bare, and the time its own way.
        let podman = parse_present("b\t2026-12-01 10:00:00.1 +0000 UTC\t");
        assert_eq!((podman.id.as_str(), podman.label), ("sha256:b", None));
    }

    #[test]
    fn short_ids_as_docker_shows_them() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
