//! The start-up replay, on one blocking thread: the rotated files of the plan, then the live file, all read
//! through the descriptors opened while planning, streamed to the engine in bounded batches.
//!
//! The live file is followed from its descriptor by the same `Follower` that runs afterwards, so a rotation
//! during the replay is handled the way the live follow handles it: the renamed file is read to its end
//! before the new one is started, and every line is handed out once.

use super::TailSettings;
use super::batch::Batcher;
use super::follow::{self, FileId, Follower};
use super::startup::OpenPlan;
use std::time::Instant;

/// Replays the plan and returns the live follower positioned after the last line read, or None when the
/// engine task went away (or the tail was cancelled) meanwhile.
pub fn replay(plan: OpenPlan, settings: &TailSettings, batcher: &mut Batcher) -> Option<Follower> {
    let mut plan = plan;
    let rotated = std::mem::take(&mut plan.rotated);
    let known: Vec<FileId> = rotated.iter().filter_map(|s| FileId::of_file(&s.file).ok()).collect();
    for segment in rotated {
        let path = &segment.segment.path;
        tracing::info!(path = %path.display(), offset = segment.segment.start, "replaying rotated queue_log");
        match follow::read_to_end(segment.file, segment.segment.start, &mut |line| batcher.line(line)) {
            Ok(()) => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "rotated queue_log read failed"),
        }
        if batcher.closed() {
            return None;
        }
    }
    let mut follower = live_follower(plan.live, settings).with_known(known);
    loop {
        match follower.poll(Instant::now(), &mut |line| batcher.line(line)) {
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

/// The follower over the live file held since planning; a live file that did not exist then is followed
/// from 0 once it appears (it is new).
fn live_follower(live: Option<(std::fs::File, u64)>, settings: &TailSettings) -> Follower {
    let follower = match live {
        Some((file, start)) => {
            tracing::info!(path = %settings.path.display(), offset = start, "replaying queue_log");
            Follower::from_open(&settings.path, file, start).unwrap_or_else(|e| {
                tracing::warn!(path = %settings.path.display(), error = %e, "queue_log descriptor unusable; reopening by name");
                Follower::new(&settings.path, start)
            })
        }
        None => Follower::new(&settings.path, 0),
    };
    follower.with_rotated_glob(settings.rotated_glob.clone())
}
