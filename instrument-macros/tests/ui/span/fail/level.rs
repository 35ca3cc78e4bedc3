use instrument::span;

#[span(level = "info")]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
