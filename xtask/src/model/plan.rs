//! What a run builds: a [`Plan`] of stages (each after its missing
//! ancestors), then maybe the full image; each a [`Target`]. Planning is
//! pure; carrying a plan out is `ops::session`'s.

use std::fmt;

use crate::model::freshness::{self, State};
use crate::model::image::Image;

/// What a run builds, or a row of its summary: a stage or the full image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    Stage(usize),
    Full,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stage(n) => write!(f, "stage {n}"),
            Target::Full => f.write_str("the full image"),
        }
    }
}

/// What one run builds: these stages (each after its missing ancestors), then
/// the main Dockerfile under the tag `full`, if any.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) stages: Vec<usize>,
    pub(crate) full: Option<String>,
}

impl Plan {
    /// Everything asked for, in build order.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let mut targets: Vec<Target> = self.stages.iter().map(|&n| Target::Stage(n)).collect();
        if self.full.is_some() {
            targets.push(Target::Full);
        }
        targets
    }
}

/// The plan of `stages --stale`: from the first stage that is not fresh
/// through the last, then the full image if it is not fresh; `None` when
/// nothing is to build.
pub(crate) fn plan_stale(
    stages: &[State],
    full: &State,
    no_stages_build: bool,
    no_full_build: bool,
    image: &Image,
) -> Option<Plan> {
    let first = freshness::first_stale(stages).filter(|_| !no_stages_build);
    let plan = Plan {
        stages: first.map(|first| (first..stages.len()).collect()).unwrap_or_default(),
        full: (*full != State::Fresh && !no_full_build).then(|| image.full()),
    };
    (!plan.targets().is_empty()).then_some(plan)
}

/// `stage 3, stage 4 and the full image`.
pub(crate) fn names(targets: &[Target]) -> String {
    let names: Vec<String> = targets.iter().map(Target::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::freshness::Reason;

    #[test]
    fn stale_plans_start_at_the_first_stage_that_is_not_fresh() {
        let image = Image { name: "ns/app".into(), tag: "v1".into() };
        let (f, m) = (State::Fresh, State::Missing);
        let s = State::Stale(vec![Reason::ParentRebuilt]);
        let plan = |stages: &[State], full: &State, no_full| {
            plan_stale(stages, full, false, no_full, &image).map(|p| p.targets())
        };
        let all_fresh = [f.clone(), f.clone(), f.clone()];
        assert_eq!(plan(&all_fresh, &f, false), None);
        assert_eq!(
            plan(&[f.clone(), s.clone(), f.clone()], &f, false),
            Some(vec![Target::Stage(1), Target::Stage(2)])
        );
        assert_eq!(plan(&all_fresh, &m, false), Some(vec![Target::Full]));
        assert_eq!(plan(&all_fresh, &m, true), None);
        // A missing stage below a present one does not count.
        assert_eq!(
            plan(&[m.clone(), f.clone(), m.clone()], &f, false),
            Some(vec![Target::Stage(2)])
        );
    }

    #[test]
    fn targets_are_named_in_one_line() {
        assert_eq!(names(&[Target::Stage(4)]), "stage 4");
        assert_eq!(
            names(&[Target::Stage(3), Target::Stage(4), Target::Full]),
            "stage 3, stage 4 and the full image"
        );
        assert!(Target::Stage(usize::MAX) < Target::Full);
    }
}
