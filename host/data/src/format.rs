//! File formats, chosen by extension.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, DataErrorKind};

/// A tabular file format we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// A JSON array of objects, one per row. A file that starts with `{` is read as NDJSON,
    /// since `.json` is often used for one object per line.
    Json,
    /// Newline-delimited JSON: one object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The format for an extension (without the dot), case-insensitive.
    pub fn from_extension(ext: &str) -> Option<FileFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(FileFormat::Csv),
            "tsv" | "tab" => Some(FileFormat::Tsv),
            "json" => Some(FileFormat::Json),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            _ => None,
        }
    }

    /// The format for a path, from its extension.
    pub fn from_path(path: &Path) -> Result<FileFormat, DataError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        FileFormat::from_extension(&ext).ok_or_else(|| {
            DataErrorKind::UnsupportedFormat {
                file: path.display().to_string(),
                extension: if ext.is_empty() {
                    "(none)".to_string()
                } else {
                    format!(".{ext}")
                },
            }
            .into()
        })
    }

    /// The usual extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Tsv => "tsv",
            FileFormat::Json => "json",
            FileFormat::Ndjson => "ndjson",
            FileFormat::Parquet => "parquet",
        }
    }

    /// Whether the format is text (and so must be UTF-8).
    pub fn is_text(self) -> bool {
        !matches!(self, FileFormat::Parquet)
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl std::str::FromStr for FileFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FileFormat::from_extension(s.trim_start_matches('.')).ok_or_else(|| {
            format!(
                "unknown format '{s}': expected one of {}",
                crate::error::SUPPORTED_EXTENSIONS
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_format_from_extension_case_insensitively() {
        let cases = [
            ("a.csv", FileFormat::Csv),
            ("a.CSV", FileFormat::Csv),
            ("a.tsv", FileFormat::Tsv),
            ("a.tab", FileFormat::Tsv),
            ("a.Json", FileFormat::Json),
            ("a.ndjson", FileFormat::Ndjson),
            ("a.jsonl", FileFormat::Ndjson),
            ("a.parquet", FileFormat::Parquet),
            ("dir.v2/a.PQ", FileFormat::Parquet),
        ];
        for (p, f) in cases {
            assert_eq!(FileFormat::from_path(Path::new(p)).expect(p), f);
        }
    }

    #[test]
    fn unsupported_extension_lists_the_supported_ones() {
        let err = FileFormat::from_path(Path::new("data.xlsx")).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.code(), "unsupported-format");
        assert!(msg.contains(".xlsx"), "{msg}");
        assert!(msg.contains(".csv") && msg.contains(".parquet"), "{msg}");
        let err = FileFormat::from_path(Path::new("README")).unwrap_err();
        assert!(err.to_string().contains("(none)"));
    }
}
