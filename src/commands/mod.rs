//! Commands from panels (DESIGN.md "Commands from panels"): producers add entries to `…:commands`; the
//! daemon checks each against `[actions]`, executes it on the AMI at most once, and answers on `…:results`
//! and with a `command_result` message.
//!
//! [`wire`]: the entry and result formats. [`client`]: writing a command and waiting for its result (the
//! gateway and `queuecast action`). [`task`]: the daemon's consumer; [`policy`] the `[actions]` checks,
//! [`execute`] the AMI actions of a command.

pub mod client;
mod entries;
pub mod execute;
mod handler;
pub mod policy;
mod store;
pub mod task;
pub mod wire;

pub use client::{Client, SubmitError, submit};
pub use handler::EngineAsk;
pub use task::{TaskSettings, spawn};
pub use wire::{Action, Code, Command, CommandResult, Malformed};
