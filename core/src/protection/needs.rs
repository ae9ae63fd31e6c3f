//! Which protection records a locator names: what replicate must carry with
//! it and verify must find in B.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::keys::parse_key_id;
use super::names::path_segment;
use super::streaming_policy::{find_predefined, is_reserved};
use crate::delivery::Delivery;

/// The records a set of locators names, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Content key ids (those that are not UUIDs cannot be records here: left out).
    pub key_ids: BTreeSet<Uuid>,
    /// Content key policies, by name as written (compared without case).
    pub content_key_policies: BTreeSet<String>,
    /// Custom streaming policies (predefined ones are built in), by name.
    pub streaming_policies: BTreeSet<String>,
}

impl Needs {
    /// What these delivery terms name.
    pub fn of<'a>(terms: impl IntoIterator<Item = &'a Delivery>) -> Self {
        let mut needs = Needs::default();
        for d in terms {
            needs.key_ids.extend(d.content_key_ids.iter().filter_map(|k| parse_key_id(k).ok()));
            if let Some(p) = &d.default_content_key_policy_name {
                needs.content_key_policies.insert(path_segment(p));
            }
            if let Some(s) = &d.streaming_policy_name {
                if find_predefined(s).is_none() && !is_reserved(s) {
                    needs.streaming_policies.insert(path_segment(s));
                }
            }
        }
        needs
    }

    /// Whether the locators name nothing to carry.
    pub fn is_empty(&self) -> bool {
        self.key_ids.is_empty() && self.content_key_policies.is_empty() && self.streaming_policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locator_needs_its_keys_its_policy_and_a_custom_streaming_policy() {
        let id = Uuid::new_v4();
        let d = Delivery {
            streaming_policy_name: Some("MyPolicy".into()),
            default_content_key_policy_name: Some("Tok".into()),
            content_key_ids: vec![format!("nb:kid:UUID:{id}"), "not-a-uuid".into()],
            ..Delivery::default()
        };
        let predefined = Delivery { streaming_policy_name: Some("Predefined_ClearKey".into()), ..Delivery::default() };
        let needs = Needs::of([&d, &predefined]);
        assert_eq!(needs.key_ids, BTreeSet::from([id]));
        assert_eq!(needs.content_key_policies, BTreeSet::from(["tok".to_owned()]));
        assert_eq!(needs.streaming_policies, BTreeSet::from(["mypolicy".to_owned()]));
        assert!(Needs::of([&Delivery::default()]).is_empty());
    }
}
