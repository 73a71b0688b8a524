//! Any text must parse as a `line_format`/`label_format` template or fail
//! cleanly, and a parsed template must render (or fail) without panicking
//! and within the engine's output bound.
#![no_main]

use balsa_template::{Context, Template};
use libfuzzer_sys::fuzz_target;

struct Fixed;

impl Context for Fixed {
    fn label(&self, name: &str) -> Option<&str> {
        match name {
            "app" => Some("web"),
            "status" => Some("500"),
            "latency" => Some("12.5ms"),
            "json" => Some(r#"{"a":{"b":[1,2,"x"]}}"#),
            _ => None,
        }
    }

    fn line(&self) -> &str {
        "level=error msg=\"boom\" status=500"
    }

    fn timestamp_ns(&self) -> i64 {
        1_704_067_200_123_456_789
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(t) = Template::parse(src) else { return };
    let mut out = String::new();
    if t.render(&Fixed, &mut out).is_ok() {
        assert!(out.len() <= 8 << 20, "render produced {} bytes", out.len());
    }
});
