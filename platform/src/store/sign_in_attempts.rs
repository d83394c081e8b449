//! Sign-in attempts counted in the store, so that every node sharing the database counts against
//! one allowance (issue 21, items 2 and 7). A counter is one row: a digest of what it names (the
//! caller's choice: a user at an address, a user, an address), when its fixed window ends and how
//! many attempts the window holds.
//!
//! An attempt is counted **before** the password is checked, under all its counters at once: each
//! is incremented (a counter whose window has ended starts a new one), and if any is then past its
//! limit, everything the attempt did is rolled back. So a refused attempt consumes nothing (it
//! cannot use up a user's allowance from an address that is refused anyway), and attempts running
//! in parallel, on one node or many, cannot all pass the check. Counters are taken in the order of
//! their digests, so two attempts sharing counters never wait for each other in a cycle.
//!
//! This module never decides who may sign in, nor which counters an attempt has: the password
//! grant does (`oauth::sign_in_limits`). Where the statements run (the group commit's writer on
//! SQLite, a connection of its own on PostgreSQL) is `GroupCommitter::count_sign_in_attempt`'s
//! choice.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::sign_in_attempts as counters;
use super::{DbConnection, Store, StoreError};

/// One counter an attempt is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCounter {
    /// What the counter names, digested (`sha256:` and 64 hex digits): never a username or an
    /// address itself, so a row's size does not depend on what a client sends.
    pub key_digest: String,
    /// Attempts one window holds; one more is refused.
    pub limit: u32,
}

/// A sign-in attempt to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAttempt {
    pub counters: Vec<AttemptCounter>,
    pub now: i64,
    /// A counter's window, from its first attempt.
    pub window_seconds: i64,
}

/// The window of a counter an attempt went into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedIn {
    pub key_digest: String,
    pub window_ends_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// Counted under every counter, in the order of the attempt's counters.
    Admitted(Vec<CountedIn>),
    /// Not counted at all: `counter` (an index into the attempt's counters) has had its limit for
    /// `retry_after` more seconds (the longest wait when several have).
    Refused { counter: usize, retry_after: u64 },
}

/// What becomes of an admitted attempt's counts once its password was checked (or could not be).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptSettlement {
    /// Counts given back: the attempt was no failure. Each goes down by one if its counter is
    /// still in the window the attempt was counted in.
    pub give_back: Vec<CountedIn>,
    /// Counters forgotten whole.
    pub clear: Vec<String>,
}

impl AttemptSettlement {
    pub fn is_empty(&self) -> bool {
        self.give_back.is_empty() && self.clear.is_empty()
    }
}

/// Counts `attempt` inside the caller's transaction, in a savepoint of its own that is rolled
/// back when the attempt is refused or a statement fails.
pub(super) fn count_attempt(
    conn: &mut DbConnection,
    attempt: &SignInAttempt,
) -> Result<AttemptVerdict, StoreError> {
    conn.batch_execute("SAVEPOINT sign_in_attempt")?;
    let verdict = increment_counters(conn, attempt);
    if !matches!(verdict, Ok(AttemptVerdict::Admitted(_))) {
        conn.batch_execute("ROLLBACK TO SAVEPOINT sign_in_attempt")?;
    }
    conn.batch_execute("RELEASE SAVEPOINT sign_in_attempt")?;
    verdict
}

fn increment_counters(
    conn: &mut DbConnection,
    attempt: &SignInAttempt,
) -> Result<AttemptVerdict, StoreError> {
    let mut order: Vec<usize> = (0..attempt.counters.len()).collect();
    order.sort_by(|&a, &b| {
        attempt.counters[a]
            .key_digest
            .cmp(&attempt.counters[b].key_digest)
    });
    let mut counted: Vec<Option<CountedIn>> = vec![None; attempt.counters.len()];
    let mut refused: Option<(usize, u64)> = None;
    for index in order {
        let counter = &attempt.counters[index];
        let (attempts, window_ends_at) = increment(
            conn,
            &counter.key_digest,
            attempt.now,
            attempt.now.saturating_add(attempt.window_seconds),
        )?;
        if i64::from(attempts) > i64::from(counter.limit) {
            // An attempt that read the clock a second before the one that opened the window
            // would otherwise be told to wait a second longer than any window lasts.
            let wait = window_ends_at
                .saturating_sub(attempt.now)
                .min(attempt.window_seconds);
            let wait = u64::try_from(wait).unwrap_or(0).max(1);
            if refused.is_none_or(|(_, longest)| wait > longest) {
                refused = Some((index, wait));
            }
        }
        counted[index] = Some(CountedIn {
            key_digest: counter.key_digest.clone(),
            window_ends_at,
        });
    }
    Ok(match refused {
        Some((counter, retry_after)) => AttemptVerdict::Refused {
            counter,
            retry_after,
        },
        None => AttemptVerdict::Admitted(counted.into_iter().flatten().collect()),
    })
}

/// One statement: the counter's count after this attempt, and when its window ends. A counter
/// whose window has ended starts a new one with this attempt. Both SET expressions read the row
/// as it was (SQL evaluates them against the old row on both backends).
fn increment(
    conn: &mut DbConnection,
    key: &str,
    now: i64,
    new_window_ends_at: i64,
) -> Result<(i32, i64), StoreError> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    let ended = counters::window_ends_at.le(now);
    // Diesel's multi-connection has no upsert: each backend's own connection runs it.
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(counters::table)
                .values((
                    counters::key_digest.eq(key),
                    counters::window_ends_at.eq(new_window_ends_at),
                    counters::attempts.eq(1),
                ))
                .on_conflict(counters::key_digest)
                .do_update()
                .set((
                    counters::attempts.eq(case_when(ended, excluded(counters::attempts))
                        .otherwise(counters::attempts + 1)),
                    counters::window_ends_at.eq(case_when(
                        ended,
                        excluded(counters::window_ends_at),
                    )
                    .otherwise(counters::window_ends_at)),
                ))
                .returning((counters::attempts, counters::window_ends_at))
                .get_result::<(i32, i64)>($conn)
        };
    }
    Ok(match conn {
        DbConnection::Sqlite(c) => upsert!(c),
        DbConnection::Postgres(c) => upsert!(c),
    }?)
}

/// Applies a settlement, one statement per counter (each alone is atomic; together they need not
/// be, and taking no two row locks at once cannot deadlock).
pub(super) fn settle_attempt(
    conn: &mut DbConnection,
    settlement: &AttemptSettlement,
) -> Result<(), StoreError> {
    for counted in &settlement.give_back {
        diesel::update(
            counters::table
                .filter(counters::key_digest.eq(&counted.key_digest))
                .filter(counters::window_ends_at.eq(counted.window_ends_at))
                .filter(counters::attempts.gt(0)),
        )
        .set(counters::attempts.eq(counters::attempts - 1))
        .execute(conn)?;
    }
    for key in &settlement.clear {
        diesel::delete(counters::table.filter(counters::key_digest.eq(key))).execute(conn)?;
    }
    Ok(())
}

/// Deletes up to `limit` counters whose window ended at or before `now`. On PostgreSQL rows that
/// an attempt holds are skipped (`SKIP LOCKED`), so a purge never waits for an attempt, nor an
/// attempt in a cycle with a purge.
pub(super) fn purge_ended_windows(
    conn: &mut DbConnection,
    now: i64,
    limit: i64,
) -> Result<usize, StoreError> {
    let limit = limit.max(1);
    Ok(match conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "DELETE FROM sign_in_attempts WHERE key_digest IN (SELECT key_digest FROM \
             sign_in_attempts WHERE window_ends_at <= $1 ORDER BY window_ends_at LIMIT $2 \
             FOR UPDATE SKIP LOCKED)",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "DELETE FROM sign_in_attempts WHERE key_digest IN (SELECT key_digest FROM \
             sign_in_attempts WHERE window_ends_at <= ? ORDER BY window_ends_at LIMIT ?)",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c)?,
    })
}

impl Store {
    /// Counts an attempt in a short transaction of its own on a pooled connection.
    ///
    /// On PostgreSQL the commit does not wait for the WAL flush (`synchronous_commit = off` for
    /// this transaction only): these counts are a throttle, not a promise made to a client, and a
    /// database crash loses at most the last fraction of a second of them (a few more guesses, once
    /// per crash), while every attempt waiting for an fsync of its own would not be fast.
    pub(super) fn count_sign_in_attempt_alone(
        &self,
        attempt: &SignInAttempt,
    ) -> Result<AttemptVerdict, StoreError> {
        let postgres = self.backend() == super::Backend::Postgres;
        self.write_transaction(|conn| {
            if postgres {
                conn.batch_execute("SET LOCAL synchronous_commit = off")?;
            }
            count_attempt(conn, attempt)
        })
    }

    /// Settles an attempt on a pooled connection, each statement committing on its own.
    pub(super) fn settle_sign_in_attempt_alone(
        &self,
        settlement: &AttemptSettlement,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| settle_attempt(conn, settlement))
    }

    /// A counter's count in its current window (none once the window has ended), for tests and
    /// operators' checks.
    pub fn sign_in_attempts(&self, key_digest: &str, now: i64) -> Result<u32, StoreError> {
        self.with_conn(|conn| {
            let attempts: Option<i32> = counters::table
                .filter(counters::key_digest.eq(key_digest))
                .filter(counters::window_ends_at.gt(now))
                .select(counters::attempts)
                .first(conn)
                .optional()?;
            Ok(attempts.map_or(0, |n| u32::try_from(n).unwrap_or(0)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_thread as here;
    use crate::store::test_support::for_each_backend;
    use crate::store::GroupCommitter;

    #[test]
    fn no_wait_is_longer_than_the_window_for_an_attempt_that_read_the_clock_early() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            let one = [counter("early", 1)];
            // The window opens with an attempt at 101; one that read the clock at 100 commits
            // after it.
            assert!(matches!(
                writer.count_sign_in_attempt(here(), attempt(&one, 101)),
                Ok(AttemptVerdict::Admitted(_))
            ));
            assert_eq!(
                writer
                    .count_sign_in_attempt(here(), attempt(&one, 100))
                    .unwrap(),
                AttemptVerdict::Refused {
                    counter: 0,
                    retry_after: 300
                }
            );
        });
    }

    fn counter(name: &str, limit: u32) -> AttemptCounter {
        AttemptCounter {
            key_digest: format!("sha256:{name}"),
            limit,
        }
    }

    fn attempt(counters: &[AttemptCounter], now: i64) -> SignInAttempt {
        SignInAttempt {
            counters: counters.to_vec(),
            now,
            window_seconds: 300,
        }
    }

    fn count(store: &Store, name: &str, now: i64) -> u32 {
        store
            .sign_in_attempts(&format!("sha256:{name}"), now)
            .unwrap()
    }

    #[test]
    fn an_attempt_past_any_limit_is_refused_and_counted_nowhere() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            // "b" sorts after "a": the refusal of the second counter must undo the first.
            let (pair, user) = (counter("b-pair", 2), counter("a-user", 3));
            let both = [pair.clone(), user.clone()];
            for now in [100, 101] {
                let verdict = writer
                    .count_sign_in_attempt(here(), attempt(&both, now))
                    .unwrap();
                let AttemptVerdict::Admitted(counted) = verdict else {
                    panic!("{verdict:?}")
                };
                assert_eq!(counted[0].key_digest, pair.key_digest);
                assert_eq!(counted[0].window_ends_at, 400);
            }
            assert_eq!(
                writer
                    .count_sign_in_attempt(here(), attempt(&both, 150))
                    .unwrap(),
                AttemptVerdict::Refused {
                    counter: 0,
                    retry_after: 250
                }
            );
            assert_eq!(
                (count(store, "b-pair", 150), count(store, "a-user", 150)),
                (2, 2)
            );
            // The user's own counter still has room for one attempt (from elsewhere).
            assert!(matches!(
                writer.count_sign_in_attempt(here(), attempt(std::slice::from_ref(&user), 151)),
                Ok(AttemptVerdict::Admitted(_))
            ));
            assert!(matches!(
                writer.count_sign_in_attempt(here(), attempt(&[user], 152)),
                Ok(AttemptVerdict::Refused { counter: 0, .. })
            ));
        });
    }

    #[test]
    fn a_window_ends_its_first_attempt_plus_the_window_later() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            let one = [counter("x", 1)];
            assert!(matches!(
                writer.count_sign_in_attempt(here(), attempt(&one, 100)),
                Ok(AttemptVerdict::Admitted(_))
            ));
            assert_eq!(
                writer
                    .count_sign_in_attempt(here(), attempt(&one, 399))
                    .unwrap(),
                AttemptVerdict::Refused {
                    counter: 0,
                    retry_after: 1
                }
            );
            assert_eq!(count(store, "x", 399), 1);
            assert_eq!(count(store, "x", 400), 0);
            let verdict = writer
                .count_sign_in_attempt(here(), attempt(&one, 400))
                .unwrap();
            assert_eq!(
                verdict,
                AttemptVerdict::Admitted(vec![CountedIn {
                    key_digest: "sha256:x".into(),
                    window_ends_at: 700
                }])
            );
        });
    }

    #[test]
    fn settling_gives_back_within_the_window_and_clears() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            let both = [counter("pair", 5), counter("user", 5)];
            for now in [100, 101] {
                writer
                    .count_sign_in_attempt(here(), attempt(&both, now))
                    .unwrap();
            }
            let AttemptVerdict::Admitted(counted) = writer
                .count_sign_in_attempt(here(), attempt(&both, 102))
                .unwrap()
            else {
                panic!("refused")
            };
            writer
                .settle_sign_in_attempt(
                    here(),
                    AttemptSettlement {
                        give_back: vec![counted[1].clone()],
                        clear: vec![counted[0].key_digest.clone()],
                    },
                )
                .unwrap();
            assert_eq!(
                (count(store, "pair", 103), count(store, "user", 103)),
                (0, 2)
            );
            // A count from a window that has ended is not taken from the next one.
            writer
                .count_sign_in_attempt(here(), attempt(&both, 500))
                .unwrap();
            let stale = CountedIn {
                key_digest: "sha256:user".into(),
                window_ends_at: 400,
            };
            writer
                .settle_sign_in_attempt(
                    here(),
                    AttemptSettlement {
                        give_back: vec![stale],
                        clear: vec![],
                    },
                )
                .unwrap();
            assert_eq!(count(store, "user", 500), 1);
        });
    }

    #[test]
    fn parallel_attempts_never_pass_a_limit_together() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            let shared = [counter("user", 5), counter("address", 100)];
            let admitted = std::thread::scope(|s| {
                let handles: Vec<_> = (0..24)
                    .map(|_| {
                        s.spawn(|| writer.count_sign_in_attempt(here(), attempt(&shared, 100)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .filter(|verdict| matches!(verdict, Ok(AttemptVerdict::Admitted(_))))
                    .count()
            });
            assert_eq!(admitted, 5);
            assert_eq!(
                (count(store, "user", 100), count(store, "address", 100)),
                (5, 5)
            );
        });
    }

    #[test]
    fn counters_whose_window_ended_are_purged() {
        for_each_backend(|store| {
            let writer = GroupCommitter::start(store, 2).unwrap();
            for (name, now) in [("old1", 0), ("old2", 10), ("live", 900)] {
                writer
                    .count_sign_in_attempt(here(), attempt(&[counter(name, 5)], now))
                    .unwrap();
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            assert_eq!(runtime.block_on(writer.purge_expired(1000, 1)).unwrap(), 1);
            assert_eq!(runtime.block_on(writer.purge_expired(1000, 1)).unwrap(), 1);
            assert_eq!(runtime.block_on(writer.purge_expired(1000, 1)).unwrap(), 0);
            assert_eq!(count(store, "live", 1000), 1);
        });
    }
}
