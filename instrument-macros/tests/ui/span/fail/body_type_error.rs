use instrument::span;

// A type error inside the body points at the body, as without the macro.
#[span]
fn retrieve(query: &str) -> usize {
    query
}

fn main() {
    retrieve("q");
}
