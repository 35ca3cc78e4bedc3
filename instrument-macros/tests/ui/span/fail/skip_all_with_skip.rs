use instrument::span;

#[span(skip_all, skip(document))]
fn index(document: &str, chunk_size: usize) -> usize {
    document.len() / chunk_size
}

fn main() {
    index("doc", 1);
}
