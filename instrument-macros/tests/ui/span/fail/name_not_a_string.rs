use instrument::span;

#[span(name = retrieve_docs)]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
