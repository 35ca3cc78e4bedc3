//! `crate = ...` reaches the facade through a re-export, as a string or a path; applying the
//! re-exported attribute twice still makes one span.

mod reexport {
    pub use instrument as inner;
}

#[reexport::inner::span(crate = "reexport::inner")]
fn as_string(value: u8) -> u8 {
    value
}

#[reexport::inner::span(crate = reexport::inner)]
fn as_path(value: u8) -> u8 {
    value
}

#[reexport::inner::span(crate = reexport::inner)]
#[reexport::inner::span(crate = reexport::inner)]
fn twice(value: u8) -> u8 {
    value
}

fn main() {
    assert_eq!(as_string(1) + as_path(1) + twice(1), 3);
}
