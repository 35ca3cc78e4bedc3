use instrument::Event;

#[derive(Event, serde::Serialize)]
#[event(rename = "Hit")]
struct CacheHit {
    key: String,
}

fn main() {
    let _ = CacheHit { key: String::new() };
}
