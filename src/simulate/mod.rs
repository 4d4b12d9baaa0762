//! A simulated call center for the demo: writes a queue_log and serves AMI.
