//! Configuration (TOML), validation and secret handling.
