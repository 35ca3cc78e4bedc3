use instrument::span;

// Every mistake is reported, not just the first.
#[span(level = "info", name = 3, skip(querry), skip_ret, skip_ret)]
fn retrieve(query: &str) -> usize {
    query.len()
}

fn main() {
    retrieve("q");
}
