//! Translation of parsed feed items (`parsers::queue_log`, `parsers::ami`) into `engine::Event`s.
//! Pure functions; the sources call them, and so does `replay`.

pub mod ami;
mod dialplan;
pub mod queue_log;
pub mod static_members;
