//! Weighted ensembles of fitted models: the greedy (Caruana) ensemble the pipeline selects over
//! out-of-fold predictions, refit and served like any single model.

use crate::matrix::{Matrix, Predictions};
use crate::{TrainError, TrainedModel};
use microlearn_core::{ParamValue, Params};
use serde::{Deserialize, Serialize};

/// Catalogue-style name of the ensemble kind (not trainable through [`crate::fit`]: ensembles
/// are assembled from fitted members).
pub const ENSEMBLE: &str = "ensemble";

/// One member and its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMember {
    /// Share of the average (weights sum to 1).
    pub weight: f64,
    /// The fitted member.
    pub model: TrainedModel,
}

/// A weighted average of members' probabilities (classification) or values (regression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleModel {
    /// Members; every one was fitted on the same prepared features.
    pub members: Vec<EnsembleMember>,
    /// Feature names shared by the members.
    pub feature_names: Vec<String>,
}

impl EnsembleModel {
    /// An ensemble of `members` (weight, model). Weights are normalised to sum to 1; members
    /// must agree on their features and on the kind of prediction they make.
    pub fn new(members: Vec<(f64, TrainedModel)>) -> Result<EnsembleModel, TrainError> {
        let Some((_, first)) = members.first() else {
            return Err(TrainError::EmptyData {
                what: "ensemble members".into(),
            });
        };
        let feature_names = first.feature_names().to_vec();
        for (w, m) in &members {
            if !w.is_finite() || *w <= 0.0 {
                return Err(TrainError::BadParam {
                    name: format!("weight of ensemble member {}", m.kind()),
                    value: w.to_string(),
                    allowed: "a positive finite number".into(),
                });
            }
            if m.feature_names() != feature_names.as_slice() {
                return Err(TrainError::ShapeMismatch {
                    what: format!("features of ensemble member {}", m.kind()),
                    expected: feature_names.len(),
                    got: m.feature_names().len(),
                });
            }
        }
        let total: f64 = members.iter().map(|(w, _)| w).sum();
        Ok(EnsembleModel {
            members: members
                .into_iter()
                .map(|(w, model)| EnsembleMember {
                    weight: w / total,
                    model,
                })
                .collect(),
            feature_names,
        })
    }

    pub(crate) fn predict(&self, x: &Matrix) -> Predictions {
        let mut acc: Option<Predictions> = None;
        for member in &self.members {
            let p = member.model.predict(x);
            acc.get_or_insert_with(|| p.zeros_like())
                .add_weighted(&p, member.weight);
        }
        acc.unwrap_or(Predictions::Values(vec![0.0; x.n_rows()]))
    }

    /// Members and weights as parameters: `"<i>.<kind>" = weight`, so a leaderboard shows what
    /// the ensemble is made of.
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        for (i, m) in self.members.iter().enumerate() {
            p.set(
                format!("{i}.{}", m.model.kind()),
                ParamValue::Float((m.weight * 1e4).round() / 1e4),
            );
        }
        p
    }

    /// Members' importances, each normalised to sum to 1, averaged with the ensemble weights.
    pub(crate) fn feature_importance(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.feature_names.len()];
        for m in &self.members {
            let imp = m.model.feature_importance();
            let total: f64 = imp.iter().map(|v| v.abs()).sum();
            if total > 0.0 {
                for (o, v) in out.iter_mut().zip(imp) {
                    *o += m.weight * v.abs() / total;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FitOptions, Target, fit};
    use microlearn_core::Task;

    #[test]
    fn averages_members_with_normalised_weights_and_round_trips() {
        let x = Matrix::from_columns(vec!["a".into()], vec![vec![0.0, 1.0, 2.0, 3.0]]).unwrap();
        let y = Target::Regression(vec![1.0, 3.0, 5.0, 7.0]);
        let opts = FitOptions {
            threads: 1,
            deadline: None,
            seed: 1,
            valid: None,
            cancel: None,
        };
        let lin = fit("linear", &Params::new(), Task::Regression, &x, &y, &opts).unwrap();
        let knn = fit("knn", &Params::new(), Task::Regression, &x, &y, &opts).unwrap();
        let (Predictions::Values(a), Predictions::Values(b)) = (lin.predict(&x), knn.predict(&x))
        else {
            panic!("regression predicts values");
        };
        let e = TrainedModel::Ensemble(
            EnsembleModel::new(vec![(3.0, lin.clone()), (1.0, knn.clone())]).unwrap(),
        );
        let Predictions::Values(v) = e.predict(&x) else {
            panic!("values")
        };
        for i in 0..4 {
            assert!((v[i] - (0.75 * a[i] + 0.25 * b[i])).abs() < 1e-12);
        }
        assert_eq!(e.kind(), ENSEMBLE);
        let p = e.fitted_params();
        assert_eq!(p.get("0.linear"), Some(&ParamValue::Float(0.75)));
        let bytes = postcard_like_roundtrip(&e);
        assert_eq!(bytes, e);
        let bad = EnsembleModel::new(vec![(0.0, lin)]);
        assert!(bad.is_err());
    }

    fn postcard_like_roundtrip(m: &TrainedModel) -> TrainedModel {
        let json = serde_json::to_string(m).unwrap();
        serde_json::from_str(&json).unwrap()
    }
}
