//! Progress on stderr: a bar on a terminal, one plain line per cell otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    Lines { started: Instant },
    Off,
}

impl Progress {
    pub fn new(enabled: bool, total_cells: usize) -> Self {
        if !enabled {
            return Self::Off;
        }
        if !std::io::stderr().is_terminal() {
            return Self::Lines { started: Instant::now() };
        }
        let bar = ProgressBar::with_draw_target(Some(total_cells as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} cell {pos}/{len}  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(250));
        Self::Bar(bar)
    }

    /// Cell `number` (1-based, among the cells to execute) has finished.
    pub fn cell_done(&self, number: usize, total: usize, took: Duration) {
        match self {
            Self::Bar(bar) => bar.set_position(number as u64),
            Self::Lines { started } => {
                eprintln!(
                    "runner: cell {number}/{total} done in {:.2}s (elapsed {:.1}s)",
                    took.as_secs_f64(),
                    started.elapsed().as_secs_f64()
                );
            }
            Self::Off => {}
        }
    }

    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish();
        }
    }
}
