//! Empty: this package only holds the `fast_paths` benchmark (see `benches/`).
