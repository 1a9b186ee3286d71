//! What the engine holds for every stage and the full image, judged against
//! what a build would use now: one engine call lists the repository's tags,
//! one inspects the present ones. `status` shows it, `stages --stale` acts
//! on it. Also: whether the registry holds each stage's key tag.

use anyhow::Result;

use crate::engine::{Engine, Listed, Lookup};
use crate::model::freshness::{self, Expected, State};
use crate::model::image::Image;
use crate::model::keys;
use crate::model::labels::Present;
use crate::util::print::say;

/// What the engine holds for every stage and the full image, and the one
/// judgement of it.
pub(crate) struct Survey {
    /// The listing row of each stage's tag, if it exists.
    pub(crate) listed: Vec<Option<Listed>>,
    pub(crate) full_listed: Option<Listed>,
    pub(crate) stages: Vec<State>,
    pub(crate) full: State,
}

/// One engine call lists the repository's tags, one inspects the present
/// ones, whatever the number of stages. `expected`: what a build would use.
pub(crate) fn survey(
    engine: &Engine<'_>,
    image: &Image,
    expected: &Expected<'_>,
) -> Result<Survey> {
    let listing = engine.listing(image.repository())?;
    let find = |tag: &str| listing.iter().find(|row| row.tag == tag).cloned();
    let stages = expected.chain.len();
    let listed: Vec<Option<Listed>> = (0..stages).map(|n| find(&image.stage_tag(n))).collect();
    let full_listed = find(&image.tag);

    let mut refs: Vec<String> =
        (0..stages).filter(|&n| listed[n].is_some()).map(|n| image.stage(n)).collect();
    if full_listed.is_some() {
        refs.push(image.full());
    }
    let mut inspected = engine.inspect(&refs)?.into_iter();
    let images: Vec<Option<Present>> =
        listed.iter().map(|row| row.as_ref().and_then(|_| inspected.next())).collect();
    let full_image = full_listed.as_ref().and_then(|_| inspected.next());

    let (stages, full) = freshness::judge(expected, &images, full_image.as_ref());
    Ok(Survey { listed, full_listed, stages, full })
}

/// Whether the registry holds each stage's current key tag, asked without
/// pulling: `yes`, `no`, or `?` with one line saying why it could not be asked.
pub(crate) fn in_registry(
    engine: &Engine<'_>,
    image: &Image,
    keys: &[String],
) -> Result<Vec<&'static str>> {
    let mut answers = Vec::with_capacity(keys.len());
    let mut unknown = None;
    for (n, key) in keys.iter().enumerate() {
        let key_tag = format!("{}:{}", image.name, keys::tag(n, key));
        answers.push(match engine.lookup(&key_tag)? {
            Lookup::Found => "yes",
            Lookup::Missing => "no",
            Lookup::Unknown(why) => {
                unknown.get_or_insert(why);
                "?"
            }
        });
    }
    if let Some(why) = unknown {
        say!("note: cannot ask the registry {} ({why}): its column says ?", image.registry());
    }
    Ok(answers)
}
