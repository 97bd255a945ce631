//! Driver for `bench/gbdt_vs_lightgbm.py`: fits one model kind on a dataset the script wrote and
//! scores its test rows, so that both libraries see byte-identical inputs and are scored by the
//! same Python metric code.
//!
//! `gbdt_bench DIR` reads `DIR/meta.json` (`task`, `n_classes`, `names`, `categorical` indices,
//! `train_rows`, `test_rows`, `kind`, `params`, `threads`, `seed`) and the little-endian f64
//! files `x_train.bin` (column-major), `y_train.bin`, `x_test.bin` (column-major); writes
//! `DIR/pred.bin` (row-major probabilities or values) and prints a JSON line of timings.

use microlearn_core::{Params, Task};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, fit};
use serde::Deserialize;
use std::path::Path;
use std::time::Instant;

#[derive(Deserialize)]
struct Meta {
    task: Task,
    n_classes: usize,
    names: Vec<String>,
    categorical: Vec<usize>,
    train_rows: usize,
    test_rows: usize,
    kind: String,
    params: Params,
    threads: usize,
    seed: u64,
    /// Times the test set is scored; the fastest run is reported.
    predict_repeats: usize,
}

fn read_f64(path: &Path) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file.metadata()?.len() as usize;
    if !len.is_multiple_of(8) {
        return Err(format!("{}: length {len} is not a multiple of 8", path.display()).into());
    }
    // Streamed through a small buffer so that peak memory measures the fit, not a second copy
    // of the file.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut out = Vec::with_capacity(len / 8);
    let mut word = [0u8; 8];
    for _ in 0..len / 8 {
        reader.read_exact(&mut word)?;
        out.push(f64::from_le_bytes(word));
    }
    Ok(out)
}

fn matrix(meta: &Meta, data: Vec<f64>, rows: usize) -> Result<Matrix, Box<dyn std::error::Error>> {
    let mut x = Matrix::from_column_major(meta.names.clone(), rows, data)?;
    for &j in &meta.categorical {
        x.set_categorical(j, true)?;
    }
    Ok(x)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: gbdt_bench DIR")?;
    let dir = Path::new(&dir);
    let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    let x = matrix(&meta, read_f64(&dir.join("x_train.bin"))?, meta.train_rows)?;
    let xt = matrix(&meta, read_f64(&dir.join("x_test.bin"))?, meta.test_rows)?;
    let y = read_f64(&dir.join("y_train.bin"))?;
    let y = if meta.task.is_classification() {
        Target::Classes {
            y: y.iter().map(|&v| v as u32).collect(),
            n_classes: meta.n_classes,
        }
    } else {
        Target::Regression(y)
    };
    let opts = FitOptions {
        threads: meta.threads,
        deadline: None,
        seed: meta.seed,
        valid: None,
        cancel: None,
    };
    let t = Instant::now();
    let model = fit(&meta.kind, &meta.params, meta.task, &x, &y, &opts)?;
    let fit_s = t.elapsed().as_secs_f64();

    // Predict on a pool of the same size as the fit, as LightGBM's `num_threads` does.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(meta.threads)
        .build()?;
    let mut best = f64::INFINITY;
    let mut pred = None;
    for _ in 0..meta.predict_repeats.max(1) {
        let t = Instant::now();
        let p = pool.install(|| model.predict(&xt));
        best = best.min(t.elapsed().as_secs_f64());
        pred = Some(p);
    }
    let data = match pred.ok_or("no prediction")? {
        Predictions::Values(v) => v,
        Predictions::Probabilities { data, .. } => data,
    };
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("pred.bin"), bytes)?;
    println!(
        "{}",
        serde_json::json!({
            "fit_s": fit_s,
            "predict_s": best,
            "params": model.fitted_params(),
        })
    );
    Ok(())
}
