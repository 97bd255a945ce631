//! Progress display: a spinner per stage and a time bar for the search on a terminal, plain
//! lines when stderr is not a terminal (CI logs, pipes), or one JSON object per line
//! (`--progress json`) for programs that draw their own progress, such as the Python package.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use microlearn_core::Stage;
use microlearn_pipeline::Observer;
use microlearn_store::{TrialRecord, TrialStatus};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::args::ProgressMode;

pub struct CliProgress {
    multi: MultiProgress,
    interactive: bool,
    quiet: bool,
    json: bool,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stage: Option<(Stage, ProgressBar, Instant)>,
    search: Option<(ProgressBar, Instant, Duration)>,
    trials: usize,
    failed: usize,
}

impl CliProgress {
    /// `json_outcome`: the outcome goes to stdout as JSON (`run --json`), which silences the
    /// `auto` mode's progress as it always has.
    pub fn new(mode: ProgressMode, json_outcome: bool) -> Self {
        let quiet = match mode {
            ProgressMode::Auto => json_outcome,
            ProgressMode::None => true,
            ProgressMode::Plain | ProgressMode::Json => false,
        };
        let json = mode == ProgressMode::Json;
        let interactive = mode == ProgressMode::Auto && std::io::stderr().is_terminal() && !quiet;
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        CliProgress {
            multi,
            interactive,
            quiet,
            json,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// One progress event as a JSON line on stderr. Every event carries `event` and
    /// `elapsed_secs` (since the run started); stderr's own lock keeps lines whole when
    /// trials finish on several threads.
    fn event(&self, event: &str, mut fields: serde_json::Value) {
        if let Some(o) = fields.as_object_mut() {
            o.insert("event".into(), event.into());
            o.insert(
                "elapsed_secs".into(),
                self.started.elapsed().as_secs_f64().into(),
            );
        }
        eprintln!("{fields}");
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.interactive {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    pub fn finish(&self) {
        if let Ok(mut s) = self.state.lock()
            && let Some((bar, _, _)) = s.search.take()
        {
            bar.finish_and_clear();
        }
    }

    pub fn abandon(&self) {
        if let Ok(mut s) = self.state.lock() {
            if let Some((_, bar, _)) = s.stage.take() {
                bar.abandon();
            }
            if let Some((bar, _, _)) = s.search.take() {
                bar.abandon();
            }
        }
    }
}

impl Observer for CliProgress {
    fn stage_started(&self, stage: Stage) {
        if self.json {
            self.event(
                "stage_started",
                serde_json::json!({ "stage": stage.as_str() }),
            );
            if let Ok(mut s) = self.state.lock() {
                s.stage = Some((stage, ProgressBar::hidden(), Instant::now()));
            }
            return;
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                .expect("static template is valid"),
        );
        bar.set_message(format!("{stage}…"));
        if self.interactive {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        if let Ok(mut s) = self.state.lock() {
            s.stage = Some((stage, bar, Instant::now()));
        }
    }

    fn stage_finished(&self, stage: Stage, summary: &str) {
        let mut secs = 0.0;
        if let Ok(mut s) = self.state.lock() {
            if let Some((_, bar, started)) = s.stage.take() {
                secs = started.elapsed().as_secs_f64();
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            if stage == Stage::Optimizing
                && let Some((bar, _, _)) = s.search.take()
            {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
        if self.json {
            self.event(
                "stage_finished",
                serde_json::json!({ "stage": stage.as_str(), "summary": summary, "secs": secs }),
            );
            return;
        }
        self.line(&format!("✓ {:<11} {summary} ({secs:.1} s)", stage.as_str()));
    }

    fn search_started(&self, budget: Duration) {
        if self.json {
            self.event(
                "search_started",
                serde_json::json!({ "budget_secs": budget.as_secs_f64() }),
            );
            if let Ok(mut s) = self.state.lock() {
                s.search = Some((ProgressBar::hidden(), Instant::now(), budget));
            }
            return;
        }
        let bar = self
            .multi
            .add(ProgressBar::new(budget.as_millis().max(1) as u64));
        bar.set_style(
            ProgressStyle::with_template("  search [{bar:30.green/dim}] {msg}")
                .expect("static template is valid")
                .progress_chars("=> "),
        );
        if self.interactive {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        if let Ok(mut s) = self.state.lock() {
            s.search = Some((bar, Instant::now(), budget));
        }
    }

    fn trial_finished(&self, trial: &TrialRecord, best: Option<f64>) {
        let Ok(mut s) = self.state.lock() else { return };
        s.trials += 1;
        if trial.status == TrialStatus::Failed {
            s.failed += 1;
        }
        let (trials, failed) = (s.trials, s.failed);
        if self.json {
            // `search_secs` and `budget_secs` let a reader draw the same time bar.
            let (search_secs, budget_secs) = s.search.as_ref().map_or((0.0, 0.0), |(_, t, b)| {
                (t.elapsed().as_secs_f64(), b.as_secs_f64())
            });
            drop(s);
            self.event(
                "trial",
                serde_json::json!({
                    "number": trial.number,
                    "kind": trial.kind,
                    "status": trial.status,
                    "metric": trial.metric,
                    "score": trial.score,
                    "fidelity": trial.fidelity,
                    "error": trial.error,
                    "best": best,
                    "trials": trials,
                    "failed": failed,
                    "search_secs": search_secs,
                    "budget_secs": budget_secs,
                }),
            );
            return;
        }
        if let Some((bar, started, _)) = &s.search {
            bar.set_position(started.elapsed().as_millis() as u64);
            bar.set_message(format!(
                "{trials} trials{} · best {} {}",
                if failed > 0 {
                    format!(" ({failed} failed)")
                } else {
                    String::new()
                },
                trial.metric,
                best.map_or("–".into(), |b| format!("{b:.4}"))
            ));
        }
        if !self.interactive && !self.quiet && (trials <= 3 || trials.is_power_of_two()) {
            eprintln!(
                "  trial {:>4} {:<8} {} = {}",
                trial.number,
                trial.kind,
                trial.metric,
                match (trial.status, trial.score) {
                    (microlearn_store::TrialStatus::Failed, _) | (_, None) =>
                        format!("failed: {}", trial.error.as_deref().unwrap_or("?")),
                    (microlearn_store::TrialStatus::Pruned, Some(v)) =>
                        format!("{v:.4} (pruned at {:.0}% fidelity)", 100.0 * trial.fidelity),
                    (_, Some(v)) => format!("{v:.4}"),
                }
            );
        }
    }

    fn note(&self, message: &str) {
        if self.json {
            self.event("note", serde_json::json!({ "message": message }));
            return;
        }
        self.line(&format!("  note: {message}"));
    }
}
