//! A big factory's lines written on several threads.
//!
//! Each thread walks its own copy of the factory's rows and skeleton over chunks of item
//! indices (chunk `k` on thread `k % threads`), filling a buffer with lines and one id hash
//! per line. This thread takes the chunks back in index order, records the hashes and hands
//! the lines on, so the output is what the items give one by one. A chunk stops at the first
//! item its thread cannot write from the skeleton, and the first hash already seen stops the
//! merge: from there to the chunk's end, the items go the ordinary one-by-one way, which says
//! what is wrong and confirms a repeated hash against the ids themselves.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use batchyard_recipe::TaskTemplate;
use batchyard_recipe::model::Factory;

use super::{IdBook, Running};
use crate::factory;
use crate::ids::{Seen, hash_id};
use crate::skeleton::Skeleton;

/// Smaller factories are not worth starting threads for.
const MIN_ITEMS: u64 = 50_000;
/// Items per chunk: big enough that handing chunks over costs little, small enough that the
/// chunks in flight (two per thread: one being filled, one handed over) stay a few MiB.
const CHUNK: u64 = 16 * 1024;
const MAX_THREADS: usize = 4;

/// How the rest of a factory is written on threads.
pub(super) struct Plan {
    /// One past the last item's index.
    end: u64,
    threads: usize,
}

/// A plan for the rest of `run`, when it is big enough and can be reached by index, and each
/// id needs nothing but the duplicate check.
pub(super) fn plan(run: &Running<'_>, ids: &IdBook<'_>, threads: usize) -> Option<Plan> {
    if threads < 2
        || run.index < run.serial_until
        || run.skeleton.is_none()
        || !run.rows.is_indexable()
        || ids.replay.is_some()
        || ids.merge.is_some()
        || ids.seen.is_exact()
    {
        return None;
    }
    let end = run.count?;
    (end.saturating_sub(run.index) >= MIN_ITEMS).then_some(Plan {
        end,
        threads: threads.min(MAX_THREADS),
    })
}

/// Lines of consecutive items and their ids' hashes, one per line.
struct Chunk {
    lines: Vec<u8>,
    hashes: Vec<u64>,
}

/// What a thread needs to write chunks.
struct Work<'r> {
    template: &'r TaskTemplate,
    skeleton: &'r Skeleton,
    factory: &'r Factory,
    base_dir: &'r Path,
    start: u64,
    plan: &'r Plan,
    stop: &'r AtomicBool,
}

impl Work<'_> {
    /// The index range of chunk `k`.
    fn chunk(&self, k: u64) -> (u64, u64) {
        let first = self.start.saturating_add(k.saturating_mul(CHUNK));
        (first, first.saturating_add(CHUNK).min(self.plan.end))
    }

    fn chunks(&self) -> u64 {
        self.plan.end.saturating_sub(self.start).div_ceil(CHUNK)
    }

    /// Writes chunks `lane`, `lane + threads`, … until they are done or no longer wanted.
    fn run(&self, lane: usize, done: &mpsc::SyncSender<Chunk>, spare: &mpsc::Receiver<Chunk>) {
        let Ok(mut rows) = factory::rows(self.factory, self.base_dir) else {
            return;
        };
        let mut skeleton = self.skeleton.clone();
        for k in (lane as u64..self.chunks()).step_by(self.plan.threads) {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let (first, end) = self.chunk(k);
            let mut chunk = spare.try_recv().unwrap_or_else(|_| Chunk {
                lines: Vec::new(),
                hashes: Vec::new(),
            });
            chunk.lines.clear();
            chunk.hashes.clear();
            if rows.seek(first) {
                for i in first..end {
                    if !matches!(rows.advance(), Some(Ok(()))) {
                        break;
                    }
                    let Some(at) = skeleton.write(self.template, &rows, i, &mut chunk.lines) else {
                        break;
                    };
                    chunk.hashes.push(hash_id(skeleton.id(&at, &chunk.lines)));
                }
            }
            if done.send(chunk).is_err() {
                return;
            }
        }
    }
}

/// Writes the rest of `run` (see [`plan`]) as far as the threads get, then leaves `run` at
/// the first item they did not settle, to be written one by one up to `run.serial_until`.
pub(super) fn write(
    plan: &Plan,
    run: &mut Running<'_>,
    ids: &mut IdBook<'_>,
    base_dir: &Path,
    out: &mut Vec<u8>,
    block: usize,
    flush: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let Some(skeleton) = run.skeleton.as_ref() else {
        return Ok(());
    };
    let stop = AtomicBool::new(false);
    let work = Work {
        template: &run.template,
        skeleton,
        factory: run.factory,
        base_dir,
        start: run.index,
        plan,
        stop: &stop,
    };
    let mut reached = work.start;
    let mut serial_until = work.start;
    let result = std::thread::scope(|s| {
        let mut lanes = Vec::with_capacity(plan.threads);
        for lane in 0..plan.threads {
            // A chunk is handed over, not queued, so a thread is at most one chunk ahead.
            let (done_tx, done_rx) = mpsc::sync_channel(0);
            let (spare_tx, spare_rx) = mpsc::channel();
            let work = &work;
            s.spawn(move || work.run(lane, &done_tx, &spare_rx));
            lanes.push((done_rx, spare_tx));
        }
        let mut merge = || -> io::Result<()> {
            for k in 0..work.chunks() {
                let (first, end) = work.chunk(k);
                let lane = usize::try_from(k % plan.threads as u64).unwrap_or_default();
                let Some(chunk) = lanes.get(lane).and_then(|(done, _)| done.recv().ok()) else {
                    serial_until = end;
                    return Ok(());
                };
                let mut settled = chunk.hashes.len();
                for (j, &hash) in chunk.hashes.iter().enumerate() {
                    if ids.seen.insert_hash(hash) != Seen::New {
                        settled = j;
                        break;
                    }
                    ids.offered += 1;
                }
                let lines = if settled == chunk.hashes.len() {
                    &chunk.lines[..]
                } else {
                    chunk
                        .lines
                        .get(..after_lines(&chunk.lines, settled))
                        .unwrap_or_default()
                };
                if out.len() + lines.len() < block {
                    out.extend_from_slice(lines);
                } else {
                    if !out.is_empty() {
                        flush(out)?;
                        out.clear();
                    }
                    flush(lines)?;
                }
                reached = first + settled as u64;
                if let Some((_, spare)) = lanes.get(lane) {
                    // A thread that has finished no longer takes buffers back.
                    let _ = spare.send(chunk);
                }
                if reached < end {
                    serial_until = end;
                    return Ok(());
                }
            }
            Ok(())
        };
        let result = merge();
        // Threads still writing chunks nobody will take stop at the next chunk, or when
        // their channel closes.
        stop.store(true, Ordering::Relaxed);
        drop(lanes);
        result
    });
    run.index = reached;
    run.serial_until = serial_until;
    run.rows.seek(reached);
    result
}

/// Where the line after the first `n` lines of `bytes` starts.
fn after_lines(bytes: &[u8], n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(bytes.len(), |(at, _)| at + 1)
}
