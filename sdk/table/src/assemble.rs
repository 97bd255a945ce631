//! One table from batches that each hold some of its rows.
//!
//! The host calls a preparer on row batches so that no single call carries a whole table (its
//! memory and output caps stay per call). The batches come back in any order — they run in
//! parallel — and each knows which input rows it holds; [`TableAssembler`] writes every batch
//! into place, so the host holds the assembled output plus the batches in flight, never a
//! second full copy.

use crate::{Column, ColumnData, Dictionary, Table};
use std::collections::HashMap;

/// Builds a table of a fixed row count from batches. The first batch fixes the columns (names,
/// order, types); every later one must match them. String dictionaries are merged: a batch
/// whose dictionary differs has its codes remapped to the merged one.
#[derive(Debug)]
pub struct TableAssembler {
    num_rows: usize,
    filled: usize,
    columns: Option<Vec<Slot>>,
}

#[derive(Debug)]
struct Slot {
    name: String,
    data: SlotData,
    /// Created (all present) the first time a batch marks a value missing.
    validity: Option<Vec<bool>>,
}

#[derive(Debug)]
enum SlotData {
    Float64(Vec<f64>),
    Int64(Vec<i64>),
    Boolean(Vec<bool>),
    TimestampMs(Vec<i64>),
    Categorical {
        codes: Vec<u32>,
        dictionary: Vec<String>,
        lookup: HashMap<String, u32>,
    },
}

impl SlotData {
    fn empty_like(data: &ColumnData, rows: usize) -> SlotData {
        match data {
            ColumnData::Float64(_) => SlotData::Float64(vec![0.0; rows]),
            ColumnData::Int64(_) => SlotData::Int64(vec![0; rows]),
            ColumnData::Boolean(_) => SlotData::Boolean(vec![false; rows]),
            ColumnData::TimestampMs(_) => SlotData::TimestampMs(vec![0; rows]),
            ColumnData::Categorical(_) => SlotData::Categorical {
                codes: vec![0; rows],
                dictionary: Vec::new(),
                lookup: HashMap::new(),
            },
        }
    }
}

fn scatter<T: Copy>(dst: &mut [T], rows: &[usize], src: &[T]) {
    for (&r, &v) in rows.iter().zip(src) {
        dst[r] = v;
    }
}

impl TableAssembler {
    /// An assembler for a table of `num_rows` rows.
    pub fn new(num_rows: usize) -> TableAssembler {
        TableAssembler {
            num_rows,
            filled: 0,
            columns: None,
        }
    }

    /// Write `batch`, whose row `i` is row `rows[i]` of the table being assembled. Fails, saying
    /// which column, when the batch's columns differ from the first batch's, or when its row
    /// count differs from `rows`' or a row is out of range.
    pub fn put(&mut self, rows: &[usize], batch: Table) -> Result<(), String> {
        if batch.num_rows() != rows.len() {
            return Err(format!(
                "a batch of {} input rows came back with {} rows",
                rows.len(),
                batch.num_rows()
            ));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.num_rows) {
            return Err(format!(
                "row {bad} is outside a table of {} rows",
                self.num_rows
            ));
        }
        let num_rows = self.num_rows;
        let slots = self.columns.get_or_insert_with(|| {
            batch
                .columns()
                .iter()
                .map(|c| Slot {
                    name: c.name.clone(),
                    data: SlotData::empty_like(&c.data, num_rows),
                    validity: None,
                })
                .collect()
        });
        if slots.len() != batch.num_columns() {
            return Err(format!(
                "a batch has {} columns where the first had {}",
                batch.num_columns(),
                slots.len()
            ));
        }
        for (slot, column) in slots.iter_mut().zip(batch.into_columns()) {
            if slot.name != column.name {
                return Err(format!(
                    "a batch has column '{}' where the first had '{}'",
                    column.name, slot.name
                ));
            }
            let type_name = column.data.type_name();
            match (&mut slot.data, column.data) {
                (SlotData::Float64(dst), ColumnData::Float64(src)) => scatter(dst, rows, &src),
                (SlotData::Int64(dst), ColumnData::Int64(src)) => scatter(dst, rows, &src),
                (SlotData::Boolean(dst), ColumnData::Boolean(src)) => scatter(dst, rows, &src),
                (SlotData::TimestampMs(dst), ColumnData::TimestampMs(src)) => {
                    scatter(dst, rows, &src)
                }
                (
                    SlotData::Categorical {
                        codes,
                        dictionary,
                        lookup,
                    },
                    ColumnData::Categorical(src),
                ) => {
                    if *dictionary == src.dictionary {
                        // The usual case: a fitted preparer emits the same levels every time.
                        scatter(codes, rows, &src.codes);
                    } else {
                        let remap: Vec<u32> = src
                            .dictionary
                            .into_iter()
                            .map(|s| match lookup.get(&s) {
                                Some(&code) => code,
                                None => {
                                    let code = dictionary.len() as u32;
                                    dictionary.push(s.clone());
                                    lookup.insert(s, code);
                                    code
                                }
                            })
                            .collect();
                        for (&r, &c) in rows.iter().zip(&src.codes) {
                            // An out-of-range code is only legal on a missing row; 0 is as
                            // good as any there.
                            codes[r] = remap.get(c as usize).copied().unwrap_or(0);
                        }
                    }
                }
                (slot_data, _) => {
                    let expected = match slot_data {
                        SlotData::Float64(_) => "float64",
                        SlotData::Int64(_) => "int64",
                        SlotData::Boolean(_) => "boolean",
                        SlotData::TimestampMs(_) => "timestamp",
                        SlotData::Categorical { .. } => "categorical",
                    };
                    return Err(format!(
                        "a batch has column '{}' as {type_name} where the first had it as \
                         {expected}",
                        slot.name
                    ));
                }
            }
            match (&mut slot.validity, column.validity) {
                (Some(dst), Some(src)) => scatter(dst, rows, &src),
                (Some(dst), None) => rows.iter().for_each(|&r| dst[r] = true),
                (None, Some(src)) => {
                    let mut v = vec![true; num_rows];
                    scatter(&mut v, rows, &src);
                    slot.validity = Some(v);
                }
                (None, None) => {}
            }
        }
        self.filled += rows.len();
        Ok(())
    }

    /// The assembled table. Fails when the batches did not cover every row.
    pub fn finish(self) -> Result<Table, String> {
        if self.filled != self.num_rows {
            return Err(format!(
                "batches covered {} of {} rows",
                self.filled, self.num_rows
            ));
        }
        let columns = self
            .columns
            .unwrap_or_default()
            .into_iter()
            .map(|slot| {
                let data = match slot.data {
                    SlotData::Float64(v) => ColumnData::Float64(v),
                    SlotData::Int64(v) => ColumnData::Int64(v),
                    SlotData::Boolean(v) => ColumnData::Boolean(v),
                    SlotData::TimestampMs(v) => ColumnData::TimestampMs(v),
                    SlotData::Categorical {
                        codes, dictionary, ..
                    } => ColumnData::Categorical(Dictionary { codes, dictionary }),
                };
                let mut column = Column::new(slot.name, data);
                if let Some(v) = slot.validity {
                    column.set_validity(v);
                }
                column
            })
            .collect();
        Table::with_rows(self.num_rows, columns).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(xs: &[f64], cats: &[Option<&str>]) -> Table {
        Table::new(vec![
            Column::float64_nan_missing("x", xs.to_vec()),
            Column::categorical_from_strs("c", cats),
        ])
        .unwrap()
    }

    #[test]
    fn batches_in_any_order_land_in_place_with_dictionaries_merged() {
        let full = batch(
            &[1.0, f64::NAN, 3.0, 4.0, 5.0],
            &[Some("a"), Some("b"), None, Some("c"), Some("a")],
        );
        let mut asm = TableAssembler::new(5);
        // Rows 1, 3 first (dictionary [b, c]), then 0, 2, 4 (dictionary [a]).
        asm.put(&[1, 3], full.take(&[1, 3])).unwrap();
        asm.put(&[0, 2, 4], full.take(&[0, 2, 4])).unwrap();
        let got = asm.finish().unwrap();
        let x = got.column("x").unwrap();
        assert_eq!(x.validity, Some(vec![true, false, true, true, true]));
        let c = got.column("c").unwrap();
        let ColumnData::Categorical(d) = &c.data else {
            panic!("categorical expected")
        };
        let values: Vec<Option<&str>> = (0..5)
            .map(|r| c.is_valid(r).then(|| d.value(r).unwrap()))
            .collect();
        assert_eq!(values, [Some("a"), Some("b"), None, Some("c"), Some("a")]);
    }

    #[test]
    fn a_batch_with_other_columns_or_rows_is_refused() {
        let mut asm = TableAssembler::new(3);
        asm.put(&[0], batch(&[1.0], &[Some("a")])).unwrap();
        let renamed = Table::new(vec![
            Column::float64("y", vec![1.0]),
            Column::categorical_from_strs("c", &[Some("a")]),
        ])
        .unwrap();
        assert!(asm.put(&[1], renamed).unwrap_err().contains("'y'"));
        let retyped = Table::new(vec![
            Column::new("x", ColumnData::Int64(vec![1])),
            Column::categorical_from_strs("c", &[Some("a")]),
        ])
        .unwrap();
        assert!(asm.put(&[1], retyped).unwrap_err().contains("int64"));
        assert!(
            asm.put(&[1, 2], batch(&[1.0], &[None]))
                .unwrap_err()
                .contains("2 input rows")
        );
        assert!(asm.put(&[7], batch(&[1.0], &[None])).is_err());
        assert!(asm.finish().unwrap_err().contains("1 of 3"));
    }
}
