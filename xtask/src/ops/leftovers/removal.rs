//! Removing what [`candidates`](super::candidates) found: in one engine call,
//! with the engine's refusals kept and explained, and then the untagged
//! parents that the containerd image store leaves behind.

use anyhow::Result;

use super::{inspect_format, ours, Candidate, Known};
use crate::engine::{is_gone, normalize_id, short_id, Engine};

/// An image the engine would not remove, and its reason.
pub(crate) type Kept = (Candidate, String);

/// Removes `candidates` in one engine call (a process per image costs
/// more than the removal), and returns those removed and those the engine
/// kept, with why. When the engine refused something, what is still there
/// is asked: podman's refusal does not name the image it is about.
pub(crate) fn remove(
    engine: &Engine<'_>,
    candidates: Vec<Candidate>,
) -> Result<(Vec<Candidate>, Vec<Kept>)> {
    let refs: Vec<String> = candidates.iter().map(|c| c.reference.clone()).collect();
    let refusals = engine.remove_images(&refs)?;
    let refused = |line: &&String| !is_gone(line);
    let refusals: Vec<&String> = refusals.iter().filter(refused).collect();
    if refusals.is_empty() {
        return Ok((candidates, Vec::new()));
    }
    let left = engine.inspect_present(&refs, "{{.Id}}")?;
    let left: Vec<String> = left.lines().map(normalize_id).collect();
    let (kept, removed): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| left.contains(&c.id));
    let kept = kept
        .into_iter()
        .map(|c| {
            let reason = reason(&refusals, &c);
            (c, reason)
        })
        .collect();
    Ok((removed, kept))
}

/// Why the engine kept `candidate`: its refusal line that names it (by its
/// short id or the tag given), else the only refusal there is.
fn reason(refusals: &[&String], candidate: &Candidate) -> String {
    let named = refusals.iter().find(|line| {
        line.contains(short_id(&candidate.id)) || line.contains(candidate.reference.as_str())
    });
    let line = match (named, refusals) {
        (Some(line), _) | (None, [line]) => line.as_str(),
        _ => return "the engine would not remove it".to_string(),
    };
    let line = line.strip_prefix("Error response from daemon: ").unwrap_or(line);
    line.strip_prefix("Error: ").unwrap_or(line).to_string()
}

/// The containerd image store does not remove every untagged parent of a
/// removed image, as dockerd 20.10 does: the legacy builder's former images
/// and build steps stay behind. Those of the removed images' parents that are
/// now dangling (untagged, and no image built on them: the engine would let
/// an image with children go, and with it the build cache of another) are
/// removed here too, a generation at a time. On other engines none is left
/// and this costs one listing, only after removing legacy builder images.
/// Returns the parents removed, generation by generation.
pub(crate) fn remove_left_parents(
    engine: &Engine<'_>,
    repository: &str,
    known: &Known,
    mut removed: Vec<Candidate>,
) -> Result<Vec<Candidate>> {
    let mut parents_removed = Vec::new();
    loop {
        let parents: Vec<&str> =
            removed.iter().map(|c| c.parent.as_str()).filter(|p| !p.is_empty()).collect();
        if parents.is_empty() {
            return Ok(parents_removed);
        }
        let dangling = engine.dangling(None)?;
        let left: Vec<String> =
            dangling.into_iter().filter(|id| parents.contains(&id.as_str())).collect();
        let inspected = engine.inspect_present(&left, &inspect_format())?;
        // Build steps have no label, or the one of the stage they build on;
        // an image pulled by digest (a base image) is nobody's leftover.
        let left: Vec<Candidate> = inspected
            .lines()
            .filter_map(|line| Candidate::parse(line, known))
            .filter(|c| !c.pulled && c.label.as_deref().is_none_or(|l| ours(l, repository)))
            .collect();
        if left.is_empty() {
            return Ok(parents_removed);
        }
        removed = remove(engine, left)?.0;
        parents_removed.extend(removed.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::leftovers::tests::{known, line};

    #[test]
    fn the_refusal_that_names_the_image_or_the_only_one() {
        let candidate =
            |id: &str| Candidate::parse(&line(id, 1, "[]", "", "[]", ""), &known()).unwrap();
        let docker = "Error response from daemon: conflict: unable to delete 1d0dddd55e0d (cannot be forced) - image has dependent child images".to_string();
        let podman = "Error: image used by 184d644bde90: image is in use by a container: consider listing external containers and force-removing image".to_string();
        assert_eq!(
            reason(&[&docker, &podman], &candidate("1d0dddd55e0d1234")),
            "conflict: unable to delete 1d0dddd55e0d (cannot be forced) - image has dependent child images"
        );
        assert_eq!(
            reason(&[&podman], &candidate("aaaaaaaaaaaa0000")),
            "image used by 184d644bde90: image is in use by a container: consider listing external containers and force-removing image"
        );
        assert_eq!(
            reason(&[&docker, &podman], &candidate("bbbbbbbbbbbb0000")),
            "the engine would not remove it"
        );
    }
}
