use instrument::span;

#[span(target = "rag")]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
