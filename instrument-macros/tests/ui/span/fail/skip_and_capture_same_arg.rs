use instrument::span;

#[span(skip(api_key), capture(api_key))]
fn call(api_key: &str) -> usize {
    api_key.len()
}

fn main() {
    call("k");
}
