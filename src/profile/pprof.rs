//! [`Report::write_pprof`]: the caused delays as a gzip-compressed pprof protobuf with the
//! sample types of Go's mutex profile, so `go tool pprof`, pprof's web UI and Pyroscope read
//! it.
//!
//! The messages are those of pprof's `proto/profile.proto` (package `perftools.profiles`),
//! encoded by prost's derive: only the fields this writer fills are declared (a protobuf
//! reader skips nothing it needs, and absent fields read as their defaults).

use super::report::{ClassProfile, Report};
use std::collections::HashMap;
use std::io;

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub(super) sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub(super) sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub(super) location: Vec<PLocation>,
    #[prost(message, repeated, tag = "5")]
    pub(super) function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub(super) string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub(super) time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub(super) duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub(super) period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub(super) period: i64,
    #[prost(int64, repeated, tag = "13")]
    pub(super) comment: Vec<i64>,
}

/// `perftools.profiles.ValueType`: indices into the string table.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ValueType {
    #[prost(int64, tag = "1")]
    pub(super) r#type: i64,
    #[prost(int64, tag = "2")]
    pub(super) unit: i64,
}

/// `perftools.profiles.Sample`: the stack, leaf first, and one value per sample type.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub(super) location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub(super) value: Vec<i64>,
}

/// `perftools.profiles.Location`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct PLocation {
    #[prost(uint64, tag = "1")]
    pub(super) id: u64,
    #[prost(message, repeated, tag = "4")]
    pub(super) line: Vec<Line>,
}

/// `perftools.profiles.Line`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Line {
    #[prost(uint64, tag = "1")]
    pub(super) function_id: u64,
    #[prost(int64, tag = "2")]
    pub(super) line: i64,
}

/// `perftools.profiles.Function`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Function {
    #[prost(uint64, tag = "1")]
    pub(super) id: u64,
    #[prost(int64, tag = "2")]
    pub(super) name: i64,
    #[prost(int64, tag = "3")]
    pub(super) system_name: i64,
    #[prost(int64, tag = "4")]
    pub(super) filename: i64,
    #[prost(int64, tag = "5")]
    pub(super) start_line: i64,
}

/// A class's frame in pprof: `Shared[app::Jobs] src/main.rs:10:5`. Not the folded stacks'
/// `Shared<app::Jobs> (...)`: pprof shortens a name like a C++ one, dropping `<...>` and
/// `(...)`, which would leave `Shared` alone.
fn pprof_class_frame(class: &ClassProfile) -> String {
    let name = class.name().replacen('<', "[", 1);
    let name = match name.strip_suffix('>') {
        Some(inner) => format!("{inner}]"),
        None => name,
    };
    format!("{name} {}", class.created_at)
}

/// Builds the string table, the functions and the locations (one each per frame).
#[derive(Default)]
struct Builder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    frames: HashMap<String, u64>,
    functions: Vec<Function>,
    locations: Vec<PLocation>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if self.strings.is_empty() {
            // Index 0 is the empty string, by the format's rule.
            self.strings.push(String::new());
            self.string_ids.insert(String::new(), 0);
        }
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    /// The location of the frame `name` at `file:line` (one function per frame).
    fn frame(&mut self, name: &str, file: &str, line: u32) -> u64 {
        if let Some(&id) = self.frames.get(name) {
            return id;
        }
        let id = self.frames.len() as u64 + 1;
        let (name_id, file_id) = (self.string(name), self.string(file));
        self.functions.push(Function {
            id,
            name: name_id,
            system_name: name_id,
            filename: file_id,
            start_line: i64::from(line),
        });
        self.locations.push(PLocation {
            id,
            line: vec![Line {
                function_id: id,
                line: i64::from(line),
            }],
        });
        self.frames.insert(name.to_string(), id);
        id
    }
}

impl Report {
    /// Writes the caused delays as a gzip-compressed pprof profile with the sample types of
    /// Go's mutex profile, `contentions/count` and `delay/nanoseconds`: one sample per class
    /// and holder site, whose stack is the holder's site (leaf) under the class's creation
    /// site. `go tool pprof -http=:8080 contention.pb.gz` opens it (see the
    /// [module docs](super)). The values are the report's estimates (already scaled by
    /// `sample_every`; the period says what it was).
    ///
    /// # Errors
    ///
    /// What writing to `w` returns.
    pub fn write_pprof<W: io::Write>(&self, w: W) -> io::Result<()> {
        let bytes = prost::Message::encode_to_vec(&self.pprof());
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        gz.write_all(&bytes)?;
        gz.finish()?.flush()
    }

    /// The profile message, before encoding.
    pub(super) fn pprof(&self) -> Profile {
        let mut b = Builder::default();
        let contentions = ValueType {
            r#type: b.string("contentions"),
            unit: b.string("count"),
        };
        let delay = ValueType {
            r#type: b.string("delay"),
            unit: b.string("nanoseconds"),
        };
        let mut samples = Vec::new();
        for (class, row) in self.caused() {
            let class_loc = b.frame(
                &pprof_class_frame(class),
                class.created_at.file(),
                class.created_at.line(),
            );
            let (file, line) = row.site.map_or(("", 0), |l| (l.file(), l.line()));
            let site_loc = b.frame(&row.site_text(), file, line);
            let caused = &row.caused;
            samples.push(Sample {
                location_id: vec![site_loc, class_loc],
                value: vec![
                    i64::try_from(caused.contentions).unwrap_or(i64::MAX),
                    i64::try_from(caused.delay.as_nanos()).unwrap_or(i64::MAX),
                ],
            });
        }
        let comment = b.string(&format!(
            "pushpull contention profile: delay caused by each holder site, 1 event in {} sampled",
            self.sample_every
        ));
        let time_nanos = self
            .start
            .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let duration_nanos = self
            .duration
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Profile {
            sample_type: vec![contentions.clone(), delay],
            sample: samples,
            location: b.locations,
            function: b.functions,
            string_table: b.strings,
            time_nanos,
            duration_nanos,
            period_type: Some(contentions),
            period: i64::from(self.sample_every),
            comment: vec![comment],
        }
    }
}

use std::io::Write as _;
