//! Which origin gets the requests (pure): Traffic Manager's priority method.
//! The first usable origin in the configured order; with failback off, the
//! current one keeps them for as long as it is usable.

use crate::health::Health;

/// The origin to route to, given each origin's health (in priority order) and
/// the one routed to now. `None` when no origin is usable: the caller keeps
/// the current one (and proxying still tries them all, as a last resort).
pub fn choose(health: &[Health], current: Option<usize>, failback: bool) -> Option<usize> {
    if !failback {
        if let Some(c) = current.filter(|&c| health.get(c).is_some_and(|h| h.usable())) {
            return Some(c);
        }
    }
    health.iter().position(|h| h.usable())
}

/// The order in which a request tries the origins: the active one, the other
/// usable ones by priority, then (only if all those fail) the down ones.
pub fn attempt_order(health: &[Health], active: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = active.into_iter().filter(|&a| a < health.len()).collect();
    for usable in [true, false] {
        for (i, h) in health.iter().enumerate() {
            if h.usable() == usable && !order.contains(&i) {
                order.push(i);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use Health::{Down, Unknown, Up};

    #[test]
    fn the_first_usable_origin_in_priority_order_is_chosen() {
        assert_eq!(choose(&[Up, Up], None, true), Some(0));
        assert_eq!(choose(&[Down, Up, Up], Some(0), true), Some(1));
        assert_eq!(choose(&[Unknown, Up], None, true), Some(0), "not yet probed counts as usable");
        assert_eq!(choose(&[Down, Down], Some(1), true), None);
    }

    #[test]
    fn with_failback_the_first_origin_takes_the_requests_back_once_up() {
        assert_eq!(choose(&[Up, Up], Some(1), true), Some(0));
    }

    #[test]
    fn without_failback_the_current_origin_keeps_the_requests_while_usable() {
        assert_eq!(choose(&[Up, Up], Some(1), false), Some(1));
        assert_eq!(choose(&[Up, Down], Some(1), false), Some(0), "but not once it is down");
        assert_eq!(choose(&[Up, Up, Up], Some(7), false), Some(0), "an index out of range is ignored");
    }

    #[test]
    fn a_request_tries_the_active_origin_then_usable_ones_then_down_ones() {
        assert_eq!(attempt_order(&[Up, Down, Up], Some(2)), [2, 0, 1]);
        assert_eq!(attempt_order(&[Down, Up, Up], Some(1)), [1, 2, 0]);
        assert_eq!(attempt_order(&[Down, Down], None), [0, 1]);
    }
}
