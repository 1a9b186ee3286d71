//! The one label each build adds, and the one judgement of what the images
//! are now, which `status` shows and `stages --stale` acts on:
//! `xtask.stages=dockerfile=sha256:<hex>;parent=<parent id>;image=<repository>`.
//! One label only: the legacy builder turns every `--label` into a build step.

use std::fmt;

use crate::sha256;

pub(crate) const LABEL: &str = "xtask.stages";

/// The label value for an image built from `text` (a chain file, or the main
/// Dockerfile) on the image `parent_id` (empty for stage 0 and the full
/// image), in the repository `repository`.
pub(crate) fn label_value(text: &str, parent_id: &str, repository: &str) -> String {
    format!("dockerfile={};parent={parent_id};image={repository}", hash(text))
}

fn hash(text: &str) -> String {
    format!("sha256:{}", sha256::hex_digest(text.as_bytes()))
}

/// The fields of a label value; each is `None` when absent (`image` is
/// absent from the labels of builds before it was added).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Label<'a> {
    pub(crate) dockerfile: Option<&'a str>,
    pub(crate) parent: Option<&'a str>,
    pub(crate) image: Option<&'a str>,
}

pub(crate) fn parse(value: &str) -> Label<'_> {
    let mut label = Label::default();
    for field in value.split(';') {
        match field.split_once('=') {
            Some(("dockerfile", v)) => label.dockerfile = Some(v),
            Some(("parent", v)) => label.parent = Some(v),
            Some(("image", v)) => label.image = Some(v),
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
    /// The value of [`LABEL`], if the image has one.
    pub(crate) label: Option<String>,
}

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

/// The state of every stage (`chain[n]` the text its chain file would have
/// now, `images[n]` what its tag holds) and of the full image (`main` the
/// main Dockerfile's text, `full` what its tag holds).
pub(crate) fn judge(
    chain: &[String],
    images: &[Option<Present>],
    main: &str,
    full: Option<&Present>,
) -> (Vec<State>, State) {
    let mut states = Vec::with_capacity(chain.len());
    // The nearest present stage beneath that is stale.
    let mut stale_below = None;
    for (n, text) in chain.iter().enumerate() {
        let Some(image) = images.get(n).and_then(Option::as_ref) else {
            states.push(State::Missing);
            continue;
        };
        let parent = n.checked_sub(1).and_then(|p| images.get(p)).and_then(Option::as_ref);
        let mut why = Vec::new();
        // A `docker build` by hand on a stage image inherits its label.
        let inherited = image.label.is_some() && parent.is_some_and(|p| p.label == image.label);
        match image.label.as_deref() {
            Some(value) if !inherited => {
                let label = parse(value);
                if !built_from(value, text) {
                    why.push(Reason::SnippetChanged);
                }
                let was_on = label.parent.filter(|id| !id.is_empty());
                if let (Some(then), Some(now)) = (was_on, parent) {
                    if then != now.id {
                        why.push(Reason::ParentRebuilt);
                    }
                }
            }
            _ => {}
        }
        if let Some(k) = stale_below {
            why.push(Reason::BelowStale(k));
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
        Some(Present { label: Some(value), .. }) if !built_from(value, main) => {
            State::Stale(vec![Reason::DockerfileChanged])
        }
        Some(_) => State::Fresh,
    };
    (states, full)
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

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    /// Stage images built in a row from `chain`, ids `id0`, `id1`, ...
    fn built(chain: &[String]) -> Vec<Option<Present>> {
        (0..chain.len())
            .map(|n| {
                let parent = if n == 0 { String::new() } else { format!("id{}", n - 1) };
                Some(Present {
                    id: format!("id{n}"),
                    label: Some(label_value(&chain[n], &parent, "ns/app")),
                })
            })
            .collect()
    }

    fn shown(states: &[State]) -> Vec<String> {
        states.iter().map(State::to_string).collect()
    }

    #[test]
    fn labels_carry_the_repository_and_old_ones_still_read() {
        let value = label_value("FROM a\n", "sha256:p1", "host:5000/ns/app");
        let label = parse(&value);
        assert_eq!(label.parent, Some("sha256:p1"));
        assert_eq!(label.image, Some("host:5000/ns/app"));
        let old = format!("dockerfile={};parent=sha256:p1", hash("FROM a\n"));
        assert_eq!(parse(&old).image, None);
        let chain = texts(&["FROM a\n"]);
        let images = [Some(Present { id: "x".into(), label: Some(old) })];
        assert_eq!(shown(&judge(&chain, &images, "", None).0), ["fresh"]);
    }

    #[test]
    fn staleness_is_carried_up_the_chain() {
        let chain = texts(&["0", "1", "2", "3", "4"]);
        let mut images = built(&chain);
        // Stage 2 rebuilt: stage 3 sits on its old image, stage 4 on stage 3.
        images[2].as_mut().unwrap().id = "id2-new".into();
        let (states, _) = judge(&chain, &images, "", None);
        assert_eq!(
            shown(&states),
            ["fresh", "fresh", "fresh", "stale (parent rebuilt)", "stale (stage 3 below is stale)"]
        );
    }

    #[test]
    fn every_reason_is_listed_and_missing_stages_do_not_carry() {
        let chain = texts(&["0", "1", "2", "3"]);
        let mut images = built(&chain);
        let changed = texts(&["0", "1 changed", "2", "3"]);
        images[0].as_mut().unwrap().id = "id0-new".into();
        images[2] = None;
        let (states, _) = judge(&changed, &images, "", None);
        assert_eq!(
            shown(&states),
            [
                "fresh",
                "stale (snippet changed, parent rebuilt)",
                "missing",
                "stale (stage 1 below is stale)"
            ]
        );
    }

    #[test]
    fn hand_builds_are_not_ours() {
        let chain = texts(&["0", "1", "2"]);
        let mut images = built(&chain);
        // `docker build -f .docker/generated/Dockerfile.stage1`: stage 0's label.
        images[1].as_mut().unwrap().label = images[0].as_ref().unwrap().label.clone();
        let (states, _) = judge(&chain, &images, "", None);
        assert_eq!(
            shown(&states),
            ["fresh", "stale (not built by cargo xtask stages)", "stale (stage 1 below is stale)"]
        );
        images[0].as_mut().unwrap().label = None;
        assert_eq!(
            judge(&chain, &images, "", None).0[0].to_string(),
            "stale (not built by cargo xtask stages)"
        );
    }

    #[test]
    fn the_full_image_is_judged_by_its_own_label() {
        let full = |label: Option<String>| Present { id: "f".into(), label };
        let fresh = full(Some(label_value("main", "", "ns/app")));
        assert_eq!(judge(&[], &[], "main", Some(&fresh)).1, State::Fresh);
        assert_eq!(judge(&[], &[], "main", None).1, State::Missing);
        assert_eq!(
            judge(&[], &[], "main 2", Some(&fresh)).1.to_string(),
            "stale (Dockerfile changed)"
        );
        assert_eq!(
            judge(&[], &[], "main", Some(&full(None))).1.to_string(),
            "stale (not built by cargo xtask stages)"
        );
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
