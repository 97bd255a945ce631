//! Target checks, labels and tasks.

use microlearn_core::Task;

use super::csv;
use crate::{DataErrorKind, split_target};

#[test]
fn unknown_target_suggests_the_closest_name() {
    let ds = csv("age,Survived,sex\n1,yes,m\n2,no,f\n").expect("reads");
    let err = split_target(&ds, "survived", None).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.code(), "unknown-target");
    assert!(msg.contains("did you mean 'Survived'"), "{msg}");
    assert!(msg.contains("'age', 'Survived', 'sex'"), "{msg}");
}

#[test]
fn target_with_missing_values_reports_count_and_first_row() {
    let ds = csv("x,y\n1,a\n2,\n3,b\n4,NA\n").expect("reads");
    let err = split_target(&ds, "y", None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err.kind(),
            DataErrorKind::TargetHasMissing {
                count: 2,
                first_row: 2,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("2 missing") && msg.contains("data row 2"),
        "{msg}"
    );
}

#[test]
fn all_missing_single_class_and_too_many_classes_are_rejected() {
    let ds = csv("x,y\n1,\n2,\n").expect("reads");
    let err = split_target(&ds, "y", None).unwrap_err();
    assert_eq!(err.code(), "target-all-missing");
    assert!(err.to_string().contains("every row is missing"), "{err}");

    let ds = csv("x,y\n1,cat\n2,cat\n").expect("reads");
    let err = split_target(&ds, "y", None).unwrap_err();
    assert_eq!(err.code(), "single-class-target");
    assert!(err.to_string().contains("only one class ('cat')"), "{err}");

    let mut text = String::from("x,y\n");
    for i in 0..1500 {
        text.push_str(&format!("{i},c{}\n", i % 1200));
    }
    let ds = csv(&text).expect("reads");
    let err = split_target(&ds, "y", None).unwrap_err();
    assert_eq!(err.code(), "too-many-classes");
    assert!(err.to_string().contains("1200 distinct values"), "{err}");
}

#[test]
fn regression_needs_a_numeric_target() {
    let ds = csv("x,y\n1,a\n2,b\n3,a\n").expect("reads");
    let err = split_target(&ds, "y", Some(Task::Regression)).unwrap_err();
    assert_eq!(err.code(), "regression-target-not-numeric");
    assert!(err.to_string().contains("categorical"), "{err}");
}

#[test]
fn binary_task_on_three_classes_is_a_mismatch() {
    let ds = csv("x,y\n1,a\n2,b\n3,c\n").expect("reads");
    let err = split_target(&ds, "y", Some(Task::Binary)).unwrap_err();
    assert_eq!(err.code(), "task-mismatch");
    assert!(err.to_string().contains("3 classes"), "{err}");
}

#[test]
fn class_labels_are_sorted_and_y_indexes_them() {
    let ds = csv("x,y\n1,10\n2,9\n3,10\n4,2\n").expect("reads");
    let (features, target) = split_target(&ds, "y", Some(Task::Multiclass)).expect("splits");
    assert_eq!(target.labels, vec!["2", "9", "10"]);
    assert_eq!(target.y, vec![2.0, 1.0, 2.0, 0.0]);
    assert_eq!(features.names(), vec!["x"]);

    let ds = csv("x,churn\n1,No\n2,Yes\n3,No\n").expect("reads");
    let (_, target) = split_target(&ds, "churn", None).expect("splits");
    assert_eq!(target.task, Task::Binary);
    assert_eq!(target.labels, vec!["No", "Yes"]);
    assert_eq!(target.y, vec![0.0, 1.0, 0.0]);
}

#[test]
fn regression_target_keeps_values() {
    let mut text = String::from("x,price\n");
    for i in 0..50 {
        text.push_str(&format!("{i},{}.5\n", i * 3));
    }
    let ds = csv(&text).expect("reads");
    let (features, target) = split_target(&ds, "price", None).expect("splits");
    assert_eq!(target.task, Task::Regression);
    assert!(target.labels.is_empty());
    assert_eq!(target.y[2], 6.5);
    assert_eq!(features.num_columns(), 1);
}
