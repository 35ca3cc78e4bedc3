use instrument::span;

// A body that does not parse is reported by rustc, at the real mistake.
#[span]
fn retrieve(query: &str) -> usize {
    let length = query.len() +;
    length
}

fn main() {
    retrieve("q");
}
