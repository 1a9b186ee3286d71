//! The one label each build adds: what it records and how it is read back.
//! A stage's label:
//! `xtask.stages=dockerfile=sha256:<hex>;parent=<parent key>@<parent created>;image=<repository>;key=sha256:<hex>`.
//! The full image's: `dockerfile=sha256:<hex>;parent=;image=<repository>`.
//! One label only: the legacy builder turns every `--label` into a build step.
//!
//! The parent is named by its key and its creation time, which a push and a
//! pull into another engine or image store keep: an image id does not survive
//! them (the containerd store names an image by its manifest digest). The
//! parent tag names another image when the key of the image it holds is
//! another, or its creation time: a rebuild from the cache keeps both, one
//! with `--no-cache` gives a new time to any stage that makes a layer (a
//! stage of metadata only keeps its base's time with BuildKit, and is the
//! same image whatever the cache did).

use crate::util::sha256;

pub(crate) const LABEL: &str = "xtask.stages";

/// The image a stage was built on, as its label records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent<'a> {
    pub(crate) key: &'a str,
    /// The parent image's creation time, as the engine prints `{{.Created}}`.
    pub(crate) created: &'a str,
}

/// The label value of a stage image built from the chain file `text` on
/// `parent` (none for stage 0), with the key `key`, in `repository`.
pub(crate) fn stage_label(
    text: &str,
    parent: Option<Parent<'_>>,
    repository: &str,
    key: &str,
) -> String {
    let parent = parent.map_or(String::new(), |p| format!("{}@{}", p.key, p.created));
    format!("dockerfile={};parent={parent};image={repository};key={key}", hash(text))
}

/// The label value of the full image, built from the main Dockerfile `text`.
pub(crate) fn full_label(text: &str, repository: &str) -> String {
    format!("dockerfile={};parent=;image={repository}", hash(text))
}

pub(super) fn hash(text: &str) -> String {
    format!("sha256:{}", sha256::hex_digest(text.as_bytes()))
}

/// The fields of a label value; each is `None` when absent (labels written
/// before `image=` and `key=` have neither).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Label<'a> {
    pub(crate) dockerfile: Option<&'a str>,
    /// `key@created`, a parent image id (older labels), or empty.
    pub(crate) parent: Option<&'a str>,
    pub(crate) image: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
}

impl<'a> Label<'a> {
    /// The parent as this version records it, if it does.
    pub(crate) fn keyed_parent(&self) -> Option<Parent<'a>> {
        let (key, created) = self.parent?.split_once('@')?;
        Some(Parent { key, created })
    }
}

pub(crate) fn parse(value: &str) -> Label<'_> {
    let mut label = Label::default();
    for field in value.split(';') {
        match field.split_once('=') {
            Some(("dockerfile", v)) => label.dockerfile = Some(v),
            Some(("parent", v)) => label.parent = Some(v),
            Some(("image", v)) => label.image = Some(v),
            Some(("key", v)) => label.key = Some(v),
            _ => {}
        }
    }
    label
}

/// Whether `value` says it was built from `text`.
pub(crate) fn built_from(value: &str, text: &str) -> bool {
    parse(value).dockerfile == Some(hash(text).as_str())
}

/// An image that exists under a stage's (or the full image's) tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Present {
    pub(crate) id: String,
    /// When it was created, as the engine prints `{{.Created}}`.
    pub(crate) created: String,
    /// The value of [`LABEL`], if the image has one.
    pub(crate) label: Option<String>,
}

impl Present {
    /// The key its label records, if it has one.
    pub(crate) fn key(&self) -> Option<&str> {
        self.label.as_deref().and_then(|label| parse(label).key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_the_repository_the_key_and_the_parent_by_key_and_time() {
        let value = stage_label(
            "FROM a\n",
            Some(Parent { key: "sha256:k0", created: "T0" }),
            "host:5000/ns/app",
            "sha256:k1",
        );
        let label = parse(&value);
        assert_eq!(label.keyed_parent(), Some(Parent { key: "sha256:k0", created: "T0" }));
        assert_eq!((label.image, label.key), (Some("host:5000/ns/app"), Some("sha256:k1")));
        let full = full_label("main", "ns/app");
        let full = parse(&full);
        assert_eq!((full.parent, full.key, full.keyed_parent()), (Some(""), None, None));
    }
}
