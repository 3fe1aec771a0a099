//! Rendering apply and follow events: progress bars on a terminal, plain lines otherwise.
//! Everything goes to stderr, so stdout keeps only plans and summaries.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use batchyard_reconcile::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Turns events into output. Shared by reference with async code, hence the mutex.
pub struct Progress {
    bars: Option<MultiProgress>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bars: HashMap<String, ProgressBar>,
    /// Last plain line per key, so that unchanged polls print nothing.
    last: HashMap<String, String>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            bars,
            state: Mutex::new(State::default()),
        }
    }

    /// Handles one event.
    pub fn event(&self, event: Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            Event::ActionStarted { summary } => {
                self.line(&mut state, &summary, &format!("… {summary}"))
            }
            Event::ActionDone { summary } => {
                if let Some(bar) = state.bars.remove(&summary) {
                    bar.finish_and_clear();
                }
                self.println(&format!("✓ {summary}"));
            }
            Event::PoolProgress {
                pool,
                allocation_state,
                usable,
                target,
            } => {
                let text =
                    format!("pool {pool}: {allocation_state}, {usable}/{target} nodes ready");
                self.bar(
                    &mut state,
                    &format!("pool {pool}"),
                    u64::from(target),
                    u64::from(usable),
                    &text,
                );
            }
            Event::NodeFailed { pool, failure } => {
                let mut text = format!(
                    "! pool {pool}: node {} is {}: {}",
                    failure.node_id, failure.state, failure.detail
                );
                for line in failure.stderr_lines() {
                    text.push_str(&format!("\n    {line}"));
                }
                self.println(&text);
            }
            Event::TasksAdded { job, done, total } => {
                let text = format!("job {job}: {done}/{total} tasks added");
                self.bar(&mut state, &format!("add {job}"), total, done, &text);
            }
            Event::JobProgress {
                job,
                active,
                running,
                succeeded,
                failed,
                total,
            } => {
                let text = format!(
                    "job {job}: {succeeded} succeeded, {failed} failed, {running} running, {active} waiting (of {total})"
                );
                self.bar(
                    &mut state,
                    &format!("job {job}"),
                    total,
                    succeeded + failed,
                    &text,
                );
            }
            Event::JobFinished { job } => {
                if let Some(bar) = state.bars.remove(&format!("job {job}")) {
                    bar.finish_and_clear();
                }
                self.println(&format!("✓ job {job} finished"));
            }
            Event::Warning(text) => self.println(&format!("warning: {text}")),
        }
    }

    fn println(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// A spinner line on a terminal; a plain line otherwise.
    fn line(&self, state: &mut State, key: &str, text: &str) {
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(text.to_owned());
                state.bars.insert(key.to_owned(), bar);
            }
            None => eprintln!("{text}"),
        }
    }

    /// A bar on a terminal; a plain line (only when it changed) otherwise.
    fn bar(&self, state: &mut State, key: &str, total: u64, done: u64, text: &str) {
        match &self.bars {
            Some(bars) => {
                let bar = state.bars.entry(key.to_owned()).or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new(total));
                    if let Ok(style) = ProgressStyle::with_template("{bar:30} {msg}") {
                        bar.set_style(style);
                    }
                    bar
                });
                bar.set_length(total.max(1));
                bar.set_position(done);
                bar.set_message(text.to_owned());
            }
            None => {
                if state.last.get(key).map(String::as_str) != Some(text) {
                    eprintln!("{text}");
                    state.last.insert(key.to_owned(), text.to_owned());
                }
            }
        }
    }

    /// A transfer's progress (uploads, downloads): a bar on a terminal, plain lines
    /// otherwise.
    pub fn transfer(&self, key: &str, total: u64, done: u64, text: &str) {
        if let Ok(mut state) = self.state.lock() {
            self.bar(&mut state, key, total, done, text);
        }
    }

    /// Removes every bar (before printing a summary).
    pub fn finish(&self) {
        if let Ok(mut state) = self.state.lock() {
            for (_, bar) in state.bars.drain() {
                bar.finish_and_clear();
            }
        }
    }
}
