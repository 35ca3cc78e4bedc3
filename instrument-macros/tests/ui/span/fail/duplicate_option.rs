use instrument::span;

#[span(name = "first", name = "second")]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
