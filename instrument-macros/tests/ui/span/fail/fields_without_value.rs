use instrument::span;

// `tracing` declares empty fields to record later; here a field is given with its value.
#[span(fields(user, user = 3, user = 4))]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
