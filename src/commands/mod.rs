//! Commands from panels (DESIGN.md "Commands from panels"): producers add entries to `…:commands`; the
//! daemon checks each against `[actions]`, executes it on the AMI at most once, and answers on `…:results`
//! and with a `command_result` message.
//!
//! [`wire`]: the entry and result formats. [`client`]: writing a command and waiting for its result (the
//! gateway and `queuecast action`).

pub mod client;
mod entries;
pub mod wire;

pub use client::{Client, SubmitError, submit};
pub use wire::{Action, Code, Command, CommandResult, Malformed};
