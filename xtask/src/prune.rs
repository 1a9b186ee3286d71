//! `cargo xtask prune`: removes the untagged images that earlier builds of
//! this project's image repository left behind (every rebuild leaves its
//! former image untagged), found by the `image=` field of their label, and
//! the temporary tags of `verify` runs whose process is gone.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use xshell::Shell;

use crate::engine::{label_template, normalize_id, Engine};
use crate::freshness::{self, LABEL};
use crate::image::Image;
use crate::out::out;
use crate::project::Project;

pub(crate) const HELP: &str = "\
Remove the untagged images that earlier builds of this project's image left behind.

Usage: cargo xtask prune [--dry-run]

Every rebuild of a stage or of the full image leaves its former image untagged. prune
removes those of this image repository (found by the label `cargo xtask stages` adds),
and the temporary tags of `cargo xtask verify` runs that are no longer running. It lists
each image (id, the stage it was, size as the engine reports it, shared layers included)
and a total. Never a tagged image, another repository's image, or a container; an image
the engine will not remove (a tagged image is built on it) is kept.

Options:
  --dry-run   list what would be removed; remove nothing
  -h, --help
";

/// An image that prune may remove: an untagged one of this repository, or a
/// verify run's leftover tag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    /// What `image rm` is given: the id, or the leftover tag.
    reference: String,
    id: String,
    size: u64,
    what: String,
}

pub(crate) fn run(sh: &Shell, project: &Project, dry_run: bool) -> Result<()> {
    let image = project.image(sh)?;
    // Removal goes through `remove_image`, which prune skips in a dry run.
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    let dangling = engine.dangling(LABEL)?;
    let local = engine.local_tags(&image.name)?;
    let leftovers: Vec<String> = local
        .keys()
        .filter(|tag| verify_process_gone(tag))
        .map(|tag| format!("{}:{tag}", image.name))
        .collect();
    let refs: Vec<String> = dangling.iter().chain(&leftovers).cloned().collect();
    let inspected = if refs.is_empty() {
        String::new()
    } else {
        // Another run may remove some of them meanwhile: those are gone, not
        // an error, and each line names its image by id and tags.
        engine.inspect_present(
            &refs,
            &format!(
                "{{{{.Id}}}}\t{{{{.Size}}}}\t{{{{json .RepoTags}}}}\t{}",
                label_template(LABEL)
            ),
        )?
    };
    let known = Known::new(project, &image, &local);
    let candidates = select(&dangling, &leftovers, &inspected, &image.name, &known);
    if candidates.is_empty() {
        return out!(
            "nothing to remove: no untagged image of {} left by earlier builds",
            image.name
        );
    }

    // One engine call for all: a process per image costs more than the removal.
    let refusals = if dry_run {
        Vec::new()
    } else {
        let refs: Vec<String> = candidates.iter().map(|c| c.reference.clone()).collect();
        engine.remove_images(&refs)?
    };
    let (mut removed, mut removed_size, mut kept) = (0usize, 0u64, 0usize);
    for candidate in &candidates {
        let short = short_id(&candidate.id);
        let size = human_size(candidate.size);
        let what = &candidate.what;
        match refusal(&refusals, candidate) {
            Some(reason) => {
                out!("kept     {short}  {what}  {size}  ({reason})")?;
                kept += 1;
            }
            None => {
                let verb = if dry_run { "would remove" } else { "removed" };
                out!("{verb}  {short}  {what}  {size}")?;
                removed += 1;
                removed_size += candidate.size;
            }
        }
    }
    let plural = |n: usize| if n == 1 { "image" } else { "images" };
    let verb = if dry_run { "would remove" } else { "removed" };
    let kept = if kept > 0 {
        format!("; kept {kept} {} that the engine would not remove", plural(kept))
    } else {
        String::new()
    };
    out!("{verb} {removed} {}, {}{kept}", plural(removed), human_size(removed_size))
}

/// Whether `tag` is a `verify` run's temporary tag whose process is gone.
/// Processes are looked up in /proc; where there is none (not Linux), no
/// leftover is ever assumed, so a running verify never loses its tag.
fn verify_process_gone(tag: &str) -> bool {
    let Some(pid) = tag.strip_prefix("xtask-verify-") else { return false };
    let is_pid = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    is_pid && Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists()
}

/// What the current stage images and files say about a former image.
struct Known {
    /// Hash-carrying label values of what each stage and the full image
    /// would be built from now.
    chain: Vec<String>,
    main: String,
    /// Current id of each stage's tag.
    ids: HashMap<String, usize>,
}

impl Known {
    fn new(project: &Project, image: &Image, local: &HashMap<String, String>) -> Known {
        let chain = project.chain_texts(image);
        let ids = (0..chain.len())
            .filter_map(|n| local.get(&format!("{}_stage{n}", image.tag)).map(|id| (id.clone(), n)))
            .collect();
        Known { chain, main: project.stages.main_dockerfile(), ids }
    }

    /// `former stage 2`, `former full image`, or as much as the label tells:
    /// its chain file, or its parent's current tag, names the stage.
    fn former(&self, label: &str) -> String {
        if let Some(n) = self.chain.iter().position(|text| freshness::built_from(label, text)) {
            return format!("former stage {n}");
        }
        if freshness::built_from(label, &self.main) {
            return "former full image".to_string();
        }
        match freshness::parse(label).parent {
            // Only stage 0 and the full image are built on no stage image.
            Some("") => "former stage 0 or full image".to_string(),
            Some(id) => match self.ids.get(id) {
                Some(n) => format!("former stage {}", n + 1),
                None => "former stage".to_string(),
            },
            None => "former image".to_string(),
        }
    }
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
    inspected
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            let id = normalize_id(fields.next()?);
            let size = fields.next()?.trim().parse().unwrap_or(0);
            // `["ns/app:tag",...]`: the names are quoted, so a match is whole.
            let tags = fields.next()?;
            let label = fields.next().unwrap_or("").trim();
            if let Some(reference) = leftovers.iter().find(|r| tags.contains(&format!("\"{r}\""))) {
                let tag = reference.rsplit_once(':').map_or("", |(_, tag)| tag);
                return Some(Candidate {
                    reference: reference.clone(),
                    id,
                    size,
                    what: format!("verify image ({tag}, its process is gone)"),
                });
            }
            let ours = dangling.contains(&id) && freshness::parse(label).image == Some(repository);
            ours.then(|| Candidate { reference: id.clone(), id, size, what: known.former(label) })
        })
        .collect()
}

/// Why the engine kept `candidate`, from its refusals (which name the image
/// by its short id, or by the tag given). One that is already gone was not
/// kept: something else removed it.
fn refusal(refusals: &[String], candidate: &Candidate) -> Option<String> {
    let line = refusals.iter().find(|line| {
        line.contains(short_id(&candidate.id)) || line.contains(candidate.reference.as_str())
    })?;
    if line.to_ascii_lowercase().contains("no such image") {
        return None;
    }
    Some(line.strip_prefix("Error response from daemon: ").unwrap_or(line).to_string())
}

/// `sha256:0123456789abcdef...` as docker shows it: 12 hex digits.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// Bytes in docker's own units (decimal, 3 significant digits): `1.98MB`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 999.5 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if unit == 0 || value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    // docker prints 1.9MB, not 1.90MB.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::label_value;

    fn known() -> Known {
        let mut ids = HashMap::new();
        ids.insert("sha256:s1".to_string(), 1);
        Known { chain: vec!["c0".into(), "c1".into(), "c2".into()], main: "main".into(), ids }
    }

    #[test]
    fn only_this_repositorys_untagged_images_and_dead_verify_tags() {
        let dangling =
            ["sha256:a", "sha256:b", "sha256:c", "sha256:d", "sha256:gone"].map(String::from);
        let leftovers = ["ns/app:xtask-verify-9".to_string()];
        // sha256:gone was removed between the listing and the inspection.
        let inspected = [
            format!("sha256:a\t1000\t[]\t{}", label_value("c2", "sha256:s1", "ns/app")),
            format!("sha256:b\t2000\t[]\t{}", label_value("c2", "sha256:s1", "other/app")),
            // An earlier build's label, without `image=`: not known to be ours.
            "sha256:c\t3000\tnull\tdockerfile=sha256:00;parent=".to_string(),
            format!("sha256:d\t4000\t[]\t{}", label_value("old", "sha256:s1", "ns/app")),
            "sha256:e\t5000\t[\"ns/app:xtask-verify-9\",\"ns/app:x\"]\t".to_string(),
        ]
        .join("\n");
        let picked = select(&dangling, &leftovers, &inspected, "ns/app", &known());
        let shown: Vec<(&str, &str, u64)> =
            picked.iter().map(|c| (c.reference.as_str(), c.what.as_str(), c.size)).collect();
        assert_eq!(
            shown,
            [
                ("sha256:a", "former stage 2", 1000),
                ("sha256:d", "former stage 2", 4000),
                (
                    "ns/app:xtask-verify-9",
                    "verify image (xtask-verify-9, its process is gone)",
                    5000
                ),
            ]
        );
    }

    #[test]
    fn former_stage_from_the_label() {
        let k = known();
        assert_eq!(k.former(&label_value("c0", "", "x")), "former stage 0");
        assert_eq!(k.former(&label_value("main", "", "x")), "former full image");
        assert_eq!(k.former(&label_value("old", "sha256:s1", "x")), "former stage 2");
        assert_eq!(k.former(&label_value("old", "", "x")), "former stage 0 or full image");
        assert_eq!(k.former(&label_value("old", "sha256:gone", "x")), "former stage");
        assert_eq!(k.former("dockerfile=sha256:00"), "former image");
    }

    #[test]
    fn refusals_keep_the_image_they_name() {
        let candidate = |id: &str| Candidate {
            reference: format!("sha256:{id}"),
            id: format!("sha256:{id}"),
            size: 1,
            what: String::new(),
        };
        let refusals = [
            "Error response from daemon: conflict: unable to delete 1d0dddd55e0d (cannot be forced) - image has dependent child images".to_string(),
            "Error response from daemon: No such image: sha256:aaaaaaaaaaaa0000".to_string(),
        ];
        assert_eq!(
            refusal(&refusals, &candidate("1d0dddd55e0d1234")).as_deref(),
            Some("conflict: unable to delete 1d0dddd55e0d (cannot be forced) - image has dependent child images")
        );
        assert_eq!(refusal(&refusals, &candidate("aaaaaaaaaaaa0000")), None);
        assert_eq!(refusal(&refusals, &candidate("bbbbbbbbbbbb0000")), None);
    }

    #[test]
    fn verify_tags_of_dead_processes_only() {
        assert!(!verify_process_gone(&format!("xtask-verify-{}", std::process::id())));
        assert!(verify_process_gone("xtask-verify-4000000000"));
        assert!(!verify_process_gone("xtask-verify-"));
        assert!(!verify_process_gone("latest"));
        assert!(!verify_process_gone("xtask-verify-12x"));
    }

    #[test]
    fn sizes_in_dockers_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_984_134), "1.98MB");
        assert_eq!(human_size(1_900_000), "1.9MB");
        assert_eq!(human_size(52_300_000), "52.3MB");
        assert_eq!(human_size(12_000_000_000), "12GB");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
