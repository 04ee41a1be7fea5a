//! Where an instance is in a log the store numbers (the change log, the
//! item events), by number.
//!
//! Numbers are handed out when a transaction writes its change, but
//! transactions commit in their own order: on PostgreSQL, change 11 can be
//! visible while change 10 is still being committed (or was rolled back
//! and never will be). So the cursor keeps two things: every change up to
//! `applied_to` is applied, and the changes above it that were seen (and
//! applied) out of order. The first missing number is waited for, and read
//! again at each refresh, until `patience` has passed: then it is taken
//! for a rollback. Transactions are bounded by the request time-out, far
//! shorter than the patience. Pure, so the rule is tested without a
//! database.

use std::{collections::BTreeSet, time::Duration};

use tokio::time::Instant;

#[derive(Debug)]
pub struct Cursor {
    applied_to: i64,
    above: BTreeSet<i64>,
    /// The first missing number, and since when it has been missing.
    gap: Option<(i64, Instant)>,
}

impl Cursor {
    /// A cursor for which every change up to `applied_to` is applied.
    pub fn new(applied_to: i64) -> Self {
        Self {
            applied_to,
            above: BTreeSet::new(),
            gap: None,
        }
    }

    /// Read the log from above this number.
    pub fn read_from(&self) -> i64 {
        self.applied_to
    }

    /// Whether change `seq` is new here; from now on it counts as applied.
    pub fn take(&mut self, seq: i64) -> bool {
        seq > self.applied_to && self.above.insert(seq)
    }

    /// Moves past every change applied without a gap below it, and past a
    /// gap that has been open for `patience`.
    pub fn settle(&mut self, now: Instant, patience: Duration) {
        loop {
            while self.above.remove(&(self.applied_to + 1)) {
                self.applied_to += 1;
            }
            let Some(&next) = self.above.first() else {
                self.gap = None;
                return;
            };
            let missing = self.applied_to + 1;
            let since = match self.gap {
                Some((at, since)) if at == missing => since,
                _ => now,
            };
            if now.duration_since(since) >= patience {
                self.applied_to = next - 1;
                self.gap = None;
                continue;
            }
            self.gap = Some((missing, since));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn changes_in_order_advance_the_cursor() {
        let now = Instant::now();
        let mut cursor = Cursor::new(4);
        assert!(!cursor.take(4), "already applied");
        assert!(cursor.take(5));
        assert!(cursor.take(6));
        cursor.settle(now, PATIENCE);
        assert_eq!(cursor.read_from(), 6);
    }

    #[test]
    fn a_late_commit_below_a_seen_change_is_still_read() {
        let start = Instant::now();
        let mut cursor = Cursor::new(9);
        // 11 committed first; 10 is still in flight.
        assert!(cursor.take(11));
        cursor.settle(start, PATIENCE);
        assert_eq!(cursor.read_from(), 9, "10 is read again at the next refresh");
        assert!(!cursor.take(11), "11 is not applied twice");
        // 10 commits 30 s later (wall-clock reading would have missed it).
        assert!(cursor.take(10));
        cursor.settle(start + Duration::from_secs(30), PATIENCE);
        assert_eq!(cursor.read_from(), 11);
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_after_the_patience() {
        let start = Instant::now();
        let mut cursor = Cursor::new(0);
        assert!(cursor.take(2));
        cursor.settle(start, PATIENCE);
        cursor.settle(start + Duration::from_secs(59), PATIENCE);
        assert_eq!(cursor.read_from(), 0);
        cursor.settle(start + PATIENCE, PATIENCE);
        assert_eq!(cursor.read_from(), 2);
        // The next gap has a clock of its own.
        assert!(cursor.take(5));
        cursor.settle(start + PATIENCE + Duration::from_secs(1), PATIENCE);
        assert_eq!(cursor.read_from(), 2);
    }
}
