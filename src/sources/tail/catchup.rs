//! The start-up replay, on one blocking thread: the rotated files of the plan, then the live file, all read
//! through the descriptors opened while planning, streamed to the engine in bounded batches.
//!
//! The follower that runs afterwards exists from the start of the replay, so a rotation during the replay
//! is handled the way the live follow handles it: the renamed file is read to its end before the new one is
//! started, files rotated in and out between two looks are found, and every line is handed out once. When
//! the plan found no live file, the follower counts as missing since planning began: every file that was
//! the live one from then on is read from 0.

use super::batch::Batcher;
use super::follow::{self, FileId, Follower, RETIRED_GRACE};
use super::startup::{OpenPlan, OpenSegment};
use crate::config::QueueLogConfig;
use std::time::{Instant, SystemTime};

/// Replays the plan (made from `planned_at` on) and returns the live follower positioned after the last
/// line read, or None when the engine task went away (or the tail was cancelled) meanwhile.
pub fn replay(
    plan: OpenPlan,
    planned_at: SystemTime,
    settings: &QueueLogConfig,
    batcher: &mut Batcher,
) -> Option<Follower> {
    let mut plan = plan;
    let rotated = std::mem::take(&mut plan.rotated);
    let known: Vec<FileId> = rotated.iter().filter_map(|s| FileId::of_file(&s.file).ok()).collect();
    let mut follower = live_follower(plan.live, planned_at, settings).with_known(known);
    for segment in rotated {
        replay_rotated(segment, &mut follower, batcher);
        if batcher.closed() {
            return None;
        }
    }
    loop {
        match follower.poll(Instant::now(), &mut *batcher) {
            Ok(poll) => {
                poll.notes.iter().for_each(super::log_note);
                if batcher.closed() {
                    return None;
                }
                if !poll.more {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(path = %settings.path.display(), error = %e, "queue_log replay read failed");
                break;
            }
        }
    }
    batcher.flush();
    (!batcher.closed()).then_some(follower)
}

/// A rotated file written to within `RETIRED_GRACE` may still be appended to by a writer that has not
/// reopened the path: the follower keeps it readable. An older one is complete, its last line included
/// even without a final `\n`.
fn replay_rotated(segment: OpenSegment, follower: &mut Follower, batcher: &mut Batcher) {
    let OpenSegment { segment, file } = segment;
    let path = &segment.path;
    tracing::info!(path = %path.display(), offset = segment.start, "replaying rotated queue_log");
    let recent = file
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified + RETIRED_GRACE > SystemTime::now());
    let read = if recent {
        follower
            .adopt_rotated(file, segment.start, Instant::now(), &mut *batcher)
            .map(|notes| notes.iter().for_each(super::log_note))
    } else {
        follow::read_to_end(file, segment.start, &mut *batcher)
    };
    if let Err(e) = read {
        tracing::warn!(path = %path.display(), error = %e, "rotated queue_log read failed");
    }
}

/// The follower over the live file held since planning; a live file that did not exist then is followed
/// from 0 once it appears (it is new), and so is every file rotated in and out since `planned_at`.
fn live_follower(
    live: Option<(std::fs::File, u64)>,
    planned_at: SystemTime,
    settings: &QueueLogConfig,
) -> Follower {
    let follower = match live {
        Some((file, start)) => {
            tracing::info!(path = %settings.path.display(), offset = start, "replaying queue_log");
            Follower::from_open(&settings.path, file, start).unwrap_or_else(|e| {
                tracing::warn!(path = %settings.path.display(), error = %e, "queue_log descriptor unusable; reopening by name");
                Follower::new(&settings.path, start)
            })
        }
        None => Follower::missing_since(&settings.path, planned_at),
    };
    follower.with_rotated_glob(&settings.rotated_glob)
}

#[cfg(test)]
#[path = "catchup_tests.rs"]
mod tests;
