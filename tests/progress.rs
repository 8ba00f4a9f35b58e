//! Long steps report progress through the dump layer's facade.

use std::sync::Mutex;

use pgsync_dump::dump::progress::{ProgressSink, set_sink};

struct Recorder(Mutex<Vec<String>>);

impl ProgressSink for Recorder {
    fn begin(&self, what: &str, total: u64) {
        self.0.lock().unwrap().push(format!("begin {what} {total}"));
    }
    fn set(&self, done: u64) {
        self.0.lock().unwrap().push(format!("set {done}"));
    }
    fn end(&self) {
        self.0.lock().unwrap().push("end".into());
    }
}

static REC: Recorder = Recorder(Mutex::new(Vec::new()));

#[test]
fn flattened_indexing_reports_progress_and_ends() {
    set_sink(&REC);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/formats/vmcore.lzo-d31.flat");
    let len = std::fs::metadata(&path).unwrap().len();
    let d = pgsync_dump::dump::open(&[path]).unwrap();
    assert_eq!(d.format().as_str(), "kdump-flattened");
    let ev = REC.0.lock().unwrap().clone();
    assert_eq!(
        ev.first().map(String::as_str),
        Some(format!("begin indexing the flattened dump {len}").as_str())
    );
    assert_eq!(ev.last().map(String::as_str), Some("end"));
    assert!(ev.iter().any(|e| e.starts_with("set ")), "{ev:?}");
    assert_eq!(ev.iter().filter(|e| *e == "end").count(), 1);
}
