//! Hostile bytes give errors, never panics.

use polars::prelude::NamedFrom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{FileFormat, read_dataset_bytes};

#[test]
fn random_bytes_never_panic_in_any_format() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let alphabet = b"ab1,.\"\n\r\t{}[]:-9 e";
    let formats = [
        FileFormat::Csv,
        FileFormat::Tsv,
        FileFormat::Json,
        FileFormat::Ndjson,
        FileFormat::Parquet,
    ];
    for round in 0..300 {
        let len = rng.random_range(0..200);
        let bytes: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| rng.random::<u8>()).collect()
        } else {
            // Mostly-plausible text reaches deeper into the parsers than noise does.
            (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect()
        };
        for format in formats {
            // Either outcome is fine; a panic fails the test.
            let _ = read_dataset_bytes(&bytes, format, "fuzz");
        }
    }
}

#[test]
fn truncated_parquet_is_an_error() {
    let mut df = polars::prelude::DataFrame::new_infer_height(vec![
        polars::prelude::Series::new("a".into(), &[1i64, 2, 3]).into(),
    ])
    .expect("frame");
    let mut bytes = Vec::new();
    polars::prelude::ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .expect("written");
    for cut in [4, bytes.len() / 2, bytes.len() - 1] {
        assert!(read_dataset_bytes(&bytes[..cut], FileFormat::Parquet, "cut").is_err());
    }
}
