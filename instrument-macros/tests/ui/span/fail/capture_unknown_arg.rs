use instrument::span;

#[span(skip_all, capture(key))]
fn call(api_key: &str) -> usize {
    api_key.len()
}

fn main() {
    call("k");
}
