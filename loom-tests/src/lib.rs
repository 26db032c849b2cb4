//! loom models of pushpull live in `tests/`; this library is empty.
