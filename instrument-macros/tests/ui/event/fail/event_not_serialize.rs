use instrument::{Event, get_dispatcher};

// An event must be `Serialize`: the error says so where it is emitted.
#[derive(Event)]
struct CacheHit {
    key: String,
}

fn main() {
    get_dispatcher("app").event(CacheHit { key: String::new() });
}
