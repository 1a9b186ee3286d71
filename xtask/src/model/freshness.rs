//! The one judgement of what the images are now, which `status` shows and
//! `stages --stale` acts on: each stage image and the full image, fresh,
//! stale (and every reason why) or missing, from what their labels (see
//! [`labels`](super::labels)) record and what the current snippets and
//! settings would build.

use std::fmt;

use crate::model::keys;
use crate::model::labels::{built_from, parse, Label, Present};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    SnippetChanged,
    DockerfileChanged,
    ParentRebuilt,
    /// The nearest stale stage beneath.
    BelowStale(usize),
    NotOurs,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SnippetChanged => f.write_str("snippet changed"),
            Reason::DockerfileChanged => f.write_str("Dockerfile changed"),
            Reason::ParentRebuilt => f.write_str("parent rebuilt"),
            Reason::BelowStale(k) => write!(f, "stage {k} below is stale"),
            Reason::NotOurs => f.write_str("not built by cargo xtask stages"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Missing,
    Fresh,
    Stale(Vec<Reason>),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Missing => f.write_str("missing"),
            State::Fresh => f.write_str("fresh"),
            State::Stale(why) => {
                let why: Vec<String> = why.iter().map(Reason::to_string).collect();
                write!(f, "stale ({})", why.join(", "))
            }
        }
    }
}

/// What the current snippets and settings would build: each stage's chain
/// file, the build words its key takes, and the main Dockerfile.
pub(crate) struct Expected<'a> {
    pub(crate) chain: &'a [String],
    pub(crate) words: &'a [String],
    pub(crate) main: &'a str,
}

/// The state of every stage (`images[n]`: what its tag holds) and of the full
/// image (`full`: what its tag holds).
pub(crate) fn judge(
    expected: &Expected<'_>,
    images: &[Option<Present>],
    full: Option<&Present>,
) -> (Vec<State>, State) {
    let keys = keys::chain(expected.chain, expected.words);
    let mut states = Vec::with_capacity(keys.len());
    // The nearest present stage beneath that is stale.
    let mut stale_below = None;
    for (n, text) in expected.chain.iter().enumerate() {
        let Some(image) = images.get(n).and_then(Option::as_ref) else {
            states.push(State::Missing);
            continue;
        };
        let parent = n.checked_sub(1).and_then(|p| images.get(p)).and_then(Option::as_ref);
        // A `docker build` by hand on a stage image inherits its label.
        let inherited = image.label.is_some() && parent.is_some_and(|p| p.label == image.label);
        let (mut why, changed_below) = match image.label.as_deref() {
            Some(value) if !inherited => {
                let label = parse(value);
                match label.key {
                    Some(key) => keyed_reasons(&label, key, &keys[n], text, expected.words, parent),
                    None => (old_reasons(&label, value, text, parent), false),
                }
            }
            _ => (Vec::new(), false),
        };
        if let Some(k) = stale_below {
            why.push(Reason::BelowStale(k));
        } else if changed_below {
            // No present stage below to name: a snippet below it changed.
            why.push(Reason::SnippetChanged);
        }
        if image.label.is_none() || inherited {
            why.push(Reason::NotOurs);
        }
        if why.is_empty() {
            states.push(State::Fresh);
        } else {
            stale_below = Some(n);
            states.push(State::Stale(why));
        }
    }
    // The full image is built from the main Dockerfile, on no stage image.
    let full = match full {
        None => State::Missing,
        Some(Present { label: None, .. }) => State::Stale(vec![Reason::NotOurs]),
        Some(Present { label: Some(value), .. }) if !built_from(value, expected.main) => {
            State::Stale(vec![Reason::DockerfileChanged])
        }
        Some(_) => State::Fresh,
    };
    (states, full)
}

/// Why a stage whose label carries `key` is stale, when `expected` is the
/// key the current snippets give it; and whether a stage below changed. Its
/// own inputs changed when its key is not the one its chain file and words
/// give on the parent it records; a different key from the same own inputs
/// means a stage below changed.
fn keyed_reasons(
    label: &Label<'_>,
    key: &str,
    expected: &str,
    text: &str,
    words: &[String],
    parent: Option<&Present>,
) -> (Vec<Reason>, bool) {
    let mut why = Vec::new();
    let recorded = label.keyed_parent();
    let own = keys::key(recorded.map(|p| p.key), text, words);
    if own != key {
        why.push(Reason::SnippetChanged);
    }
    if let (Some(then), Some(now)) = (recorded, parent) {
        let now_key = now.label.as_deref().and_then(|value| parse(value).key);
        if now_key != Some(then.key) || now.created != then.created {
            why.push(Reason::ParentRebuilt);
        }
    }
    let changed_below = why.is_empty() && key != expected;
    (why, changed_below)
}

/// The same for labels written before keys: the chain file's hash, and the
/// parent's image id.
fn old_reasons(
    label: &Label<'_>,
    value: &str,
    text: &str,
    parent: Option<&Present>,
) -> Vec<Reason> {
    let mut why = Vec::new();
    if !built_from(value, text) {
        why.push(Reason::SnippetChanged);
    }
    let was_on = label.parent.filter(|id| !id.is_empty());
    if let (Some(then), Some(now)) = (was_on, parent) {
        if then != now.id {
            why.push(Reason::ParentRebuilt);
        }
    }
    why
}

/// The first stage `stages --stale` builds: the lowest one that is not fresh,
/// where a missing stage below a present one does not count (it was pulled
/// or built alone, and the one above it is judged on its own).
pub(crate) fn first_stale(states: &[State]) -> Option<usize> {
    let top_present = states.iter().rposition(|s| *s != State::Missing);
    states.iter().enumerate().position(|(n, state)| match state {
        State::Fresh => false,
        State::Stale(_) => true,
        State::Missing => top_present.is_none_or(|top| n > top),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels::{full_label, hash, stage_label, Parent};

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    /// Stage images built in a row from `chain` by `cargo xtask stages`:
    /// ids `id0`, `id1`, ..., created at `t0`, `t1`, ...
    fn built(chain: &[String]) -> Vec<Option<Present>> {
        let keys = keys::chain(chain, &[]);
        (0..chain.len())
            .map(|n| {
                let parent = n.checked_sub(1).map(|p| Parent { key: &keys[p], created: TIMES[p] });
                Some(Present {
                    id: format!("id{n}"),
                    created: TIMES[n].to_string(),
                    label: Some(stage_label(&chain[n], parent, "ns/app", &keys[n])),
                })
            })
            .collect()
    }

    const TIMES: [&str; 5] = [
        "2026-12-01T10:00:00.1Z",
        "2026-12-01T10:00:01.1Z",
        "2026-12-01T10:00:02.1Z",
        "2026-12-01T10:00:03.1Z",
        "2026-12-01T10:00:04.1Z",
    ];

    fn states(chain: &[String], images: &[Option<Present>]) -> Vec<String> {
        let expected = Expected { chain, words: &[], main: "" };
        judge(&expected, images, None).0.iter().map(State::to_string).collect()
    }

    /// A rebuild of stage `n` that is not from the cache (`--no-cache`): same
    /// key and label, a new id and creation time.
    fn rebuilt(images: &mut [Option<Present>], n: usize) {
        let image = images[n].as_mut().unwrap();
        image.id.push_str("-new");
        image.created = "2026-12-02T08:00:00.5Z".to_string();
    }

    #[test]
    fn old_labels_are_still_read() {
        let chain = texts(&["FROM a\n", "RUN b\n"]);
        let old =
            |text: &str, parent: &str| Some(format!("dockerfile={};parent={parent}", hash(text)));
        let mut images = vec![
            Some(Present { id: "id0".into(), created: "T0".into(), label: old(&chain[0], "") }),
            Some(Present { id: "id1".into(), created: "T1".into(), label: old(&chain[1], "id0") }),
        ];
        assert_eq!(parse(images[0].as_ref().unwrap().label.as_ref().unwrap()).image, None);
        assert_eq!(states(&chain, &images), ["fresh", "fresh"]);
        images[0].as_mut().unwrap().id = "id0-new".into();
        assert_eq!(states(&chain, &images), ["fresh", "stale (parent rebuilt)"]);
    }

    #[test]
    fn the_same_images_under_another_tag_are_fresh() {
        // The chain files of another tag differ in their FROM line only.
        let chain = texts(&[
            "FROM a\n",
            "\nFROM ns/app:main_stage0\nRUN b\n",
            "\nFROM ns/app:main_stage1\nRUN c\n",
        ]);
        let images = built(&chain);
        let feature: Vec<String> = chain.iter().map(|t| t.replace(":main_", ":feature_")).collect();
        assert_eq!(states(&feature, &images), ["fresh", "fresh", "fresh"]);
    }

    #[test]
    fn a_parent_rebuilt_without_the_cache_makes_its_children_stale() {
        let chain = texts(&["0", "1", "2", "3", "4"]);
        let mut images = built(&chain);
        // Stage 2 rebuilt: stage 3 sits on its old image, stage 4 on stage 3.
        rebuilt(&mut images, 2);
        assert_eq!(
            states(&chain, &images),
            ["fresh", "fresh", "fresh", "stale (parent rebuilt)", "stale (stage 3 below is stale)"]
        );
        // A rebuild from the cache keeps the creation time: nothing to do.
        let mut images = built(&chain);
        images[2].as_mut().unwrap().id.push_str("-same-config");
        assert_eq!(states(&chain, &images), ["fresh"; 5]);
    }

    #[test]
    fn a_parent_rebuilt_from_another_snippet_at_the_same_time_is_seen_by_its_key() {
        // BuildKit gives a stage of metadata only its base's creation time.
        let chain = texts(&["0", "1", "2"]);
        let changed = texts(&["0", "1 changed", "2"]);
        let mut images = built(&chain);
        let new_stage1 = built(&changed)[1].clone().unwrap();
        images[1] = Some(Present { created: TIMES[1].to_string(), ..new_stage1 });
        assert_eq!(states(&changed, &images), ["fresh", "fresh", "stale (parent rebuilt)"]);
    }

    #[test]
    fn every_reason_is_listed_and_missing_stages_do_not_carry() {
        let chain = texts(&["0", "1", "2", "3"]);
        let mut images = built(&chain);
        let changed = texts(&["0", "1 changed", "2", "3"]);
        rebuilt(&mut images, 0);
        images[2] = None;
        assert_eq!(
            states(&changed, &images),
            [
                "fresh",
                "stale (snippet changed, parent rebuilt)",
                "missing",
                "stale (stage 1 below is stale)"
            ]
        );
        // Stage 1 and 2 changed: stage 2's own snippet, and stage 1 below.
        let both = texts(&["0", "1 changed", "2 changed", "3"]);
        let images = built(&chain);
        assert_eq!(
            states(&both, &images),
            [
                "fresh",
                "stale (snippet changed)",
                "stale (snippet changed, stage 1 below is stale)",
                "stale (stage 2 below is stale)"
            ]
        );
    }

    #[test]
    fn a_stage_pulled_alone_is_judged_by_its_key() {
        let chain = texts(&["0", "1", "2"]);
        let mut images = built(&chain);
        images[0] = None;
        images[1] = None;
        assert_eq!(states(&chain, &images), ["missing", "missing", "fresh"]);
        // A snippet below it changed: nothing present below says which.
        let changed = texts(&["0 changed", "1", "2"]);
        assert_eq!(states(&changed, &images), ["missing", "missing", "stale (snippet changed)"]);
    }

    #[test]
    fn build_args_are_judged_through_the_key() {
        let chain = texts(&["0", "1"]);
        let images = built(&chain);
        let words = ["--build-arg".to_string(), "A=1".to_string()];
        let expected = Expected { chain: &chain, words: &words, main: "" };
        let shown: Vec<String> =
            judge(&expected, &images, None).0.iter().map(State::to_string).collect();
        assert_eq!(
            shown,
            ["stale (snippet changed)", "stale (snippet changed, stage 0 below is stale)"]
        );
    }

    #[test]
    fn hand_builds_are_not_ours() {
        let chain = texts(&["0", "1", "2"]);
        let mut images = built(&chain);
        // `docker build -f .docker/generated/Dockerfile.stage1`: stage 0's label.
        images[1].as_mut().unwrap().label = images[0].as_ref().unwrap().label.clone();
        assert_eq!(
            states(&chain, &images),
            [
                "fresh",
                "stale (not built by cargo xtask stages)",
                "stale (parent rebuilt, stage 1 below is stale)"
            ]
        );
        images[0].as_mut().unwrap().label = None;
        assert_eq!(states(&chain, &images)[0], "stale (not built by cargo xtask stages)");
    }

    #[test]
    fn the_full_image_is_judged_by_its_own_label() {
        let full = |label: Option<String>| Present { id: "f".into(), created: "T".into(), label };
        let fresh = full(Some(full_label("main", "ns/app")));
        let judged = |main: &str, image: Option<&Present>| {
            judge(&Expected { chain: &[], words: &[], main }, &[], image).1.to_string()
        };
        assert_eq!(judged("main", Some(&fresh)), "fresh");
        assert_eq!(judged("main", None), "missing");
        assert_eq!(judged("main 2", Some(&fresh)), "stale (Dockerfile changed)");
        assert_eq!(judged("main", Some(&full(None))), "stale (not built by cargo xtask stages)");
    }

    #[test]
    fn the_first_stale_stage() {
        let (f, m) = (State::Fresh, State::Missing);
        let s = State::Stale(vec![Reason::SnippetChanged]);
        assert_eq!(first_stale(&[f.clone(), f.clone()]), None);
        assert_eq!(first_stale(&[m.clone(), m.clone()]), Some(0));
        assert_eq!(first_stale(&[f.clone(), m.clone(), f.clone(), s.clone()]), Some(3));
        assert_eq!(first_stale(&[m.clone(), f.clone(), m.clone()]), Some(2));
        assert_eq!(first_stale(&[f.clone(), s, m]), Some(1));
    }
}
