//! What earlier runs left behind on the engine, which `prune` removes: the
//! untagged former images of this repository (every rebuild leaves its
//! former image untagged), found by the `image=` field of their label, and
//! the temporary tags of `verify` runs whose process is gone. Finding and
//! naming them is here; removing them is `removal`.

mod removal;

use std::collections::HashMap;

use anyhow::Result;

pub(crate) use self::removal::{remove, remove_left_parents};
use crate::engine::{label_template, normalize_id, Engine};
use crate::model::image::{self, Image};
use crate::model::keys;
use crate::model::labels::{self, LABEL};
use crate::ops::project::Project;
use crate::util::signals;

/// An image that prune may remove: an untagged one of this repository, or a
/// verify run's leftover tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// What `image rm` is given: the id, or the leftover tag.
    reference: String,
    pub(crate) id: String,
    pub(crate) size: u64,
    /// What it was, as the report says: `former stage 2`, `build step`, ...
    pub(crate) what: String,
    /// Its names, `repository:tag`.
    tags: Vec<String>,
    /// Whether it came from a registry (an image pulled by digest, say).
    pulled: bool,
    /// The image it is built on, when the legacy builder built it.
    parent: String,
    created: String,
    /// Its layers' digests, `["sha256:..",..]` as the engine prints them.
    layers: String,
    label: Option<String>,
}

impl Candidate {
    /// An inspect line of [`inspect_format`], named by its id.
    fn parse(line: &str, known: &Known) -> Option<Candidate> {
        let mut fields = line.splitn(8, '\t');
        let id = normalize_id(fields.next()?);
        let size = fields.next()?.trim().parse().unwrap_or(0);
        let tags = json_strings(fields.next()?);
        let pulled = fields.next()?.trim() != "0";
        let parent = fields.next()?.trim().to_string();
        let created = fields.next()?.trim().to_string();
        let layers = fields.next()?.trim().to_string();
        let label = Some(fields.next().unwrap_or("").trim()).filter(|l| !l.is_empty());
        let what = label.map_or_else(|| "build step".to_string(), |l| known.former(l));
        Some(Candidate {
            reference: id.clone(),
            id,
            size,
            what,
            tags,
            pulled,
            parent: if parent.is_empty() { parent } else { normalize_id(&parent) },
            created,
            layers,
            label: label.map(str::to_string),
        })
    }

    /// Whether `self`, with the label of a stage, was built by hand on an
    /// image of that stage, `stage`, and inherited its label: `stage` carries
    /// the same label, and `self` holds its layers and more, or the same
    /// layers from later.
    fn built_by_hand_on(&self, stage: &Candidate) -> bool {
        let layers = |c: &Candidate| json_strings(&c.layers);
        let (mine, theirs) = (layers(self), layers(stage));
        stage.id != self.id
            && stage.label.is_some()
            && stage.label == self.label
            && mine.starts_with(&theirs)
            && (mine.len() > theirs.len() || instant(&stage.created) < instant(&self.created))
    }
}

/// A creation time as the engine prints it (`2026-12-01T10:00:00.15Z`;
/// podman: `2026-12-01 10:00:00.15 +0000 UTC`), in a form that sorts as the
/// times do: the fraction of a second is as long as it needs, so `.15` and
/// `.2` do not sort as strings.
fn instant(created: &str) -> (String, String) {
    let seconds: String =
        created.chars().take(19).map(|c| if c == ' ' { 'T' } else { c }).collect();
    let fraction = created.get(19..).unwrap_or("").strip_prefix('.').unwrap_or("");
    let digits: String = fraction.chars().take_while(char::is_ascii_digit).collect();
    (seconds, format!("{digits:0<9}"))
}

/// The strings of a JSON list of strings as the engine prints one
/// (`["a","b"]`, `[]` or `null`); names and digests hold no quote or comma.
fn json_strings(list: &str) -> Vec<String> {
    let inner = list.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `label` says its image was built for `repository`. Labels from
/// before the `image=` field are not known to be anyone's.
fn ours(label: &str, repository: &str) -> bool {
    labels::parse(label).image.is_some_and(|labelled| image::same_repository(labelled, repository))
}

/// What prune asks the engine of each image it may remove.
fn inspect_format() -> String {
    format!(
        "{{{{.Id}}}}\t{{{{.Size}}}}\t{{{{json .RepoTags}}}}\t{{{{len .RepoDigests}}}}\t{{{{.Parent}}}}\t{{{{.Created}}}}\t{{{{json .RootFS.Layers}}}}\t{}",
        label_template(LABEL)
    )
}

/// Whether `tag` is a `verify` run's temporary tag whose process is gone.
/// Where a process cannot be asked about, none is ever assumed gone, so a
/// running verify never loses its tag.
fn verify_process_gone(tag: &str) -> bool {
    let Some(pid) = tag.strip_prefix("xtask-verify-") else { return false };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // Digits past any pid name no process.
    pid.parse().map_or(true, |pid| !signals::process_alive(pid))
}

/// What the current snippets and stage images say about a former image.
pub(crate) struct Known {
    /// What each stage would be built from now: its chain file and its key.
    chain: Vec<String>,
    keys: Vec<String>,
    main: String,
    /// Current id of each stage's tag.
    ids: HashMap<String, usize>,
}

impl Known {
    fn new(project: &Project, image: &Image, local: &HashMap<String, String>) -> Result<Known> {
        let chain = project.chain_to_build(image)?;
        let keys = keys::chain(&chain, &project.settings.build_words()?);
        let ids = (0..chain.len())
            .filter_map(|n| local.get(&image.stage_tag(n)).map(|id| (id.clone(), n)))
            .collect();
        Ok(Known { chain, keys, main: project.stages.main_dockerfile(), ids })
    }

    /// `former stage 2`, `former full image`, or as much as the label tells:
    /// its key or chain file, or its parent's, names the stage.
    fn former(&self, label: &str) -> String {
        let parsed = labels::parse(label);
        let by_key = parsed.key.and_then(|key| self.keys.iter().position(|k| k == key));
        let by_text = || self.chain.iter().position(|text| labels::built_from(label, text));
        let by_parent = || match (parsed.key, parsed.keyed_parent()) {
            // Only stage 0 is built on no stage image; the full image has no key.
            (Some(_), None) => Some(0),
            (_, Some(parent)) => self.keys.iter().position(|k| k == parent.key).map(|m| m + 1),
            (None, None) => None,
        };
        if let Some(n) = by_key.or_else(by_text).or_else(by_parent) {
            return format!("former stage {n}");
        }
        if parsed.key.is_some() {
            return "former stage".to_string();
        }
        if labels::built_from(label, &self.main) {
            return "former full image".to_string();
        }
        match parsed.parent {
            // A label of this version without a key is the full image's; an
            // older one may be stage 0's too.
            Some("") if parsed.image.is_some() => "former full image".to_string(),
            Some("") => "former stage 0 or full image".to_string(),
            Some(id) => match self.ids.get(id) {
                Some(n) => format!("former stage {}", n + 1),
                None => "former stage".to_string(),
            },
            None => "former image".to_string(),
        }
    }
}

/// What prune may remove now: this repository's untagged former images and
/// the tags of verify runs that are gone, and what names them.
pub(crate) fn candidates(
    engine: &Engine<'_>,
    project: &Project,
    image: &Image,
) -> Result<(Known, Vec<Candidate>)> {
    let dangling = engine.dangling(Some(LABEL))?;
    let local = engine.local_tags(image.repository())?;
    let leftovers: Vec<String> = local
        .keys()
        .filter(|tag| verify_process_gone(tag))
        .map(|tag| format!("{}:{tag}", image.name))
        .collect();
    // The stage images, too: an untagged image built by hand on one of them
    // inherited its label, and is told apart by them.
    let stages = local
        .keys()
        .filter(|tag| tag.contains("_stage"))
        .map(|tag| format!("{}:{tag}", image.name));
    let refs: Vec<String> = dangling.iter().chain(&leftovers).cloned().chain(stages).collect();
    // Another run may remove some of them meanwhile: those are gone, not an
    // error, and each line names its image by id and tags.
    let inspected = engine.inspect_present(&refs, &inspect_format())?;
    let known = Known::new(project, image, &local)?;
    let candidates = select(&dangling, &leftovers, &inspected, &image.name, &known);
    Ok((known, candidates))
}

/// The candidates among the untagged images `dangling` (ids) and the
/// leftover verify tags `leftovers`, from their inspect lines: id, size, tags,
/// label. An image removed meanwhile has no line and is no candidate. An
/// untagged image is this repository's only when its label says
/// `image=<repository>`: labels from before that field are left alone.
fn select(
    dangling: &[String],
    leftovers: &[String],
    inspected: &str,
    repository: &str,
    known: &Known,
) -> Vec<Candidate> {
    let images: Vec<Candidate> =
        inspected.lines().filter_map(|line| Candidate::parse(line, known)).collect();
    // A leftover tag's image may be inspected twice (it may be a stage's too).
    let mut taken: Vec<&String> = Vec::new();
    images
        .iter()
        .filter_map(|candidate| {
            let mut candidate = candidate.clone();
            let leftover = leftovers.iter().find(|r| {
                !taken.contains(r) && candidate.tags.iter().any(|t| same_reference(t, r))
            });
            if let Some(reference) = leftover {
                taken.push(reference);
                let tag = reference.rsplit_once(':').map_or("", |(_, tag)| tag);
                candidate.what = format!("verify image ({tag}, its process is gone)");
                candidate.reference = reference.clone();
                // Removing a tag removes no parent.
                candidate.parent.clear();
                return Some(candidate);
            }
            let label = candidate.label.as_deref().unwrap_or("");
            let by_hand = images.iter().any(|stage| candidate.built_by_hand_on(stage));
            (dangling.contains(&candidate.id) && ours(label, repository) && !by_hand)
                .then_some(candidate)
        })
        .collect()
}

/// Whether the names `a` and `b` (`repository:tag`) are one, in whatever
/// spelling of the repository (podman says `localhost/ns/app:tag`).
fn same_reference(a: &str, b: &str) -> bool {
    matches!((split_reference(a), split_reference(b)),
        (Some((ra, ta)), Some((rb, tb))) if ta == tb && image::same_repository(ra, rb))
}

/// `repository:tag` split at the tag's colon (a registry's port has one too).
fn split_reference(name: &str) -> Option<(&str, &str)> {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let colon = slash + name[slash..].rfind(':')?;
    Some((&name[..colon], &name[colon + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels::{full_label, stage_label, Parent};
    use crate::util::sha256;

    pub(super) fn known() -> Known {
        let mut ids = HashMap::new();
        ids.insert("sha256:s1".to_string(), 1);
        let chain: Vec<String> = vec!["c0".into(), "c1".into(), "c2".into()];
        let keys = keys::chain(&chain, &[]);
        Known { chain, keys, main: "main".into(), ids }
    }

    /// A label as versions before keys wrote it.
    fn old_label(text: &str, parent: &str, image: &str) -> String {
        format!(
            "dockerfile=sha256:{};parent={parent};image={image}",
            sha256::hex_digest(text.as_bytes())
        )
    }

    /// The label `cargo xtask stages` gives stage `n` of `known()` now.
    fn current(n: usize, image: &str) -> String {
        let k = known();
        let parent = n.checked_sub(1).map(|p| Parent { key: &k.keys[p], created: "T" });
        stage_label(&k.chain[n], parent, image, &k.keys[n])
    }

    /// An inspect line of [`inspect_format`]: an image created at `created`
    /// with `layers`, untagged unless `tags`, built on `parent` if any.
    pub(super) fn line(
        id: &str,
        size: u64,
        tags: &str,
        parent: &str,
        layers: &str,
        label: &str,
    ) -> String {
        format!(
            "sha256:{id}\t{size}\t{tags}\t0\t{parent}\t2026-12-01T10:00:{size:02}Z\t{layers}\t{label}"
        )
    }

    #[test]
    fn only_this_repositorys_untagged_images_and_dead_verify_tags() {
        let dangling =
            ["sha256:a", "sha256:b", "sha256:c", "sha256:d", "sha256:gone"].map(String::from);
        let leftovers = ["ns/app:xtask-verify-9".to_string()];
        // sha256:gone was removed between the listing and the inspection.
        let inspected = [
            line("a", 10, "[]", "", "[\"l1\"]", &current(2, "ns/app")),
            line("b", 20, "[]", "", "[\"l2\"]", &current(2, "other/app")),
            // An earlier build's label, without `image=`: not known to be ours.
            line("c", 30, "null", "", "[\"l3\"]", "dockerfile=sha256:00;parent="),
            // The legacy builder's image has a parent; Docker Hub's long name.
            line(
                "d",
                40,
                "[]",
                "sha256:p",
                "[\"l4\"]",
                &old_label("old", "sha256:s1", "docker.io/ns/app"),
            ),
            // Podman names a local image `localhost/...`.
            line(
                "e",
                50,
                "[\"localhost/ns/app:xtask-verify-9\",\"ns/app:x\"]",
                "sha256:p",
                "[]",
                "",
            ),
        ]
        .join("\n");
        let picked = select(&dangling, &leftovers, &inspected, "ns/app", &known());
        let shown: Vec<(&str, &str, u64, &str)> = picked
            .iter()
            .map(|c| (c.reference.as_str(), c.what.as_str(), c.size, c.parent.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("sha256:a", "former stage 2", 10, ""),
                ("sha256:d", "former stage 2", 40, "sha256:p"),
                (
                    "ns/app:xtask-verify-9",
                    "verify image (xtask-verify-9, its process is gone)",
                    50,
                    ""
                ),
            ]
        );
    }

    #[test]
    fn an_image_built_by_hand_on_a_stage_image_is_not_a_former_one() {
        let label = current(2, "ns/app");
        let dangling = ["sha256:child", "sha256:same-layers", "sha256:former"].map(String::from);
        let inspected = [
            // The stage image, tagged: a `docker build` by hand FROM it made
            // `child` (one more layer) and `same-layers` (metadata only, later).
            line("stage", 10, "[\"ns/app:latest_stage2\"]", "", "[\"l1\",\"l2\"]", &label),
            line("child", 20, "[]", "", "[\"l1\",\"l2\",\"l3\"]", &label),
            line("same-layers", 30, "[]", "", "[\"l1\",\"l2\"]", &label),
            // A former stage 2 rebuilt with --no-cache: the same label, earlier.
            line("former", 5, "[]", "", "[\"l1\",\"l2\"]", &label),
        ]
        .join("\n");
        let picked = select(&dangling, &[], &inspected, "ns/app", &known());
        let ids: Vec<&str> = picked.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["sha256:former"]);
    }

    #[test]
    fn creation_times_sort_as_times() {
        assert!(instant("2026-12-01T10:00:28.15Z") < instant("2026-12-01T10:00:28.2Z"));
        assert!(instant("2026-12-01T10:00:28Z") < instant("2026-12-01T10:00:28.000000001Z"));
        assert!(instant("2026-12-01 10:00:28.3 +0000 UTC") > instant("2026-12-01T10:00:28.25Z"));
    }

    #[test]
    fn names_are_compared_in_every_spelling() {
        assert!(same_reference("localhost/ns/app:xtask-verify-9", "ns/app:xtask-verify-9"));
        assert!(same_reference("docker.io/library/app:v1", "app:v1"));
        assert!(same_reference("host:5000/ns/app:v1", "host:5000/ns/app:v1"));
        assert!(!same_reference("host:5000/ns/app:v1", "host:5000/ns/app:v2"));
        assert!(!same_reference("ns/app", "ns/app"), "no tag");
    }

    #[test]
    fn a_build_step_has_no_label_and_a_pulled_image_says_so() {
        let step = Candidate::parse(&line("s", 7, "null", "sha256:p", "[]", ""), &known()).unwrap();
        assert_eq!(
            (step.what.as_str(), step.pulled, step.parent.as_str()),
            ("build step", false, "sha256:p")
        );
        let base = Candidate::parse("sha256:b\t7\t[]\t1\t\tT\t[]\t", &known()).unwrap();
        assert!(base.pulled);
        assert!(ours(&current(0, "docker.io/library/app"), "app"));
        assert!(!ours("dockerfile=sha256:00;parent=", "app"));
    }

    #[test]
    fn former_stage_from_the_label() {
        let k = known();
        for n in 0..3 {
            assert_eq!(k.former(&current(n, "x")), format!("former stage {n}"));
        }
        // A former stage 2 built from another snippet, on the current stage 1.
        let other =
            stage_label("old", Some(Parent { key: &k.keys[1], created: "T" }), "x", "sha256:f");
        assert_eq!(k.former(&other), "former stage 2");
        let unknown =
            stage_label("old", Some(Parent { key: "sha256:g", created: "T" }), "x", "sha256:f");
        assert_eq!(k.former(&unknown), "former stage");
        assert_eq!(k.former(&full_label("anything", "x")), "former full image");
        // Labels from before keys.
        assert_eq!(k.former(&old_label("c0", "", "x")), "former stage 0");
        assert_eq!(k.former(&old_label("main", "", "x")), "former full image");
        assert_eq!(k.former(&old_label("old", "sha256:s1", "x")), "former stage 2");
        assert_eq!(k.former("dockerfile=sha256:00;parent="), "former stage 0 or full image");
        assert_eq!(k.former(&old_label("old", "sha256:gone", "x")), "former stage");
        assert_eq!(k.former("dockerfile=sha256:00"), "former image");
    }

    #[test]
    fn verify_tags_of_dead_processes_only() {
        assert!(!verify_process_gone(&format!("xtask-verify-{}", std::process::id())));
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let tag = format!("xtask-verify-{}", child.id());
        assert!(!verify_process_gone(&tag), "a running process's tag");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(verify_process_gone(&tag), "an ended process's tag");
        assert!(verify_process_gone("xtask-verify-4000000000"));
        assert!(verify_process_gone("xtask-verify-99999999999999999999"));
        assert!(!verify_process_gone("xtask-verify-"));
        assert!(!verify_process_gone("latest"));
        assert!(!verify_process_gone("xtask-verify-12x"));
    }
}
