//! The Redis sink: hashes, pub/sub, stream.
