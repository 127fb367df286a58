//! The project's own releases (`tests/pairs/releases.json`): each consecutive pair of released
//! versions, with the changes the checker reports and the bump they need. The same pairs run in
//! the property test of `tests/event_contracts` (events of either release accepted by the
//! consumer path built with the other).

#[macro_use]
mod common;

use common::{pairs, repo_root};

pair_tests!("releases.json":
    task_events_1_1_0_adds_completed_at,
);

/// Every consecutive pair of releases under contracts/events/releases/ is in releases.json, so
/// the next release cannot skip the property test.
#[test]
fn every_consecutive_release_pair_is_listed() {
    let layout = todo_contracts::Layout::new(repo_root().join("contracts/events"));
    let mut consecutive = Vec::new();
    for topic in layout.released_topics().unwrap() {
        let releases = layout.releases(&topic).unwrap();
        for w in releases.windows(2) {
            let rel = |r: &todo_contracts::ReleasedSchema| {
                let path = r.path.strip_prefix(repo_root()).unwrap();
                path.to_str().unwrap().replace("/./", "/")
            };
            consecutive.push((rel(&w[0]), rel(&w[1])));
        }
    }
    let listed: Vec<(String, String)> = pairs("releases.json")
        .iter()
        .map(|p| {
            let file = |side: &str| p[side]["$file"].as_str().unwrap().to_owned();
            (file("old"), file("new"))
        })
        .collect();
    for pair in &consecutive {
        assert!(
            listed.contains(pair),
            "{pair:?} is not in tests/pairs/releases.json"
        );
    }
    assert_eq!(listed.len(), consecutive.len(), "{listed:?}");
}
