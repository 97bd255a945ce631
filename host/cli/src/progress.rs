//! Progress display: a spinner per stage and a time bar for the search on a terminal, plain
//! lines when stderr is not a terminal (CI logs, pipes).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use microlearn_core::Stage;
use microlearn_pipeline::Observer;
use microlearn_store::{TrialRecord, TrialStatus};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct CliProgress {
    multi: MultiProgress,
    interactive: bool,
    quiet: bool,
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
    pub fn new(quiet: bool) -> Self {
        let interactive = std::io::stderr().is_terminal() && !quiet;
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        CliProgress {
            multi,
            interactive,
            quiet,
            state: Mutex::new(State::default()),
        }
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
        self.line(&format!("✓ {:<11} {summary} ({secs:.1} s)", stage.as_str()));
    }

    fn search_started(&self, budget: Duration) {
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
        self.line(&format!("  note: {message}"));
    }
}
