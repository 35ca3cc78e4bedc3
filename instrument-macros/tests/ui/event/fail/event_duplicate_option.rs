use instrument::Event;

#[derive(Event, serde::Serialize)]
#[event(name = "Hit")]
#[event(name = "CacheHit")]
struct CacheHit {
    key: String,
}

fn main() {
    let _ = CacheHit { key: String::new() };
}
