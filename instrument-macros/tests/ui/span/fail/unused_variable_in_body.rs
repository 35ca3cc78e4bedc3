#![deny(unused)]

use instrument::span;

// The user's own lints still fire inside an instrumented body, on the user's token.
#[span]
fn retrieve(query: &str) -> usize {
    let unused = 3;
    query.len()
}

fn main() {
    retrieve("q");
}
