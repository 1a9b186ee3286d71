//! The one label each stage build adds, and what it says about an image now:
//! `xtask.stages=dockerfile=sha256:<hex of its chain file>;parent=<parent id>`.
//! One label only: the legacy builder turns every `--label` into a build step.

use crate::sha256;

pub(crate) const LABEL: &str = "xtask.stages";

/// The label value for a stage built from `chain_text` on the image `parent_id`
/// (empty for stage 0).
pub(crate) fn label_value(chain_text: &str, parent_id: &str) -> String {
    format!("dockerfile=sha256:{};parent={parent_id}", sha256::hex_digest(chain_text.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Fresh,
    Stale(Vec<&'static str>),
    Missing,
}

impl State {
    pub(crate) fn describe(&self) -> String {
        match self {
            State::Fresh => "fresh".to_string(),
            State::Stale(why) => format!("stale ({})", why.join(", ")),
            State::Missing => "missing".to_string(),
        }
    }
}

/// What an image is now. `label` is `None` when the image does not exist,
/// `Some(None)` when it exists without the label; `parent_id` is the current id
/// of the parent tag, when it exists.
pub(crate) fn state(
    label: Option<Option<&str>>,
    chain_text: &str,
    parent_id: Option<&str>,
) -> State {
    let Some(label) = label else { return State::Missing };
    let Some(label) = label else { return State::Stale(vec!["not built by cargo xtask stages"]) };
    let (dockerfile, parent) = parse(label);
    let mut why = Vec::new();
    let hash = format!("sha256:{}", sha256::hex_digest(chain_text.as_bytes()));
    if dockerfile != Some(hash.as_str()) {
        why.push("snippet changed");
    }
    if let (Some(now), Some(then)) = (parent_id, parent) {
        if !then.is_empty() && now != then {
            why.push("parent rebuilt");
        }
    }
    if why.is_empty() {
        State::Fresh
    } else {
        State::Stale(why)
    }
}

/// The `dockerfile` and `parent` fields of a label value.
fn parse(value: &str) -> (Option<&str>, Option<&str>) {
    let mut dockerfile = None;
    let mut parent = None;
    for field in value.split(';') {
        match field.split_once('=') {
            Some(("dockerfile", v)) => dockerfile = Some(v),
            Some(("parent", v)) => parent = Some(v),
            _ => {}
        }
    }
    (dockerfile, parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let label = label_value("FROM a\n", "sha256:p1");
        assert!(label.starts_with("dockerfile=sha256:") && label.ends_with(";parent=sha256:p1"));
        assert_eq!(state(None, "FROM a\n", None), State::Missing);
        assert_eq!(state(Some(Some(&label)), "FROM a\n", Some("sha256:p1")), State::Fresh);
        assert_eq!(state(Some(Some(&label)), "FROM a\n", None), State::Fresh);
        assert_eq!(
            state(Some(Some(&label)), "FROM b\n", Some("sha256:p1")).describe(),
            "stale (snippet changed)"
        );
        assert_eq!(
            state(Some(Some(&label)), "FROM b\n", Some("sha256:p2")).describe(),
            "stale (snippet changed, parent rebuilt)"
        );
        assert_eq!(
            state(Some(None), "x", None).describe(),
            "stale (not built by cargo xtask stages)"
        );
        let stage0 = label_value("FROM a\n", "");
        assert_eq!(state(Some(Some(&stage0)), "FROM a\n", None), State::Fresh);
    }
}
