//! The libtorch trainer (feature `torch`): it learns, and what it learns is served by the
//! pure-Rust forward pass. Runs on libtorch's CPU device so it needs no GPU.
#![cfg(feature = "torch")]

mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{Target, TrainedModel, fit, mlp_backend};

#[test]
fn libtorch_mlp_learns_xor_and_exports_to_the_native_model() {
    microlearn_train::set_torch_device("cpu");
    assert_eq!(mlp_backend(), "libtorch (cpu)");
    let mut r = rng(1);
    let a = uniform(&mut r, 2000, -1.0, 1.0);
    let b = uniform(&mut r, 2000, -1.0, 1.0);
    let y: Vec<u32> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| u32::from((*a > 0.0) != (*b > 0.0)))
        .collect();
    let x = matrix(vec![a, b]);
    let mut p = Params::new();
    p.set("epochs", ParamValue::Int(60));
    p.set("learning_rate", ParamValue::Float(0.01));
    let model = fit("mlp", &p, Task::Binary, &x, &classes(y.clone(), 2), &opts()).unwrap();
    let TrainedModel::Mlp(m) = &model else {
        panic!("an mlp model")
    };
    assert_eq!(m.layers.len(), 3);
    assert_eq!((m.layers[0].n_in, m.layers[0].n_out), (2, 64));
    let acc = accuracy(&model.predict(&x), &y);
    assert!(
        acc > 0.95,
        "xor accuracy through the exported weights {acc}"
    );
    // Regression through libtorch maps back to the target's scale.
    let t: Vec<f64> = (0..2000).map(|i| 100.0 + x.get(i, 0) * 10.0).collect();
    let reg = fit(
        "mlp",
        &p,
        Task::Regression,
        &x,
        &Target::Regression(t.clone()),
        &opts(),
    )
    .unwrap();
    assert!(r2(values(&reg.predict(&x)), &t) > 0.95);
}
